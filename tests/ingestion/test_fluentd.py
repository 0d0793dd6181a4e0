"""fluentd's msgpack stream, parsed incrementally from arbitrary chunk boundaries; the
strict check of raw bodies (the default policy stores them byte for byte)."""

from __future__ import annotations

import msgpack
import pytest
from Products.Wendelin.ingestion.fluentd import (
    EntryTooLargeError,
    IngestionFormatError,
    iter_entries,
    iter_whole_objects,
)


def packed(*entries) -> bytes:
    return b"".join(msgpack.packb(entry, use_bin_type=True) for entry in entries)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_entries_in_order_whatever_the_chunking(size):
    body = packed([1, b"abc"], [2.5, "texte accentu\u00e9"], [3, {"k": 1}])
    assert list(iter_entries(chunked(body, size))) == [
        b"abc",
        "texte accentu\u00e9".encode(),
        msgpack.packb({"k": 1}, use_bin_type=True),
    ]


def test_event_time_extension_is_a_timestamp():
    body = packed([msgpack.ExtType(0, b"\x00" * 8), b"x"])
    assert list(iter_entries([body])) == [b"x"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (packed([1, b"ok"])[:-1], "truncated"),
        (packed({"not": "a pair"}), "entry 0 is not a"),
        (packed([1, b"ok"], [1, 2, 3]), "entry 1 is not a"),
        (packed(["yesterday", b"x"]), "bad timestamp"),
        (b"\xc1", "malformed"),
    ],
)
def test_malformed_bodies_are_named(body, message):
    with pytest.raises(IngestionFormatError, match=message):
        list(iter_entries(chunked(body, 2)))


THREE = ([1, b"abc"], [2.5, "texte accentu\u00e9"], [3, {"k": [1, 2]}])


def boundaries(*entries) -> set[int]:
    """The offsets where an entry of ``packed(*entries)`` ends."""
    ends, offset = set(), 0
    for entry in entries:
        offset += len(packed(entry))
        ends.add(offset)
    return ends


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_a_body_cut_inside_any_entry_is_refused_whole(size):
    body = packed(*THREE)
    ends = boundaries(*THREE)
    for cut in range(1, len(body)):
        if cut in ends:  # a whole number of entries is a valid, shorter body
            assert len(list(iter_entries(chunked(body[:cut], size)))) == sorted(ends).index(cut) + 1
            continue
        with pytest.raises(IngestionFormatError, match="truncated"):
            list(iter_entries(chunked(body[:cut], size)))


@pytest.mark.parametrize(
    ("tail", "message"),
    [(b"\xc1", "malformed"), (b"\x05", "entry 3 is not a"), (b"\x92\x01", "truncated")],
)
def test_trailing_garbage_is_refused(tail, message):
    with pytest.raises(IngestionFormatError, match=message):
        list(iter_entries(chunked(packed(*THREE) + tail, 3)))


def test_a_map_keyed_by_a_list_is_a_format_error():
    body = b"\x92\x01\x81\x91\x01\x02"  # [1, {[1]: 2}]: the key cannot be hashed
    with pytest.raises(IngestionFormatError, match="malformed"):
        list(iter_entries([body]))


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_a_strict_raw_body_passes_unchanged_or_is_refused_whole(size):
    """Whole msgpack objects (entries, or one list of them as testWendelin test_09 posts)
    pass byte for byte whatever the chunking; a cut inside one is refused."""
    body = packed(*THREE) + packed([list(e) for e in THREE])
    ends = boundaries(*THREE, [list(e) for e in THREE])
    assert b"".join(iter_whole_objects(chunked(body, size))) == body
    for cut in range(1, len(body)):
        if cut in ends:
            assert b"".join(iter_whole_objects(chunked(body[:cut], size))) == body[:cut]
            continue
        with pytest.raises(IngestionFormatError, match="truncated"):
            list(iter_whole_objects(chunked(body[:cut], size)))


@pytest.mark.parametrize(
    "tail",
    [b"\xc1", b"\x92\x01\x81\x91\x01\x02", b"\xa2\xff\xfe"],
    ids=["never-used byte", "map keyed by a list", "text not utf-8"],
)
def test_a_strict_raw_body_that_could_not_be_read_back_is_malformed(tail):
    with pytest.raises(IngestionFormatError, match="malformed"):
        list(iter_whole_objects(chunked(packed(*THREE) + tail, 3)))


@pytest.mark.parametrize("parse", [iter_entries, iter_whole_objects])
@pytest.mark.parametrize("size", [64 << 10, 4 << 20])
def test_an_object_beyond_the_bound_is_refused_as_too_large_not_malformed(parse, size):
    """One entry of 2 MiB against a 1 MiB bound: a 413 that names the bound and what to
    do, whatever the chunking; below the bound the same entry parses."""
    body = packed([1, b"small"], [2, b"x" * (2 << 20)])
    with pytest.raises(EntryTooLargeError) as refused:
        list(parse(chunked(body, size), max_object=1 << 20))
    assert refused.value.http_status == 413
    assert "larger than 1 MiB" in str(refused.value) and "several" in str(refused.value)
    assert len(b"".join(parse(chunked(body, size), max_object=4 << 20))) > 2 << 20

"""fluentd's msgpack stream, parsed incrementally from arbitrary chunk boundaries."""

from __future__ import annotations

import msgpack
import pytest
from Products.Wendelin.ingestion.fluentd import IngestionFormatError, iter_entries


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

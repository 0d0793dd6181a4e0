"""fluentd's wire format: a msgpack stream of ``[timestamp, data]`` entries (and a check
that a raw body is whole msgpack objects).

Parsed incrementally from chunks, so a body of any size is never held whole. Each
entry's ``data`` becomes bytes to append: bytes as they are, text as UTF-8, anything
else (a fluentd record such as a map) re-encoded as msgpack so it stays parseable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgpack

from ..errors import QuotaExceededError, WendelinError

#: The largest single msgpack object (an entry) a body may hold: the parser buffers one
#: object whole (msgpack's own default bound, named here).
MAX_OBJECT = 100 << 20


class IngestionFormatError(WendelinError, ValueError):
    """A body that is not a msgpack stream of ``[timestamp, data]`` entries."""


class EntryTooLargeError(QuotaExceededError):
    """One msgpack object of a body is larger than :data:`MAX_OBJECT` (413)."""


def _too_large(what: str, index: int, limit: int) -> EntryTooLargeError:
    return EntryTooLargeError(
        f"{what} {index} of the body is larger than {limit / (1 << 20):g} MiB, the most one "
        f"msgpack object may hold here: send its data in several {what} parts")



def _ext(code: int, data: bytes) -> msgpack.ExtType:
    return msgpack.ExtType(code, data)  # fluentd's EventTime (code 0) and others, kept opaque


def entry_bytes(entry: Any, index: int) -> bytes:
    """The bytes one ``[timestamp, data]`` entry appends; raises for anything else."""
    # an ExtType is a 2-field namedtuple: a tuple, but never an entry
    if type(entry) not in (list, tuple) or len(entry) != 2:
        shown = repr(entry)[:80]
        raise IngestionFormatError(f"entry {index} is not a [timestamp, data] pair: {shown}")
    timestamp, data = entry
    if not isinstance(timestamp, int | float | msgpack.ExtType):
        raise IngestionFormatError(f"entry {index} has a bad timestamp: {timestamp!r}")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    return msgpack.packb(data, use_bin_type=True)


def iter_entries(chunks: Iterable[bytes], max_object: int = MAX_OBJECT) -> Iterator[bytes]:
    """The data of each entry of a msgpack stream given in chunks, in order.

    Strict: a body that ends inside an entry (or holds anything but entries) raises
    IngestionFormatError once read to the end, so the caller's transaction appends nothing.
    """
    unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext, strict_map_key=False,
                                max_buffer_size=max_object)
    fed = 0
    complete = 0  # offset just after the last complete entry
    index = 0
    try:
        for chunk in chunks:
            unpacker.feed(chunk)
            fed += len(chunk)
            for entry in unpacker:
                # tell() is exact only right after a whole object: the unpacker also counts
                # the bytes of an object it has started and not finished.
                complete = unpacker.tell()
                yield entry_bytes(entry, index)
                index += 1
    except msgpack.BufferFull:
        raise _too_large("entry", index, max_object) from None
    except (msgpack.UnpackException, ValueError, TypeError) as error:
        # TypeError: a map whose key is a list or a map (unhashable), for instance
        if isinstance(error, IngestionFormatError):
            raise
        raise IngestionFormatError(f"malformed msgpack after entry {index}: {error}") from None
    if complete != fed:
        raise IngestionFormatError(
            f"truncated msgpack: {fed - complete} bytes after entry {index} "
            "do not make a whole entry"
        )


def iter_whole_objects(chunks: Iterable[bytes], max_object: int = MAX_OBJECT) -> Iterator[bytes]:
    """The chunks unchanged, checked to be whole msgpack objects (a raw, strict policy).

    Read as ``DataStream.readMsgpackChunkList`` reads them, so whatever is stored can be
    read back. A body cut inside an object, or holding bytes that are not msgpack, raises
    IngestionFormatError (at the latest once read to the end: the append is aborted).
    """
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max_object)
    fed = complete = count = 0
    try:
        for chunk in chunks:
            unpacker.feed(chunk)
            fed += len(chunk)
            for _item in unpacker:
                complete = unpacker.tell()
                count += 1
            yield chunk
    except msgpack.BufferFull:
        raise _too_large("object", count, max_object) from None
    except (msgpack.UnpackException, ValueError, TypeError) as error:
        raise IngestionFormatError(f"malformed msgpack after object {count}: {error}") from None
    if complete != fed:
        raise IngestionFormatError(
            f"truncated msgpack: {fed - complete} bytes after object {count} "
            "do not make a whole object"
        )

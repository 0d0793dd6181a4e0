"""Audio headers read without reading the samples: WAV parsed here, FLAC/OGG via soundfile.

WAV: PCM 8/16/24/32-bit, IEEE float 32/64, and WAVE_FORMAT_EXTENSIBLE with a PCM or
float sub-format. The samples of a WAV are a plain interleaved array at ``data_offset``,
which is what lets channels be extracted from a mapped view of the stream.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from ..errors import WendelinError

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
#: Chunks scanned before giving up on finding ``data`` (a WAV has a handful).
MAX_CHUNKS = 64


class AudioFormatError(WendelinError, ValueError):
    """The stream is not audio Wendelin can read, or its header is damaged."""


#: What decoders raise on damaged bytes: libsndfile's errors are RuntimeErrors, numpy's
#: reshapes of short reads ValueErrors, unpacking short headers struct.error.
DECODING_ERRORS = (RuntimeError, ValueError, TypeError, EOFError, IndexError, OverflowError,
                   struct.error)


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn a decoder's failure on damaged or non-audio bytes into AudioFormatError."""
    try:
        yield
    except AudioFormatError:
        raise
    except DECODING_ERRORS as error:
        detail = re.sub(r"^Error opening .*?: ", "", str(error)).strip().rstrip(".")
        raise AudioFormatError(f"{what} ({detail or type(error).__name__})") from None


@dataclass(frozen=True)
class AudioInfo:
    """What an audio header says; ``dtype``/``data_offset`` only for uncompressed WAV."""

    format: str
    subtype: str
    channels: int
    sample_rate: int
    frames: int
    sample_width: int = 0
    data_offset: int | None = None
    dtype: str | None = None
    truncated: bool = False

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def block_align(self) -> int:
        """Bytes per frame (all channels) of an uncompressed WAV."""
        return self.sample_width * self.channels

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON, views and scripts."""
        return {**asdict(self), "duration": self.duration}


def _wav_dtype(code: int, bits: int) -> tuple[str, str | None]:
    """``(subtype, numpy dtype)``; 24-bit PCM has no numpy dtype (decoded by hand)."""
    if code == WAVE_FORMAT_PCM:
        dtypes = {8: "u1", 16: "<i2", 24: None, 32: "<i4"}
        if bits not in dtypes:
            raise AudioFormatError(f"unsupported PCM sample size: {bits} bits")
        return ("PCM_U8" if bits == 8 else f"PCM_{bits}"), dtypes[bits]  # libsndfile's names
    if code == WAVE_FORMAT_IEEE_FLOAT:
        dtypes = {32: "<f4", 64: "<f8"}
        if bits not in dtypes:
            raise AudioFormatError(f"unsupported float sample size: {bits} bits")
        return ("FLOAT" if bits == 32 else "DOUBLE"), dtypes[bits]
    raise AudioFormatError(f"unsupported WAV format code {code:#06x} (PCM and float only)")


def read_wav_info(file: BinaryIO, size: int) -> AudioInfo:
    """Parse a RIFF/WAVE header from a seekable binary file of ``size`` bytes."""
    file.seek(0)
    head = file.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioFormatError(f"not a WAV file: it starts with {head[:12]!r}")
    fmt: tuple[int, int, int, int, int] | None = None
    position = 12
    for _ in range(MAX_CHUNKS):
        file.seek(position)
        header = file.read(8)
        if len(header) < 8:
            break
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        body = position + 8
        if chunk_id == b"fmt ":
            raw = file.read(min(chunk_size, 40))
            if len(raw) < 16:
                raise AudioFormatError(f"WAV 'fmt ' chunk too short: {len(raw)} bytes")
            code, channels, rate, _byte_rate, align, bits = struct.unpack("<HHIIHH", raw[:16])
            if code == WAVE_FORMAT_EXTENSIBLE:
                if len(raw) < 40:
                    raise AudioFormatError("WAVE_FORMAT_EXTENSIBLE header without sub-format")
                code = struct.unpack("<H", raw[24:26])[0]
            fmt = (code, channels, rate, align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError("WAV 'data' chunk before its 'fmt ' chunk")
            code, channels, rate, align, bits = fmt
            if channels < 1 or rate < 1 or align < 1:
                raise AudioFormatError(
                    f"WAV header is damaged: {channels} channels, {rate} Hz, block {align}"
                )
            subtype, dtype = _wav_dtype(code, bits)
            width = bits // 8
            if align != width * channels:
                raise AudioFormatError(
                    f"WAV block size {align} does not match {channels} x {bits}-bit samples"
                )
            available = max(size - body, 0)
            truncated = chunk_size > available
            data_size = min(chunk_size, available)
            return AudioInfo(
                format="WAV",
                subtype=subtype,
                channels=channels,
                sample_rate=rate,
                frames=data_size // align,
                sample_width=width,
                data_offset=body,
                dtype=dtype,
                truncated=truncated,
            )
        position = body + chunk_size + (chunk_size & 1)
    raise AudioFormatError("WAV file has no 'data' chunk" + ("" if fmt else " nor 'fmt ' chunk"))


def read_soundfile_info(file: BinaryIO) -> AudioInfo:
    """Header of FLAC, OGG and the other formats libsndfile reads."""
    import soundfile

    file.seek(0)
    with decoding("not a readable audio file"):
        info = soundfile.info(file)
    if info.channels < 1 or info.samplerate < 1 or info.frames < 0:
        raise AudioFormatError(
            f"audio header is damaged: {info.channels} channels, {info.samplerate} Hz"
        )
    return AudioInfo(
        format=info.format,
        subtype=info.subtype,
        channels=info.channels,
        sample_rate=info.samplerate,
        frames=info.frames,
    )


def read_audio_info(file: BinaryIO, size: int) -> AudioInfo:
    """Audio header of a seekable file: WAV by hand, anything else through soundfile."""
    file.seek(0)
    magic = file.read(4)
    if magic == b"RIFF":
        return read_wav_info(file, size)
    if not magic:
        raise AudioFormatError("empty stream: no audio header")
    return read_soundfile_info(file)

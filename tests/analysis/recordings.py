"""Recordings generated for the analysis tests: known tones, several sample formats."""

from __future__ import annotations

import io
import struct

import numpy as np

RATE = 8000
TONES = (440.0, 1000.0)  # one tone per channel


def tones(frames: int, rate: int = RATE) -> np.ndarray:
    """A (frames, 2) float signal: 440 Hz left, 1000 Hz right, amplitude 0.5."""
    t = np.arange(frames) / rate
    return 0.5 * np.stack([np.sin(2 * np.pi * f * t) for f in TONES], axis=1)


def wav_bytes(signal: np.ndarray, subtype: str = "PCM_16", rate: int = RATE, fmt="WAV") -> bytes:
    """Encode with libsndfile (a writer independent of the reader under test)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def wav_pcm16_handmade(signal: np.ndarray, rate: int = RATE, extra_chunk: bool = True) -> bytes:
    """A PCM-16 WAV written by hand, with an extra chunk before 'data'."""
    samples = np.round(signal * 32767).astype("<i2")
    channels = samples.shape[1]
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunk:
        chunks += b"LIST" + struct.pack("<I", 5) + b"hello" + b"\0"  # odd size, padded
    data = samples.tobytes()
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


class BytesStream:
    """A hand-written stand-in for a Data Stream over bytes (open, getSize, getArrayView)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> io.BytesIO:
        return io.BytesIO(self.data)

    def getSize(self) -> int:
        return len(self.data)

    def getArrayView(self, dtype, offset: int = 0) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = (len(self.data) - offset) // dtype.itemsize
        return np.frombuffer(self.data, dtype, count=count, offset=offset)

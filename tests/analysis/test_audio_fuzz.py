"""Damaged and non-audio bytes: the header reader, channel extraction and the waveform
raise AudioFormatError (a 4xx at the edge) and nothing else.

Hypothesis builds WAV headers field by field (zero channels, huge rates, odd chunk sizes,
unknown format codes), random bytes behind a RIFF/WAVE prefix, and every truncation of a
real WAV; struct.error, IndexError, numpy's ValueError or a libsndfile error escaping is
a failure.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from Products.Wendelin.analysis.audio import AudioFormatError, read_audio_info
from Products.Wendelin.analysis.channels import channel_blocks
from Products.Wendelin.bigdata.budget import memory_budget
from Products.Wendelin.ui.audio import waveform_png
from recordings import RATE, BytesStream, tones, wav_bytes, wav_pcm16_handmade

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SMALL_WAV = wav_pcm16_handmade(tones(64))


def exercise(data: bytes) -> str:
    """Read the header, one channel and the waveform; ``"ok"`` or ``"refused"``."""
    stream = BytesStream(data)
    try:
        info = read_audio_info(io.BytesIO(data), len(data))
        with memory_budget(64 * 1024):
            for block in channel_blocks(stream, info, channel=0):
                np.asarray(block).sum()
        png = waveform_png(stream, width=64, height=32)
    except AudioFormatError as error:
        assert str(error)  # a message the user can act on
        return "refused"
    assert png.startswith(b"\x89PNG")
    return "ok"


def riff(chunks: bytes, declared: int | None = None) -> bytes:
    size = 4 + len(chunks) if declared is None else declared
    return b"RIFF" + struct.pack("<I", size) + b"WAVE" + chunks


def chunk(name: bytes, body: bytes, declared: int | None = None) -> bytes:
    size = len(body) if declared is None else declared
    return name + struct.pack("<I", size) + body + (b"\0" if len(body) % 2 else b"")


@st.composite
def wav_headers(draw) -> bytes:
    """A consistent WAV header with, most of the time, one field or chunk size damaged."""
    code, bits = draw(st.sampled_from([(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)]))
    channels = draw(st.integers(1, 3))
    rate = draw(st.sampled_from([8000, 44100]))
    damage = draw(st.sampled_from(
        ["none", "code", "channels", "rate", "bits", "align", "fmt-size", "data-size",
         "riff-size", "short-fmt", "extensible", "extra-chunk", "data-first"]
    ))
    if damage == "code":
        code = draw(st.integers(0, 0xFFFF))
    elif damage == "channels":
        channels = draw(st.sampled_from([0, 255, 0xFFFF]) | st.integers(0, 0xFFFF))
    elif damage == "rate":
        rate = draw(st.sampled_from([0, 1, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1))
    elif damage == "bits":
        bits = draw(st.sampled_from([0, 1, 12, 0xFFFF]) | st.integers(0, 0xFFFF))
    align = max(bits // 8, 0) * channels % 0x10000
    if damage == "align":
        align = draw(st.integers(0, 0xFFFF))
    fmt = struct.pack("<HHIIHH", code, channels, rate, rate * align % 2**32, align, bits)
    if damage == "extensible":
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * align % 2**32, align, bits)
        sub = draw(st.sampled_from([code, 7]))
        fmt += struct.pack("<HHIH", 22, bits, 0, sub) + b"\0" * 14
        fmt = fmt[: draw(st.sampled_from([16, 30, 40]))]
    if damage == "short-fmt":
        fmt = fmt[: draw(st.integers(0, 15))]
    frames = draw(st.integers(0, 40))
    samples = draw(st.binary(min_size=frames * align, max_size=frames * align + 3))
    fmt_declared = draw(st.integers(0, 2**32 - 1)) if damage == "fmt-size" else None
    data_declared = draw(st.integers(0, 2**32 - 1)) if damage == "data-size" else None
    chunks = chunk(b"fmt ", fmt, fmt_declared)
    if damage == "extra-chunk":
        chunks += chunk(b"LIST", draw(st.binary(max_size=9)), draw(st.none() | st.integers(0, 99)))
    chunks += chunk(b"data", samples, data_declared)
    if damage == "data-first":
        chunks = chunk(b"data", samples) + chunks
    declared = draw(st.integers(0, 2**32 - 1)) if damage == "riff-size" else None
    return riff(chunks, declared)


@FUZZ
@given(wav_headers())
@example(riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, 8000, 0, 0, 16)) + chunk(b"data", b"")))
@example(riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 2**32 - 1, 2, 2, 16)) + chunk(
    b"data", b"\x01\x02" * 8)))
def test_fuzzed_wav_headers_only_raise_audio_format_error(data):
    exercise(data)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_behind_a_riff_prefix_only_raise_audio_format_error(tail):
    exercise(b"RIFF" + struct.pack("<I", len(tail) + 4) + b"WAVE" + tail)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_audio_format_error(data):
    exercise(data)


@pytest.mark.parametrize(
    "source", ["handmade", "flac", "ogg"], ids=["wav-pcm16", "flac", "ogg"]
)
def test_every_truncation_only_raises_audio_format_error(source):
    if source == "handmade":
        data = SMALL_WAV
    else:
        data = wav_bytes(tones(RATE // 20), "PCM_16" if source == "flac" else "VORBIS",
                         fmt=source.upper())
    step = 1 if len(data) < 2000 else max(1, len(data) // 400)
    outcomes = {exercise(data[:cut]) for cut in range(0, len(data), step)}
    assert "refused" in outcomes
    assert exercise(data) == "ok"


def test_bad_chunk_sizes_and_padding_are_refused_or_read():
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    for declared in (0, 1, 15, 17, 2**31, 2**32 - 1):
        exercise(riff(chunk(b"fmt ", fmt, declared) + chunk(b"data", b"\0\1" * 10)))
    assert exercise(riff(chunk(b"fmt ", fmt) + chunk(b"data", b"\0\1" * 10, 2**32 - 1))) == "ok"

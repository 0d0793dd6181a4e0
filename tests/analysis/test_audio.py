"""Audio headers and channel extraction for every WAV flavour, FLAC and OGG; bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from Products.Wendelin.analysis.audio import AudioFormatError, read_audio_info
from Products.Wendelin.analysis.channels import channel_blocks, copy_channel
from Products.Wendelin.bigdata.budget import memory_budget
from recordings import RATE, BytesStream, tones, wav_bytes, wav_pcm16_handmade


def info_of(data: bytes):
    return read_audio_info(io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [
        ("PCM_U8", 1 / 100),
        ("PCM_16", 1e-4),
        ("PCM_24", 1e-6),
        ("PCM_32", 1e-8),
        ("FLOAT", 1e-7),
        ("DOUBLE", 0),
    ],
)
def test_wav_flavours_header_and_channel_values(stereo, subtype, tolerance):
    data = wav_bytes(stereo, subtype)
    info = info_of(data)
    assert (info.format, info.channels, info.sample_rate, info.frames) == ("WAV", 2, RATE, RATE)
    assert info.duration == 1.0
    import soundfile

    expected, _ = soundfile.read(io.BytesIO(data), dtype="float64")
    raw_expected, _ = soundfile.read(io.BytesIO(data), dtype="int32")
    with memory_budget(64 * 1024):  # many small blocks
        got = np.concatenate(list(channel_blocks(BytesStream(data), info, channel=1)))
    assert len(got) == RATE
    if subtype in ("FLOAT", "DOUBLE"):
        np.testing.assert_allclose(got, expected[:, 1], atol=tolerance)
    else:  # integers: the same samples as libsndfile, scaled to its int32 full range
        shift = {"PCM_U8": 24, "PCM_16": 16, "PCM_24": 8, "PCM_32": 0}[subtype]
        values = got.astype(np.int64)
        if subtype == "PCM_U8":
            values -= 128
        np.testing.assert_array_equal(values << shift, raw_expected[:, 1])


def test_extensible_header_is_read(stereo):
    import soundfile

    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", RATE, 2, "PCM_24", format="WAVEX") as file:
        file.write(stereo)
    data = buffer.getvalue()
    info = info_of(data)
    assert info.subtype == "PCM_24" and info.frames == RATE
    assert data[20:22] == b"\xfe\xff"  # really WAVE_FORMAT_EXTENSIBLE


def test_hand_made_wav_with_extra_chunk(stereo):
    data = wav_pcm16_handmade(stereo)
    info = info_of(data)
    assert info.data_offset == 12 + 8 + 16 + 8 + 6 + 8
    left = np.concatenate(list(channel_blocks(BytesStream(data), info, 0)))
    np.testing.assert_allclose(left / 32767, stereo[:, 0], atol=1e-4)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_compressed_formats_through_soundfile(stereo, fmt):
    data = wav_bytes(stereo, "VORBIS" if fmt == "OGG" else "PCM_16", fmt=fmt)
    info = info_of(data)
    assert (info.format, info.channels, info.sample_rate) == (fmt, 2, RATE)
    assert info.data_offset is None
    right = np.concatenate(list(channel_blocks(BytesStream(data), info, 1)))
    assert len(right) == info.frames
    spectrum = np.abs(np.fft.rfft(right))
    assert abs(np.argmax(spectrum) * RATE / len(right) - 1000) < 2


def test_truncated_wav_is_flagged_and_read_as_far_as_it_goes(stereo):
    data = wav_bytes(stereo)[:-1001]
    info = info_of(data)
    assert info.truncated and info.frames == (RATE * 4 - 1001) // 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "no 'data' chunk"),
        (b"RIFF" + b"\x00" * 4 + b"AVI LIST", "not a WAV"),
        (b"this is plain text, not sound at all" * 10, "not a readable audio file"),
    ],
)
def test_bad_audio_gives_a_clear_error(data, message):
    with pytest.raises(AudioFormatError, match=message):
        info_of(data)


def test_unsupported_format_code_is_named():
    data = bytearray(wav_pcm16_handmade(np.zeros((10, 1)), extra_chunk=False))
    data[20:22] = (0x55).to_bytes(2, "little")  # MPEG layer 3 in a WAV
    with pytest.raises(AudioFormatError, match="0x0055"):
        info_of(bytes(data))


def test_channel_out_of_range(stereo):
    data = wav_bytes(stereo)
    with pytest.raises(AudioFormatError, match="channel 2 does not exist"):
        copy_channel(BytesStream(data), info_of(data), 2, np.zeros(RATE))


@pytest.fixture
def stereo():
    return tones(RATE)  # one second

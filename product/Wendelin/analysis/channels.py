"""Extract one channel of a recording into a 1-D array, block by block.

For PCM and float WAV the samples are read through a strided view over the
stream's mapped bytes (nothing decoded in memory at once); 24-bit PCM is unpacked
block by block; compressed formats are decoded by soundfile block by block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .audio import AudioFormatError, AudioInfo, decoding
from .blocks import rows_for


def native_dtype(info: AudioInfo) -> np.dtype:
    """The dtype a channel is stored in by default (24-bit PCM widens to int32)."""
    if info.dtype is not None:
        return np.dtype(info.dtype).newbyteorder("=")
    if info.subtype == "PCM_24":
        return np.dtype("int32")
    return np.dtype("float64")


def _check_channel(info: AudioInfo, channel: int) -> None:
    if not 0 <= channel < info.channels:
        raise AudioFormatError(
            f"channel {channel} does not exist: the recording has {info.channels} channel(s)"
        )


def _pcm24_blocks(stream: Any, info: AudioInfo, channel: int) -> Iterator[np.ndarray]:
    frames_per_block = rows_for(info.block_align * 4)
    assert info.data_offset is not None
    with decoding("the recording is damaged"), stream.open() as file:
        file.seek(info.data_offset)
        remaining = info.frames
        while remaining:
            count = min(frames_per_block, remaining)
            raw = file.read(count * info.block_align)
            data = np.frombuffer(raw, np.uint8).reshape(count, info.channels, 3)[:, channel]
            values = (
                data[:, 0].astype(np.int32)
                | (data[:, 1].astype(np.int32) << 8)
                | (data[:, 2].astype(np.int32) << 16)
            )
            yield np.where(values & 0x800000, values - 0x1000000, values).astype(np.int32)
            remaining -= count


def _soundfile_blocks(stream: Any, info: AudioInfo, channel: int) -> Iterator[np.ndarray]:
    import soundfile

    frames_per_block = rows_for(8 * info.channels)
    with decoding("the recording is damaged"), stream.open() as file:
        with soundfile.SoundFile(file) as sound:
            if sound.channels != info.channels:
                raise AudioFormatError(
                    f"the header says {info.channels} channels, the decoder {sound.channels}"
                )
            blocks = sound.blocks(blocksize=frames_per_block, dtype="float64", always_2d=True)
            for block in blocks:
                yield block[:, channel]


def channel_blocks(stream: Any, info: AudioInfo, channel: int = 0) -> Iterator[np.ndarray]:
    """Successive runs of one channel's samples, each small enough for the budget."""
    _check_channel(info, channel)
    if info.dtype is not None and info.data_offset is not None:
        samples = stream.getArrayView(info.dtype, offset=info.data_offset)
        frames = samples[: info.frames * info.channels].reshape(info.frames, info.channels)
        column = frames[:, channel]
        step = rows_for(info.block_align)
        for start in range(0, info.frames, step):
            yield column[start : start + step]
    elif info.subtype == "PCM_24" and info.data_offset is not None:
        yield from _pcm24_blocks(stream, info, channel)
    else:
        yield from _soundfile_blocks(stream, info, channel)


def copy_channel(stream: Any, info: AudioInfo, channel: int, target: Any) -> int:
    """Write one channel into ``target`` (a ZBigArray of ``info.frames`` rows); return rows."""
    position = 0
    for block in channel_blocks(stream, info, channel):
        target[position : position + len(block)] = block
        position += len(block)
    return position

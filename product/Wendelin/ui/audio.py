"""Audio facts and waveform previews of Data Streams, read block by block.

Everything reads through the stream's seekable file (``stream.open()``), so only a
header or one block of frames is ever in memory, whatever the recording's length.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..analysis.audio import AudioFormatError, AudioInfo, decoding
from ..analysis.decimate import minmax_columns
from ..analysis.documents import audio_info as read_stream_info

#: Frames decoded per block when computing a waveform.
BLOCK_FRAMES = 1 << 16
#: Lanes drawn at most (one per channel).
MAX_LANES = 8

_MAGIC = (
    (b"RIFF", 8, b"WAVE", "audio/wav"),
    (b"RF64", 8, b"WAVE", "audio/wav"),
    (b"fLaC", 0, b"", "audio/flac"),
    (b"OggS", 0, b"", "audio/ogg"),
)
_EXTENSIONS = {
    ".wav": "audio/wav", ".wave": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".aiff": "audio/aiff", ".aif": "audio/aiff",
}


# One header reader for the whole product: the analysis package's (WAV by hand, the
# other formats through soundfile); the UI only names its error the way it uses it.
AudioError = AudioFormatError


def sniff_content_type(head: bytes, filename: str = "") -> str | None:
    """The audio content type the first bytes (or else the file name) announce, or None."""
    for magic, offset, second, content_type in _MAGIC:
        if head.startswith(magic) and (not second or head[offset:offset + 4] == second):
            return content_type
    lower = filename.lower()
    for extension, content_type in _EXTENSIONS.items():
        if lower.endswith(extension):
            return content_type
    return None


def _soundfile(fileobj: io.RawIOBase):
    import soundfile

    with decoding("not a readable audio file"):
        return soundfile.SoundFile(fileobj)


def audio_info(stream: Any) -> AudioInfo:
    """Format, channels, sample rate and frames of a Data Stream, from its header."""
    if stream.getSize() == 0:
        raise AudioError("the stream is empty")
    info = read_stream_info(stream)
    if info.sample_rate <= 0 or info.channels <= 0:
        raise AudioError("the header announces no samples")
    return info


def waveform_envelope(stream: Any, width: int) -> tuple[AudioInfo, np.ndarray, np.ndarray]:
    """Decode the stream block by block into per-column (min, max), one lane per channel."""
    info = audio_info(stream)
    with _soundfile(stream.open()) as sound, decoding("the recording is damaged"):
        # The decoder's own channel and frame counts: a damaged header may disagree.
        if sound.channels < 1:
            raise AudioError("the decoder finds no channels")
        blocks = sound.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True)
        lows, highs = minmax_columns(blocks, max(sound.frames, 1), width, sound.channels)
    return info, lows[:, :MAX_LANES], highs[:, :MAX_LANES]


def render_waveform(lows: np.ndarray, highs: np.ndarray, height: int = 160) -> bytes:
    """A PNG of the envelope: one lane per channel, a vertical bar per pixel column."""
    from PIL import Image, ImageDraw

    width, lanes = lows.shape
    lanes = max(lanes, 1)
    image = Image.new("RGB", (width, height), (248, 250, 252))
    draw = ImageDraw.Draw(image)
    lane_height = height / lanes
    for lane in range(lanes):
        top = lane * lane_height
        middle = top + lane_height / 2
        half = lane_height / 2 - 2
        draw.line([(0, middle), (width, middle)], fill=(203, 213, 225))
        for x in range(width):
            low, high = lows[x, lane], highs[x, lane]
            if np.isnan(low):
                continue
            y1 = middle - float(np.clip(high, -1, 1)) * half
            y2 = middle - float(np.clip(low, -1, 1)) * half
            draw.line([(x, y1), (x, max(y2, y1 + 1))], fill=(37, 99, 235))
        if lane:
            draw.line([(0, top), (width, top)], fill=(148, 163, 184))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def waveform_png(stream: Any, width: int = 1000, height: int = 160) -> bytes:
    """The waveform preview of an audio Data Stream as PNG bytes (AudioError if not audio)."""
    _info, lows, highs = waveform_envelope(stream, width)
    return render_waveform(lows, highs, height)

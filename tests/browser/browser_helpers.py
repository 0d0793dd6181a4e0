"""Helpers of the browser tests (a module of its own: ``conftest`` names clash across folders)."""

from __future__ import annotations

import io

import numpy as np
import soundfile


def wav_bytes(seconds: float = 1.5, rate: int = 8000, channels: int = 2) -> bytes:
    """A PCM-16 WAV of sine tones (a chord, so the waveform has something to show)."""
    t = np.arange(int(seconds * rate)) / rate
    data = np.stack(
        [0.45 * np.sin(2 * np.pi * 220 * (c + 1) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * t))
         for c in range(channels)], 1,
    )
    out = io.BytesIO()
    soundfile.write(out, data, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()

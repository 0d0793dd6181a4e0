"""Write the tutorial's sample recording: a stereo 16-bit WAV with known tones.

Left channel: 440 Hz (strongest) and 880 Hz; right channel: 1000 Hz (strongest) and
3000 Hz. Written block by block, so any length takes little memory.

    python generate_sample.py OUT.wav [--seconds 180] [--rate 44100]
"""

from __future__ import annotations

import argparse
import wave

import numpy as np

LEFT = ((440.0, 0.4), (880.0, 0.1))
RIGHT = ((1000.0, 0.4), (3000.0, 0.05))
BLOCK = 1 << 16


def tones(start: int, count: int, rate: int) -> np.ndarray:
    """Frames ``[start, start + count)`` as int16, shape (count, 2)."""
    t = np.arange(start, start + count) / rate
    left = sum(a * np.sin(2 * np.pi * f * t) for f, a in LEFT)
    right = sum(a * np.sin(2 * np.pi * f * t) for f, a in RIGHT)
    return np.round(np.stack([left, right], axis=1) * 32767).astype("<i2")


def write_sample(path: str, seconds: float = 180.0, rate: int = 44100) -> int:
    """Write the recording; return its number of frames."""
    frames = int(seconds * rate)
    with wave.open(path, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        for start in range(0, frames, BLOCK):
            out.writeframes(tones(start, min(BLOCK, frames - start), rate).tobytes())
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--rate", type=int, default=44100)
    args = parser.parse_args()
    frames = write_sample(args.out, args.seconds, args.rate)
    print(f"wrote {args.out}: {frames} stereo frames at {args.rate} Hz")


if __name__ == "__main__":
    main()

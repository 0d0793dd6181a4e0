"""Analysis benchmark: out-of-core FFT and channel extraction, one JSON line.

    python bench/bench_analysis.py [--budget-mib 64] [--dir DIR]

- fft_out_of_core_seconds: real FFT of a float64 signal 4x larger than the memory budget,
  out of core, into a ZBigArray (commit included);
- fft_peak_rss_anon_over_baseline: anonymous RSS it added (goal: below the budget);
- fft_ratio_to_scaled_in_memory: that time over in-memory ``scipy.fft.rfft`` timed on the
  largest size that fits the budget, scaled by n log n (goal: within 3); medians of
  ``--rounds`` alternating rounds, memory warmed and dirty pages flushed for both sides;
- plot_*: a line plot of that signal (min/max decimation block by block) rendered to PNG;
- extract_channel_ratio: reading the WAV from a local file (``read`` of every byte) over
  extracting one channel of it from a Data Stream's ZBigFile into a ZBigArray (1.0 means
  "as fast as reading the file").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
import wave

import numpy as np
import scipy.fft
import transaction
import ZODB
from bench_storage import PeakRss, timed, touch_and_free
from Products.Wendelin.analysis.audio import read_audio_info
from Products.Wendelin.analysis.channels import copy_channel
from Products.Wendelin.analysis.fft import rfft_into
from Products.Wendelin.bigdata import BigFileReader, ZBigArray, ZBigFile, memory_budget
from Products.Wendelin.bigdata.mapping import map_range
from ZODB.FileStorage import FileStorage

MIB = 1024**2


class StreamOverBigFile:
    """What the channel code needs of a Data Stream, over a bare ZBigFile."""

    def __init__(self, bigfile: ZBigFile) -> None:
        self.bigfile = bigfile

    def open(self) -> BigFileReader:
        return BigFileReader(self.bigfile)

    def getSize(self) -> int:
        return self.bigfile.size

    def getArrayView(self, dtype, offset: int = 0) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = (self.bigfile.size - offset) // dtype.itemsize
        return np.frombuffer(map_range(self.bigfile, offset, count * dtype.itemsize), dtype)


def bench_fft(root, budget: int, rounds: int) -> dict:
    """Median over ``rounds`` of the out-of-core FFT and of the scaled in-memory baseline.

    Before each timed run the same memory is touched and freed for both sides (see
    bench_storage: on this VM freed memory is slow to touch again) and dirty pages flushed.
    """
    n = 4 * budget // 8
    n_fit = 1 << int(math.log2(budget // (16 * 3)))
    x = np.random.default_rng(1).standard_normal(n_fit)
    with memory_budget(budget):
        signal = root["signal"] = ZBigArray((n,), "f8")
        step = 1 << 20
        rng = np.random.default_rng(0)
        for start in range(0, n, step):
            signal[start : start + step] = rng.standard_normal(min(step, n - start))
        transaction.commit()
        ours, baseline, peaks, how = [], [], [], ""
        for _ in range(rounds):
            os.sync()
            touch_and_free(budget)
            baseline.append(timed(scipy.fft.rfft, x))
            spectrum = root["spectrum"] = ZBigArray((n // 2 + 1,), "c16")
            transaction.commit()
            os.sync()
            touch_and_free(budget)
            with PeakRss() as peak:
                began = time.perf_counter()
                how = rfft_into(signal, spectrum)
                transaction.commit()
                ours.append(time.perf_counter() - began)
            peaks.append(peak.over_baseline)
    seconds, best = statistics.median(ours), statistics.median(baseline)
    scaled = best * (n * math.log2(n)) / (n_fit * math.log2(n_fit))
    return {
        "fft_how": how,
        "fft_signal_bytes": n * 8,
        "fft_out_of_core_seconds": round(seconds, 2),
        "fft_peak_rss_anon_over_baseline": max(peaks),
        "fft_in_memory_size": n_fit,
        "fft_in_memory_seconds": round(best, 4),
        "fft_ratio_to_scaled_in_memory": round(seconds / scaled, 2),
    }


def bench_plot(root, budget: int) -> dict:
    """A min/max-decimated line plot of the FFT's signal, rendered to PNG."""
    from Products.Wendelin.analysis.figures import figure_png
    from Products.Wendelin.analysis.plot import plot_array

    signal = root["signal"]
    with memory_budget(budget), PeakRss() as peak:
        began = time.perf_counter()
        png = figure_png(plot_array(signal, "line"))
        seconds = time.perf_counter() - began
    return {
        "plot_points": len(signal),
        "plot_seconds": round(seconds, 2),
        "plot_points_per_second": int(len(signal) / seconds),
        "plot_png_bytes": len(png),
        "plot_peak_rss_anon_over_baseline": peak.over_baseline,
    }


def bench_extract(root, work: str, budget: int) -> dict:
    path = os.path.join(work, "sample.wav")
    frames, rate = 64 * MIB // 4, 44100  # 64 MiB of stereo int16
    with wave.open(path, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        block = (np.arange(1 << 20, dtype="<i2") % 1000).repeat(2)
        for _ in range(frames // (1 << 20)):
            out.writeframes(block.tobytes())
    bigfile = root["wav"] = ZBigFile()
    with open(path, "rb") as source:
        while chunk := source.read(8 * MIB):
            bigfile.append(chunk)
    transaction.commit()
    stream = StreamOverBigFile(bigfile)
    with memory_budget(budget):
        info = read_audio_info(stream.open(), stream.getSize())
        began = time.perf_counter()
        target = root["channel"] = ZBigArray((info.frames,), "i2")
        copy_channel(stream, info, 0, target)
        transaction.commit()
        extract = time.perf_counter() - began

    def read_file() -> None:
        with open(path, "rb") as source:
            while source.read(8 * MIB):
                pass

    read = min(timed(read_file) for _ in range(3))
    assert int(target[12345]) == int(block[2 * 12345])
    return {
        "extract_bytes": os.path.getsize(path),
        "extract_seconds": round(extract, 3),
        "read_file_seconds": round(read, 3),
        "extract_channel_ratio": round(read / extract, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mib", type=int, default=64)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    budget = args.budget_mib * MIB
    work = tempfile.mkdtemp(prefix="wendelin-bench-analysis-", dir=args.dir)
    try:
        db = ZODB.DB(
            FileStorage(os.path.join(work, "Data.fs"), blob_dir=os.path.join(work, "blobs")),
            cache_size_bytes=budget // 4,
        )
        root = db.open().root()
        result = {
            "budget": budget,
            **bench_fft(root, budget, args.rounds),
            **bench_plot(root, budget),
            **bench_extract(root, work, budget),
        }
        db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

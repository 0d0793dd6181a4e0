"""Run by test_fft.py in a clean process: out-of-core FFT under a 16 MiB budget, peak RssAnon.

``probe.py DIR``: a float64 signal of 4x the budget. ``probe.py DIR DTYPE NBYTES``: a signal
of that dtype (int16, float32: rfft_into; complex64, complex128: fft_out_of_core).
"""

import json
import sys
import threading
import time

import numpy as np
import transaction
import ZODB
from Products.Wendelin.analysis.fft import fft_out_of_core, rfft_into
from Products.Wendelin.bigdata import ZBigArray, memory_budget
from ZODB.FileStorage import FileStorage


def rss_anon() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


class PeakSampler(threading.Thread):
    """Samples RssAnon every 2 ms and keeps the maximum."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_anon()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_anon())
            time.sleep(0.002)


def main(path: str, dtype_name: str = "float64", nbytes: int = 0) -> None:
    budget = 16 * 1024**2
    dtype = np.dtype(dtype_name)
    n = (nbytes or 4 * budget) // dtype.itemsize
    complex_input = dtype.kind == "c"
    bins = n if complex_input else n // 2 + 1
    rate, tone = 8192.0, 1000.0
    db = ZODB.DB(
        FileStorage(path + "/Data.fs", blob_dir=path + "/blobs"), cache_size_bytes=budget // 4
    )
    root = db.open().root()
    with memory_budget(budget):
        signal = root["signal"] = ZBigArray((n,), dtype)
        step = 1 << 18
        for start in range(0, n, step):
            t = np.arange(start, min(start + step, n)) / rate
            wave = np.exp(2j * np.pi * tone * t) if complex_input else np.sin(2 * np.pi * tone * t)
            if dtype.kind == "i":
                wave = np.round(wave * 20000)
            signal[start : start + len(t)] = wave.astype(dtype)
        spectrum = root["spectrum"] = ZBigArray((bins,), "c16")
        transaction.commit()
        baseline = rss_anon()
        sampler = PeakSampler()
        sampler.start()
        if complex_input:

            def write(start: int, values: np.ndarray) -> None:
                spectrum[start : start + len(values)] = values

            fft_out_of_core(signal[:], write)
            how = "out-of-core"
        else:
            how = rfft_into(signal, spectrum)
        transaction.commit()
        sampler.running = False
        sampler.join()
        amplitude = 20000 if dtype.kind == "i" else 1
        magnitude = np.abs(spectrum[:bins]) / amplitude
        peak_bin = int(np.argmax(magnitude))
    print(
        json.dumps(
            {
                "how": how,
                "budget": budget,
                "nbytes": n * dtype.itemsize,
                "dtype": dtype.name,
                "peak_over_baseline": sampler.peak - baseline,
                "peak_hz": peak_bin * rate / n,
                "peak_value": float(magnitude[peak_bin]),
                "n": n,
                "expected_value": n if complex_input else n / 2,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:3], *(int(arg) for arg in sys.argv[3:4]))

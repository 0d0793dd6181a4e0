"""Run by test_fft.py in a clean process: out-of-core FFT of 4x the budget, peak RssAnon."""

import json
import sys
import threading
import time

import numpy as np
import transaction
import ZODB
from Products.Wendelin.analysis.fft import rfft_into
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


def main(path: str) -> None:
    budget = 16 * 1024**2
    n = 4 * budget // 8  # float64 signal of 4x the budget
    rate, tone = 8192.0, 1000.0
    db = ZODB.DB(
        FileStorage(path + "/Data.fs", blob_dir=path + "/blobs"), cache_size_bytes=budget // 4
    )
    root = db.open().root()
    with memory_budget(budget):
        signal = root["signal"] = ZBigArray((n,), "f8")
        step = 1 << 18
        for start in range(0, n, step):
            t = np.arange(start, start + step) / rate
            signal[start : start + step] = np.sin(2 * np.pi * tone * t)
        spectrum = root["spectrum"] = ZBigArray((n // 2 + 1,), "c16")
        transaction.commit()
        baseline = rss_anon()
        sampler = PeakSampler()
        sampler.start()
        how = rfft_into(signal, spectrum)
        transaction.commit()
        sampler.running = False
        sampler.join()
        magnitude = np.abs(spectrum[: n // 2 + 1])
        peak_bin = int(np.argmax(magnitude))
    print(
        json.dumps(
            {
                "how": how,
                "budget": budget,
                "nbytes": n * 8,
                "peak_over_baseline": sampler.peak - baseline,
                "peak_hz": peak_bin * rate / n,
                "peak_value": float(magnitude[peak_bin]),
                "n": n,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])

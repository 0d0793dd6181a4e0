"""Storage benchmark: one JSON line of ratios measured in the same run, on the same disk.

    python bench/bench_storage.py [--mib 256] [--dir DIR]

- stream_append_ratio: raw write+fsync time / ZBigFile append+commit time (goal >= 0.8)
- array_write_ratio:   numpy.save time / ZBigArray write+commit time (goal >= 0.8)
- reduce_ratio:        numpy.load(mmap_mode='r').sum() time / ZBigArray A[:].sum() time (>= 0.9)
- zarr_*:              the same figures for zarr (the peer), where it applies
- reduce_peak_rss_anon_over_baseline: anonymous RSS while reducing an array 4x the budget
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time

import numpy as np
import transaction
import ZODB
from Products.Wendelin.bigdata import ZBigArray, ZBigFile, memory_budget
from ZODB.FileStorage import FileStorage


def rss_anon() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def drop_cache_hint(path: str) -> None:
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            except OSError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(dir=args.dir)
    nbytes = args.mib * 1024**2
    chunk = np.random.default_rng(0).integers(0, 256, 4 * 1024**2, dtype=np.uint8).tobytes()
    values = np.random.default_rng(1).random(nbytes // 8)
    result: dict[str, float | int | str] = {"mib": args.mib}
    db = ZODB.DB(FileStorage(f"{work}/Data.fs", blob_dir=f"{work}/blobs"))
    connection = db.open()
    root = connection.root()
    try:
        def raw_write():
            with open(f"{work}/raw.bin", "wb") as stream:
                for _ in range(nbytes // len(chunk)):
                    stream.write(chunk)
                stream.flush()
                os.fsync(stream.fileno())

        def stream_append():
            bigfile = ZBigFile()
            root["stream"] = bigfile
            for _ in range(nbytes // len(chunk)):
                bigfile.append(chunk)
            transaction.commit()

        raw = timed(raw_write)
        ours = timed(stream_append)
        result["stream_append_ratio"] = round(raw / ours, 3)
        result["stream_append_mib_s"] = round(args.mib / ours, 1)

        np_save = timed(lambda: np.save(f"{work}/a.npy", values))

        def array_write():
            array = ZBigArray(values.shape, values.dtype)
            root["array"] = array
            array[:] = values
            transaction.commit()

        result["array_write_ratio"] = round(np_save / timed(array_write), 3)

        import zarr

        def zarr_write():
            z = zarr.open_array(f"{work}/z.zarr", mode="w", shape=values.shape,
                                chunks=(2 * 1024**2 // 8,), dtype=values.dtype)
            z[:] = values

        result["zarr_array_write_ratio"] = round(np_save / timed(zarr_write), 3)

        expected = float(values.sum())
        mapped = np.load(f"{work}/a.npy", mmap_mode="r")
        np_reduce = min(timed(lambda: mapped.sum()) for _ in range(3))
        array = root["array"]
        our_reduce = min(timed(lambda: array[:].sum()) for _ in range(3))
        assert abs(float(array[:].sum()) - expected) < 1e-6 * abs(expected)
        result["reduce_ratio"] = round(np_reduce / our_reduce, 3)
        z = zarr.open_array(f"{work}/z.zarr", mode="r")
        result["zarr_reduce_ratio"] = round(np_reduce / min(timed(lambda: z[:].sum())
                                                              for _ in range(2)), 3)

        budget = nbytes // 4
        connection.cacheMinimize()
        drop_cache_hint(work)
        with memory_budget(budget):
            baseline = rss_anon()
            peak = [baseline]
            running = [True]

            def sample():
                while running[0]:
                    peak[0] = max(peak[0], rss_anon())
                    time.sleep(0.002)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            total = float(root["array"][:].sum())
            running[0] = False
            sampler.join()
        assert abs(total - expected) < 1e-6 * abs(expected)
        result["memory_budget"] = budget
        result["reduce_peak_rss_anon_over_baseline"] = peak[0] - baseline
        result["reduce_peak_under_budget"] = peak[0] - baseline < budget
    finally:
        transaction.abort()
        connection.close()
        db.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

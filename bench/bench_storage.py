"""Storage benchmark: one JSON line of ratios measured in the same run, on the same disk.

    python bench/bench_storage.py [--mib 256] [--repeat 5] [--dir DIR] [--cold]
                                  [--parts append,write,reduce,inplace,memory,zeo] [--no-cow]
    python bench/bench_storage.py --big [--gib 4]     # one-transaction write of 4 GiB

Each figure is the median over ``--repeat`` interleaved rounds (baseline, then ours) of
``baseline time / our time``, so 1.0 means "as fast as the baseline":

- stream_append_ratio: raw ``write+fsync`` / ZBigFile append + commit (goal >= 0.8).
  ZODB fsyncs Data.fs on commit but never blob files; ZBigFile fdatasyncs the files an
  append wrote at the commit's vote. stream_append_fsync_ratio also fsyncs the blob files
  after the commit (nothing left to write; it was the like-for-like figure before).
- array_write_ratio:   ``numpy.save`` / ZBigArray ``A[:] = values`` + commit (goal >= 0.8)
- reduce_ratio:        ``numpy.load(mmap_mode='r').sum()`` / ``A[:].sum()`` (goal >= 0.9)
  (at least 9 rounds after one untimed read of each; reduce_ratio_range is the spread)
- inplace_ratio:       ``m = numpy.load(mmap_mode='r+'); m *= 2; m.flush()`` / ZBigArray
  ``A[:] *= 2`` + commit, on the same data (goal >= 0.8). The augmented assignment claims
  the blocks, fused with numpy's in-place multiply: one pass reads the old blobs and
  writes the products, by chunks, into new blob files (the old blobs stay, copy on write
  at block level); the memmap writes its own file in place and ``flush()`` waits for
  the disk, ZODB does not fsync blob files.
  inplace_cow_ratio is ``v = A[:]; np.multiply(v, 2, out=v)`` + commit: a view written
  by other means copies each written 4 KiB page on write (anonymous memory) and commit
  writes the dirty blocks to new blob files. ``*_peak_rss_anon_over_baseline`` is the
  anonymous memory of one more such round.
- zeo_*:               reduce and in-place figures with the database served as ``wendelin
  run`` serves it: a ZEO server process on a Unix socket over the FileStorage, this
  process a ClientStorage reading the blob directory in place (``shared-blob-dir``)
- zarr_*:              the same figures for zarr (the peer), where it applies
- reduce_peak_rss_anon_over_baseline: anonymous RSS while reducing an array 4x the budget

Before every timed operation dirty pages are written back (``sync``), so neither side
pays for the other's writeback, and memory of twice the data size is touched and freed, so both
sides get recently used pages: on virtual machines with free page reporting (balloon)
memory freed more than ~2 s ago costs ~2.5 ns/byte to touch again, which would otherwise
dominate a write and favour whichever side ran first. ``--cold`` skips this.

``--big`` writes a ``--gib`` GiB float64 array in ONE transaction within the default
memory budget (``WENDELIN_MEMORY_BUDGET``, 512 MiB; ZODB cache a quarter of it), commits,
reduces it, and prints the peak anonymous RSS of each phase over the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

import numpy as np
import transaction
import ZODB
from Products.Wendelin.bigdata import ZBigArray, ZBigFile, get_memory_budget, memory_budget
from ZODB.FileStorage import FileStorage


def rss_anon() -> int:
    """Anonymous resident memory of this process in bytes (page cache not included)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples RssAnon in a thread; ``peak - baseline`` is what the block added."""

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = rss_anon()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_anon())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, rss_anon())

    @property
    def over_baseline(self) -> int:
        return self.peak - self.baseline


def timed(function: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def touch_and_free(nbytes: int) -> None:
    """Touch ``nbytes`` of fresh memory and free it, so the next allocations are warm."""
    np.ones(nbytes, dtype=np.uint8)


def drop_cache_hint(path: str) -> None:
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            except OSError:
                pass


def compare(
    baseline: Callable[[int], object], ours: Callable[[int], object], repeat: int, warm: int,
    ratios: list[float] | None = None,
) -> tuple[float, float, float]:
    """Median of ``baseline/ours`` over interleaved rounds, and the median times (each
    round's ratio is appended to ``ratios`` when given)."""
    ratios = [] if ratios is None else ratios
    base_times: list[float] = []
    our_times: list[float] = []
    for round_ in range(repeat):
        os.sync()
        touch_and_free(warm)
        base = timed(baseline, round_)
        os.sync()
        touch_and_free(warm)
        mine = timed(ours, round_)
        ratios.append(base / mine)
        base_times.append(base)
        our_times.append(mine)
    return (
        round(statistics.median(ratios), 3),
        statistics.median(base_times),
        statistics.median(our_times),
    )


def fsync_blob_files(bigfile: ZBigFile) -> None:
    """fsync every blob file holding ``bigfile``'s bytes (ZODB itself never does)."""
    for path in {path for path, _, _ in bigfile.segments(0, bigfile.size) if path}:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


PARTS = ("append", "write", "reduce", "inplace", "memory", "zeo")


def make_data(root, work: str, values: np.ndarray, name: str = "array0") -> None:
    """The array and the .npy file the read and in-place figures start from (untimed)."""
    np.save(f"{work}/a0.npy", values)
    array = root[name] = ZBigArray(values.shape, values.dtype)
    array[:] = values
    transaction.commit()


def inplace_figures(array, np_path: str, args: argparse.Namespace, warm: int,
                    prefix: str = "") -> dict:
    """``A[:] *= 2`` + commit (a claim) and ``np.multiply(v, 2, out=v)`` + commit (copy on
    write) against a memmap ``r+`` ``m *= 2; m.flush()``; RssAnon of one more round."""
    result: dict = {}

    def memmap_inplace(_: int) -> None:
        mapped = np.load(np_path, mmap_mode="r+")
        mapped *= 2
        mapped.flush()
        del mapped

    def array_inplace(_: int) -> None:
        array[:] *= 2
        transaction.commit()

    def array_inplace_cow(_: int) -> None:
        view = array[:]
        np.multiply(view, 2, out=view)
        del view
        transaction.commit()

    mib = array.nbytes / 1024**2
    ratio, base, ours = compare(memmap_inplace, array_inplace, args.repeat, warm)
    result[prefix + "inplace_ratio"] = ratio
    result[prefix + "inplace_mib_s"] = round(mib / ours, 1)
    result[prefix + "memmap_inplace_mib_s"] = round(mib / base, 1)
    os.sync()
    with PeakRss() as peak:
        array_inplace(0)
    memmap_inplace(0)
    result[prefix + "inplace_peak_rss_anon_over_baseline"] = peak.over_baseline
    if not args.no_cow:
        ratio, _, ours = compare(memmap_inplace, array_inplace_cow, args.repeat, warm)
        result[prefix + "inplace_cow_ratio"] = ratio
        result[prefix + "inplace_cow_mib_s"] = round(mib / ours, 1)
        os.sync()
        with PeakRss() as peak:
            array_inplace_cow(0)
        memmap_inplace(0)
        result[prefix + "inplace_cow_peak_rss_anon_over_baseline"] = peak.over_baseline
    assert np.array_equal(array[:], np.load(np_path, mmap_mode="r")), "in place: data differ"
    return result


def bench(args: argparse.Namespace, work: str) -> dict:
    nbytes = args.mib * 1024**2
    warm = 0 if args.cold else 2 * nbytes
    parts = set(args.parts.split(","))
    chunk = np.random.default_rng(0).integers(0, 256, 4 * 1024**2, dtype=np.uint8).tobytes()
    values = np.random.default_rng(1).random(nbytes // 8)
    expected = float(values.sum())
    result: dict = {"mib": args.mib, "repeat": args.repeat, "warm": not args.cold,
                    "parts": sorted(parts)}
    db = ZODB.DB(FileStorage(f"{work}/Data.fs", blob_dir=f"{work}/blobs"))
    connection = db.open()
    root = connection.root()
    np_path = f"{work}/a0.npy"
    try:
        if "append" in parts:
            result.update(append_figures(root, work, chunk, nbytes, args, warm))
        if "write" in parts:
            result.update(write_figures(root, work, values, args, warm))
        else:
            make_data(root, work, values)
        del values  # 2x the data in RAM otherwise (the page cache needs it at 2 GiB)
        array = root["array0"]
        assert abs(float(array[:].sum()) - expected) < 1e-6 * abs(expected)
        if "reduce" in parts:
            result.update(reduce_figures(array, np_path, work, args))
        if "inplace" in parts:
            result.update(inplace_figures(array, np_path, args, warm))
        if "memory" in parts:
            total_expected = float(np.load(np_path, mmap_mode="r").sum())
            budget = nbytes // 4
            connection.cacheMinimize()
            drop_cache_hint(work)
            with memory_budget(budget), PeakRss() as peak:
                total = float(root["array0"][:].sum())
            assert abs(total - total_expected) < 1e-6 * abs(total_expected)
            result["memory_budget"] = budget
            result["reduce_peak_rss_anon_over_baseline"] = peak.over_baseline
            result["reduce_peak_under_budget"] = peak.over_baseline < budget
    finally:
        transaction.abort()
        connection.close()
        db.close()
    if "zeo" in parts:
        result.update(bench_served(args, work))
    return result


def append_figures(root, work: str, chunk: bytes, nbytes: int, args: argparse.Namespace,
                   warm: int) -> dict:
    """Raw ``write+fsync`` against ZBigFile appends + commit (with and without fsync)."""
    result: dict = {}

    def raw_write(round_: int) -> None:
        with open(f"{work}/raw{round_}.bin", "wb") as stream:
            for _ in range(nbytes // len(chunk)):
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())

    def stream_append(round_: int, fsync: bool = False) -> None:
        bigfile = root[f"stream{round_}{fsync}"] = ZBigFile()
        for _ in range(nbytes // len(chunk)):
            bigfile.append(chunk)
        transaction.commit()
        if fsync:
            fsync_blob_files(bigfile)

    ratio, base, ours = compare(raw_write, stream_append, args.repeat, warm)
    result["stream_append_ratio"] = ratio
    result["stream_append_mib_s"] = round(args.mib / ours, 1)
    result["raw_write_fsync_mib_s"] = round(args.mib / base, 1)
    ratio, _, ours = compare(
        raw_write, lambda r: stream_append(r, fsync=True), args.repeat, warm
    )
    result["stream_append_fsync_ratio"] = ratio
    result["stream_append_fsync_mib_s"] = round(args.mib / ours, 1)
    return result


def write_figures(root, work: str, values: np.ndarray, args: argparse.Namespace,
                  warm: int) -> dict:
    """``numpy.save`` against ``A[:] = values`` + commit, and zarr's write."""
    result: dict = {}

    def np_save(round_: int) -> None:
        np.save(f"{work}/a{round_}.npy", values)

    def array_write(round_: int) -> None:
        array = root[f"array{round_}"] = ZBigArray(values.shape, values.dtype)
        array[:] = values
        transaction.commit()

    ratio, base, ours = compare(np_save, array_write, args.repeat, warm)
    result["array_write_ratio"] = ratio
    result["array_write_mib_s"] = round(args.mib / ours, 1)
    result["numpy_save_mib_s"] = round(args.mib / base, 1)

    import zarr

    def zarr_write(round_: int) -> None:
        z = zarr.open_array(f"{work}/z{round_}.zarr", mode="w", shape=values.shape,
                            chunks=(2 * 1024**2 // 8,), dtype=values.dtype)
        z[:] = values

    result["zarr_array_write_ratio"] = compare(np_save, zarr_write, args.repeat, warm)[0]
    return result


#: Reads are memory-bandwidth bound and cheap (~0.1 s per GiB from the page cache), and
#: a round varies by +-20% with where the kernel placed each side's pages: at least this
#: many interleaved rounds, after one untimed read of each side.
REDUCE_ROUNDS = 9


def reduce_figures(array, np_path: str, work: str, args: argparse.Namespace,
                   prefix: str = "") -> dict:
    """``numpy.load(mmap_mode='r').sum()`` against ``A[:].sum()`` (and zarr's, locally)."""
    def baseline(_: int) -> object:
        return np.load(np_path, mmap_mode="r").sum()

    def ours(_: int) -> object:
        return array[:].sum()

    baseline(0)
    ours(0)
    ratios: list[float] = []
    result = {prefix + "reduce_ratio": compare(
        baseline, ours, max(args.repeat, REDUCE_ROUNDS), 0, ratios)[0]}
    result[prefix + "reduce_ratio_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    if not prefix and os.path.exists(f"{work}/z0.zarr"):
        import zarr

        z = zarr.open_array(f"{work}/z0.zarr", mode="r")
        result["zarr_reduce_ratio"] = compare(
            lambda _: np.load(np_path, mmap_mode="r").sum(), lambda _: z[:].sum(),
            min(args.repeat, 2), 0,
        )[0]
    return result


ZEO_SERVER = """
import sys, time
from Products.Wendelin.zeoserver import OrderedStorageServer
from ZODB.FileStorage import FileStorage
socket, data, blobs = sys.argv[1:4]
server = OrderedStorageServer(socket, {"1": FileStorage(data, blob_dir=blobs)})
server.start_thread(daemon=True)
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
server.close(join_timeout=5)
"""


def bench_served(args: argparse.Namespace, work: str) -> dict:
    """Reads and in-place work with the database served as ``wendelin run`` serves it: a
    ZEO server process on a Unix socket over the FileStorage, this process a client
    reading the blob directory in place (``shared-blob-dir``)."""
    import subprocess
    import sys

    from ZEO.ClientStorage import ClientStorage

    served = f"{work}/served"
    os.makedirs(f"{served}/blobs")
    socket = f"{served}/zeo.sock"
    server = subprocess.Popen(
        [sys.executable, "-c", ZEO_SERVER, socket, f"{served}/Data.fs", f"{served}/blobs"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    result: dict = {}
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        storage = ClientStorage(socket, blob_dir=f"{served}/blobs", shared_blob_dir=True,
                                server_sync=True, wait_timeout=60)
        db = ZODB.DB(storage)
        connection = db.open()
        try:
            root = connection.root()
            np_path = f"{work}/a0.npy"  # the local figures' file: the same data
            values = np.load(np_path, mmap_mode="r")
            array = root["array0"] = ZBigArray(values.shape, values.dtype)
            array[:] = values
            transaction.commit()
            del values
            result.update(reduce_figures(array, np_path, work, args, "zeo_"))
            warm = 0 if args.cold else 2 * array.nbytes
            result.update(inplace_figures(array, np_path, args, warm, "zeo_"))
        finally:
            transaction.abort()
            connection.close()
            db.close()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    return result


def bench_big(args: argparse.Namespace, work: str) -> dict:
    """Write ``--gib`` GiB in one transaction within the budget; report peak RssAnon."""
    budget = get_memory_budget()
    nbytes = int(args.gib * 1024**3)
    n = nbytes // 8
    rows = 8 * 1024**2  # 64 MiB of float64 per assignment
    db = ZODB.DB(FileStorage(f"{work}/Data.fs", blob_dir=f"{work}/blobs"),
                 cache_size_bytes=budget // 4)
    connection = db.open()
    result: dict = {"gib": args.gib, "memory_budget": budget}
    try:
        with PeakRss() as write_peak:
            start = time.perf_counter()
            array = connection.root()["big"] = ZBigArray((n,), "f8")
            for begin in range(0, n, rows):
                end = min(begin + rows, n)
                array[begin:end] = np.arange(begin, end, dtype="f8")
            transaction.commit()
            elapsed = time.perf_counter() - start
        result["write_s"] = round(elapsed, 2)
        result["write_mib_s"] = round(nbytes / 1024**2 / elapsed, 1)
        result["write_peak_rss_anon_over_baseline"] = write_peak.over_baseline
        connection.cacheMinimize()
        with PeakRss() as reduce_peak:
            start = time.perf_counter()
            total = float(connection.root()["big"][:].sum())
            elapsed = time.perf_counter() - start
        assert total == n * (n - 1) / 2, total
        result["reduce_s"] = round(elapsed, 2)
        result["reduce_peak_rss_anon_over_baseline"] = reduce_peak.over_baseline
        result["under_budget"] = max(write_peak.over_baseline, reduce_peak.over_baseline) < budget
    finally:
        transaction.abort()
        connection.close()
        db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="data size of each figure")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds per figure")
    parser.add_argument("--dir", default=None, help="where to put the temporary files")
    parser.add_argument("--cold", action="store_true", help="do not warm memory before writes")
    parser.add_argument("--big", action="store_true", help="one-transaction big write instead")
    parser.add_argument("--gib", type=float, default=4, help="size of the --big array")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated figures to measure, of {','.join(PARTS)}")
    parser.add_argument("--no-cow", action="store_true",
                        help="skip the copy-on-write in-place figure (np.multiply out=)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="wendelin-bench-", dir=args.dir)
    try:
        result = bench_big(args, work) if args.big else bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

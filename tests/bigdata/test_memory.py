"""Bounded memory: write and reduce an array 4x larger than a small budget, in a clean process.

Each write phase (appends; a whole assignment from a mapped file plus a strided
read-modify-write assignment) happens in ONE transaction and must stay under the budget.
"""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import numpy as np, transaction, ZODB
    from ZODB.FileStorage import FileStorage
    from Products.Wendelin.bigdata import ZBigArray, memory_budget

    def rss_anon():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    peak = [0]
    running = [True]
    lock = threading.Lock()
    def sample():
        while running[0]:
            value = rss_anon()
            with lock:
                peak[0] = max(peak[0], value)
            time.sleep(0.002)

    def reset():
        with lock:
            peak[0] = rss_anon()
        return peak[0]

    path = sys.argv[1]
    budget = 32 * 1024 ** 2
    n = 4 * budget // 8
    def open_db():
        storage = FileStorage(path + "/Data.fs", blob_dir=path + "/blobs")
        return ZODB.DB(storage, cache_size_bytes=budget // 4)

    db = open_db()
    connection = db.open()
    result = {}
    with memory_budget(budget):
        baseline = reset()
        threading.Thread(target=sample, daemon=True).start()
        array = ZBigArray((0,), "f8")
        connection.root()["array"] = array
        chunk = 1 << 19
        for start in range(0, n, chunk):
            array.append(np.arange(start, start + chunk, dtype="f8"))
        transaction.commit()
        result["write_peak_over_baseline"] = peak[0] - baseline
        result["after_commit"] = rss_anon() - baseline
        connection.cacheMinimize()
        connection.close()
        db.close()
        db = open_db()
        connection = db.open()
        baseline = reset()
        array = connection.root()["array"]
        total = float(array[:].sum())
        maximum = float(array[:].max())
        result["reduce_peak_over_baseline"] = peak[0] - baseline

        # One transaction: a whole-array assignment from a memory-mapped source file
        # and a strided assignment (read-modify-write), each 4x the budget.
        source_path = path + "/source.f8"
        with open(source_path, "wb") as out:
            for start in range(0, n, chunk):
                (2.0 * np.arange(start, min(start + chunk, n))).tofile(out)
        source = np.memmap(source_path, dtype="f8", mode="r", shape=(n,))
        baseline = reset()
        array = connection.root()["array"]
        array[:] = source
        array[::3] = -1.0
        transaction.commit()
        result["assign_peak_over_baseline"] = peak[0] - baseline
        connection.cacheMinimize()
        view = array[:]
        result["assigned_ok"] = all(
            np.array_equal(
                view[s : s + chunk],
                np.where(np.arange(s, min(s + chunk, n)) % 3 == 0, -1.0, source[s : s + chunk]),
            )
            for s in range(0, n, chunk)
        )
        del view, source
    running[0] = False
    result.update(budget=budget, nbytes=array.nbytes, total=total, maximum=maximum, n=n)
    print(json.dumps(result))
    """
)


def test_write_and_reduce_four_times_the_budget_stay_under_it(tmp_path):
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    n = result["n"]
    assert result["nbytes"] == 4 * result["budget"]
    assert result["total"] == n * (n - 1) / 2
    assert result["maximum"] == n - 1
    assert result["write_peak_over_baseline"] < result["budget"], result
    assert result["reduce_peak_over_baseline"] < result["budget"], result
    assert result["assigned_ok"]
    assert result["assign_peak_over_baseline"] < result["budget"], result

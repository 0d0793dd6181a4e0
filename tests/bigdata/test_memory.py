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


VIEWS_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import numpy as np, transaction, ZODB
    from ZODB.FileStorage import FileStorage
    from Products.Wendelin.bigdata import ZBigArray, memory_budget

    def rss_anon():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    peak, running, lock = [0], [True], threading.Lock()
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

    path, budget = sys.argv[1], 32 * 1024 ** 2
    db = ZODB.DB(FileStorage(path + "/Data.fs", blob_dir=path + "/blobs"),
                 cache_size_bytes=budget // 4)
    connection = db.open()
    result = {}
    with memory_budget(budget):
        connection.root()["array"] = ZBigArray((4 * budget // 8,), "f8")
        transaction.commit()
        array = connection.root()["array"]
        n = len(array)
        step = budget // 4 // 8  # a quarter budget of items between savepoints (the
        # values written are a temporary of the same size)
        threading.Thread(target=sample, daemon=True).start()

        # One transaction writes 4x the budget through one view, a savepoint after each
        # quarter budget: dirty pages go to blob files and their memory is given back.
        baseline = reset()
        view = array[:]
        for start in range(0, n, step):
            view[start : start + step] = np.arange(start, start + step, dtype="f8")
            transaction.savepoint()
        transaction.commit()
        result["savepoint_peak_over_baseline"] = peak[0] - baseline
        result["written_ok"] = all(
            np.array_equal(view[s : s + step], np.arange(s, s + step, dtype="f8"))
            for s in range(0, n, step))

        # In place, through views of each part: A[i:j] *= 2 with savepoints.
        baseline = reset()
        for start in range(0, n, step):
            array[start : start + step] *= 2
            transaction.savepoint()
        transaction.commit()
        result["inplace_peak_over_baseline"] = peak[0] - baseline
        result["inplace_ok"] = bool(view[n - 1] == 2 * (n - 1) and view[1] == 2)

        # One augmented assignment over the whole array (4x the budget), no savepoint:
        # its blocks are claimed, written in new blob files rather than anonymous memory.
        baseline = reset()
        array[:] *= 2
        transaction.commit()
        result["claimed_peak_over_baseline"] = peak[0] - baseline
        result["claimed_ok"] = bool(view[n - 1] == 4 * (n - 1) and view[1] == 4)

        # A large write then an abort: the dirty memory is freed, the data unchanged.
        part = view[: n // 2]  # 2x the budget of dirty pages (more RAM than the budget,
        baseline = rss_anon()   # on purpose: nothing is written out before the abort)
        part[:] = -1.0
        result["dirty_before_abort"] = rss_anon() - baseline
        transaction.abort()
        result["after_abort"] = rss_anon() - baseline
        result["abort_ok"] = bool(view[0] == 0 and view[n // 2 - 1] == 4 * (n // 2 - 1))
        del view, part
    running[0] = False
    result.update(budget=budget, nbytes=array.nbytes)
    print(json.dumps(result))
    """
)


def test_writes_through_views_with_savepoints_stay_under_the_budget(tmp_path):
    """4x the budget written through views in one transaction, with savepoints, keeps
    anonymous memory under the budget, and so does ``A[:] *= 2`` over all of it without
    one (a claim); an abort frees what a large write dirtied."""
    output = subprocess.run(
        [sys.executable, "-c", VIEWS_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    budget = result["budget"]
    assert result["nbytes"] == 4 * budget
    assert result["written_ok"] and result["inplace_ok"] and result["abort_ok"], result
    assert result["claimed_ok"], result
    assert result["savepoint_peak_over_baseline"] < budget, result
    assert result["inplace_peak_over_baseline"] < budget, result
    assert result["claimed_peak_over_baseline"] < budget // 4, result
    assert result["dirty_before_abort"] >= 2 * budget * 0.9, result  # the write was in RAM
    assert result["after_abort"] < budget // 8, result

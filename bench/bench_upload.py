"""Upload benchmark: a multipart upload and a PUT of one file against ``dd conv=fdatasync``.

    python bench/bench_upload.py [--mib 1024] [--rounds 3]

One `wendelin run` on a temporary instance on the same disk as the file; each round runs
dd, the multipart upload (``DataStreamModule_upload``) and the PUT alternately; medians
of the seconds and the ratios of their speeds to dd's are printed as JSON, with the
server's RssAnon growth over the run and the bytes it wrote per PUT (``wchar``: 1.0x the
file when the body is written once). Both fdatasync the blob they adopt at commit, as
``dd conv=fdatasync`` does; ``put_synced_over_dd`` also times an fsync of the PUT's blob
file after the answer (it finds nothing left to write). A run writes about 4 times ``--mib`` per
round (replaced revisions stay until a pack), so the server keeps 2% of the disk free
(``WENDELIN_MIN_FREE_DISK``, 10% by default) unless the environment says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingestion import PASSWORD, Site  # noqa: E402


def rss_anon(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def written_chars(pid: int) -> int:
    """Bytes the process has written (write, pwrite and friends)."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def fsync_newest_blob(blobs: Path) -> None:
    """fsync the blob file written last (the PUT's: its bytes then are on the disk)."""
    newest = max(blobs.rglob("*.blob"), key=lambda path: path.stat().st_mtime)
    fd = os.open(newest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(command: list[str]) -> float:
    """Seconds ``command`` took; a failed request says the server's answer (a 413 when
    the disk keeps less free than WENDELIN_MIN_FREE_DISK, say)."""
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, errors="replace")
    took = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"{command[-1]}: exit {done.returncode}: "
                           f"{done.stdout[-500:]} {done.stderr[-500:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as work:
        source = Path(work) / "source.bin"
        with open(source, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(1 << 20))
        os.environ.setdefault("WENDELIN_MIN_FREE_DISK", "2%")
        site = Site("run", str(Path(work) / "instance"))
        auth = f"zope:{PASSWORD}"
        upload = f"{site.url}/data_stream_module/DataStreamModule_upload"
        curl = ["curl", "-sS", "--fail-with-body", "-u", auth, "-H", "Accept: application/json",
                "-H", f"Origin: {site.url.split('/erp5')[0]}"]
        subprocess.run([*curl, "-F", "file=@/etc/hostname;filename=warm.bin", upload],
                       check=True, capture_output=True)
        made = subprocess.run([*curl, "-F", f"file=@{source};filename=put.bin",
                               "-F", "reference=put-target", upload],
                              check=True, capture_output=True, text=True)
        target = json.loads(made.stdout)["url"]
        baseline = peak = rss_anon(site.process.pid)
        dd, multipart, put, synced, put_written = [], [], [], [], []
        blobs = Path(work) / "instance" / "var" / "blobs"
        try:
            for round_ in range(args.rounds):
                dd.append(timed(["dd", f"if={source}", f"of={Path(work) / 'dd.bin'}",
                                 "bs=4M", "conv=fdatasync"]))
                os.unlink(Path(work) / "dd.bin")
                multipart.append(timed([*curl, "-F",
                                        f"file=@{source};filename=up{round_}.bin", upload]))
                peak = max(peak, rss_anon(site.process.pid))
                written = written_chars(site.process.pid)
                put.append(timed([*curl, "-T", str(source), target]))
                put_written.append(written_chars(site.process.pid) - written)
                peak = max(peak, rss_anon(site.process.pid))
                began = time.perf_counter()
                timed([*curl, "-T", str(source), target])
                fsync_newest_blob(blobs)
                synced.append(time.perf_counter() - began)
        finally:
            site.stop()
        dd_s, mp_s, put_s, synced_s = (
            statistics.median(x) for x in (dd, multipart, put, synced))
        print(json.dumps({
            "mib": args.mib,
            "dd_fdatasync_mb_per_s": round(args.mib * 2**20 / dd_s / 1e6, 1),
            "multipart_mb_per_s": round(args.mib * 2**20 / mp_s / 1e6, 1),
            "put_mb_per_s": round(args.mib * 2**20 / put_s / 1e6, 1),
            "multipart_over_dd": round(dd_s / mp_s, 2),
            "put_over_dd": round(dd_s / put_s, 2),
            "put_synced_over_dd": round(dd_s / synced_s, 2),
            "put_written_over_size": round(statistics.median(put_written) / 2**20 / args.mib, 2),
            "rss_anon_growth_mib": round((peak - baseline) / 2**20, 1),
            "seconds": {"dd": dd, "multipart": multipart, "put": put, "put_synced": synced},
        }, indent=2))


if __name__ == "__main__":
    main()

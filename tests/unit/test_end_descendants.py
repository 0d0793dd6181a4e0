"""``end_descendants`` (cell processes without a pid namespace) says when it could not end
everything: a process that stays (frozen, or in an uninterruptible sleep) makes it report
incomplete, so its cell process retires instead of blaming the next cell."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from Products.Wendelin import processes


def test_a_process_that_stays_after_the_deadline_is_reported(monkeypatch):
    stayer = 999_999_999  # never really signalled: os.kill below ignores it
    real_kill = os.kill
    monkeypatch.setattr(processes, "child_pids",
                        lambda pid: {stayer} if pid == os.getpid() else set())
    monkeypatch.setattr(processes, "is_running", lambda pid: pid == stayer)
    monkeypatch.setattr(processes.os, "kill",
                        lambda pid, sig: None if pid == stayer else real_kill(pid, sig))
    monkeypatch.setattr(processes, "_reap_all_but", lambda spare: None)
    started = time.monotonic()
    ended, complete = processes.end_descendants(wait=0.2)
    assert ended == {stayer} and complete is False
    assert time.monotonic() - started < 5  # bounded by its wait, not looping on


def test_children_and_their_daemons_end_and_are_counted_once():
    """In a process of its own (a subreaper ends every child: not the test runner's)."""
    code = (
        "import subprocess, sys, time\n"
        "from Products.Wendelin import processes\n"
        "assert processes.become_subreaper()\n"
        "child = subprocess.Popen(['sh', '-c', 'setsid sleep 301 & sleep 302'])\n"
        "done = subprocess.Popen(['true'])\n"
        "time.sleep(0.5)\n"
        "ended, complete = processes.end_descendants()\n"
        "print(complete, child.pid in ended, done.pid in ended, len(ended))\n"  # sh, its two sleeps
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["True", "True", "False", "3"], result

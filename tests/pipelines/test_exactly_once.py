"""Exactly once across a SIGKILL: a killed server loses no activity and repeats none."""

from __future__ import annotations

import signal

from pipelines_conftest import Portal

COUNT = 300
FIND = "s = portal.portal_catalog.getResultValue(portal_type='Data Stream', reference='kill')"


def test_sigkill_during_activities_then_restart_gives_each_append_exactly_once(make_server):
    """300 serialised appends (each an activity); the server is SIGKILLed while they run;
    after a restart the stream holds every append once, in order: the killed process's
    claim is taken again and its uncommitted work never happened."""
    server = make_server()
    server.start()
    portal = Portal(server)
    portal.run("from Products.Wendelin.activity import activate\n"
               "s = portal.data_stream_module.newContent(reference='kill')\n"
               f"for i in range({COUNT}):\n"
               "    activate(s, serialization_tag='kill').appendData(b'%d,' % i)")
    portal.wait(lambda: portal.status()["processed"] >= 40, 120, "some appends")
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.process = None
    server.start()
    portal = Portal(server)
    assert portal.status()["queued"] + portal.status()["running"] > 0  # work was left
    expected = "".join(f"{i}," for i in range(COUNT))
    portal.wait(lambda: portal.value("s.getSize()", FIND) >= len(expected), 180, "all appends")
    portal.wait_idle()
    assert portal.value("s.getData().decode()", FIND) == expected
    assert portal.status()["failed"] == 0

"""The activity engine against the real server: durable, ordered, retried, visible."""

from __future__ import annotations

import re

from Products.Wendelin.activity.queue import BOOT, Message
from Products.Wendelin.activity.runner import is_stale, pick_candidates

NEW_STREAM = (
    "s = portal.data_stream_module.newContent(reference={ref!r})\n"
    "from Products.Wendelin.activity import activate\n"
)


def _message(key: str, serial: str = "", tag: str = "", after: str = "", at: float = 0.0,
             claim: tuple | None = None) -> Message:
    message = Message(key, "p", "m", (), {}, None, 1, at, serial, tag, after)
    if claim is not None:
        message.state, message.claim = "claimed", claim
    return message


def test_scheduling_rules_serialise_tags_wait_for_after_tags_and_take_over_stale_claims():
    """Serialised messages go one at a time in order, ``after_tag`` waits for its tag, claims
    of a dead process (same node, other boot, or past the lease) are free again."""
    live = ("node", BOOT, "t", 100.0)
    dead = ("node", "an-earlier-boot", "t", 100.0)
    messages = {
        "1": _message("1", serial="a", claim=live),
        "2": _message("2", serial="a"),
        "3": _message("3", serial="b", at=500.0),
        "4": _message("4", serial="b"),
        "5": _message("5", after="x"),
        "6": _message("6", tag="x"),
        "7": _message("7", claim=dead),
    }
    assert pick_candidates(messages, "node", 3600, 200.0, limit=10) == ["6", "7"]
    assert is_stale(dead, "node", 3600, 200.0)
    assert not is_stale(live, "node", 3600, 200.0)
    assert is_stale(live, "node", 50, 200.0)
    assert not is_stale(("other-node", "x", "t", 100.0), "node", 3600, 200.0)
    del messages["6"]
    assert pick_candidates(messages, "node", 3600, 200.0, limit=10) == ["5", "7"]


def test_a_queued_call_runs_in_the_background_and_an_aborted_one_never_exists(portal):
    """A message exists iff its transaction committed: the one queued by a failed cell is
    gone with it; the next one, queued after it under the same serialisation tag, runs."""
    portal.run(NEW_STREAM.format(ref="act-abort") +
               "activate(s, serialization_tag='act-abort').appendData(b'lost')\n"
               "raise ValueError('abort the cell')", expect_ok=False)
    assert portal.value(
        "portal.portal_activities.countMessages(tag='act-abort')") == 0
    portal.run(
        "s = portal.portal_catalog.getResultValue(portal_type='Data Stream', "
        "reference='act-abort')\n"
        "assert s is None\n" + NEW_STREAM.format(ref="act-kept") +
        "activate(s, serialization_tag='act-abort').appendData(b'kept')")
    find = ("s = portal.portal_catalog.getResultValue(portal_type='Data Stream', "
            "reference='act-kept')")
    portal.wait(lambda: portal.value("s.getSize()", find) == 4, 60, "the kept append")
    assert portal.value("s.getData().decode()", find) == "kept"


def test_one_serialisation_tag_runs_in_queue_order_exactly_once(portal):
    """Forty appends to one stream with one tag, over two threads: each once, in order."""
    portal.run(NEW_STREAM.format(ref="act-order") +
               "for i in range(40):\n"
               "    activate(s, serialization_tag='act-order').appendData(b'%d,' % i)")
    find = ("s = portal.portal_catalog.getResultValue(portal_type='Data Stream', "
            "reference='act-order')")
    expected = "".join(f"{i}," for i in range(40))
    portal.wait(lambda: portal.value("s.getSize()", find) >= len(expected), 120, "40 appends")
    portal.wait_idle()
    assert portal.value("s.getData().decode()", find) == expected


def test_a_failing_activity_is_retried_then_kept_with_its_traceback_and_retried_by_post(
        portal, ui):
    """A call on a missing object fails 3 times (backoff), is listed as failed with its
    traceback on the page; Retry needs POST and the CSRF token; retried once the object
    exists, it runs."""
    portal.run("portal.portal_activities.queueMessage('data_stream_module/act-later', "
               "'appendData', (b'late',), tag='act-fail')")
    page_url = f"{portal.url}/portal_activities/view"
    failed = portal.wait(lambda: [m for m in portal.value(
        "portal.portal_activities.getFailedMessageList()") if m["tag"] == "act-fail"], 120,
        "the failure")[0]
    assert failed["attempts"] == 3
    assert "act-later" in failed["traceback"] and "Traceback" in failed["traceback"]
    browser = ui.login()
    page = browser.get(page_url)
    assert page.status_code == 200
    assert "act-later" in page.text and failed["error"].split(":")[0] in page.text
    assert browser.get(f"{portal.url}/portal_activities/retry", params={"key": failed["key"]}
                       ).status_code in (403, 404, 405)
    refused = browser.post(f"{portal.url}/portal_activities/retry", data={"key": failed["key"]},
                           allow_redirects=False)
    assert refused.status_code == 403
    assert portal.value("portal.portal_activities.countFailedMessages()") >= 1
    portal.run("portal.data_stream_module.newContent(id='act-later', reference='act-later')")
    token = re.search(r'name="_csrf" value="([0-9a-f]+)"', browser.get(page_url).text).group(1)
    answer = browser.post(f"{portal.url}/portal_activities/retry",
                          data={"key": failed["key"], "_csrf": token}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    portal.wait(lambda: portal.value(
        "portal.data_stream_module['act-later'].getSize()") == 4, 60, "the retried append")
    assert failed["key"] not in [m["key"] for m in portal.value(
        "portal.portal_activities.getFailedMessageList()")]


def test_the_alarm_fires_every_period(portal):
    """With WENDELIN_ALARM_PERIOD=1 the analysis alarm keeps firing on its own."""
    first = portal.wait(lambda: portal.value(
        "[a['last_date'] for a in portal.portal_activities.getAlarmList()]"), 30, "an alarm")
    portal.wait(lambda: portal.value(
        "[a['last_date'] for a in portal.portal_activities.getAlarmList()]")[0] > first[0] + 1,
        30, "the next alarm")


def test_what_an_activity_reindexes_is_in_the_catalog_when_it_is_done(portal):
    """CMF queues reindexing until the thread's default transaction commits; activities
    commit their own transaction, so the runner applies the queue before committing."""
    portal.run(NEW_STREAM.format(ref="act-reindex") +
               "activate(s, tag='act-reindex').edit(title='retitled-by-an-activity')")
    portal.wait(lambda: portal.value(
        "portal.portal_activities.countMessages(tag='act-reindex')") == 0, 60, "the activity")
    assert portal.value(
        "len(portal.portal_catalog(title='retitled-by-an-activity'))") == 1

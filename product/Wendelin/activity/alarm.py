"""Alarms: periodic work queued as activities, fired once per period across the cluster.

An alarm's next date is a persistent object in ``portal_activities``; the activity thread
that finds it due moves it one period on and queues the alarm's activity in the same
transaction, so two nodes firing together conflict and only one commits. The activity
itself runs like any other (durable, retried), serialised per alarm.
"""

from __future__ import annotations

import time
from typing import Any

from persistent import Persistent

#: Alarm id -> (tool method run by the activity, its argument). ERP5's names.
ALARMS = {"wendelin_handle_analysis": "handle_analysis"}


class AlarmState(Persistent):
    """When an alarm fires next, and when it last did."""

    def __init__(self) -> None:
        self.next_date = 0.0
        self.last_date = 0.0
        self.enabled = True


def fire_due_alarms(portal: Any, tool: Any, period: float, now: float | None = None) -> bool:
    """Queue the activity of each alarm that is due (in the caller's transaction).

    Returns whether anything was written. An alarm whose previous activity is still
    queued is not queued twice.
    """
    now = time.time() if now is None else now
    changed = False
    for alarm_id in ALARMS:
        state = tool._alarms.get(alarm_id)
        if state is None:
            state = tool._alarms[alarm_id] = AlarmState()
            state.next_date = now  # first start: run at once
            changed = True
        if not state.enabled or state.next_date > now:
            continue
        state.next_date = now + period
        state.last_date = now
        changed = True
        tag = f"alarm:{alarm_id}"
        if tool.countMessages(tag=tag) == 0:
            tool.queueMessage(TOOL_PATH, "runAlarm", (alarm_id,), serialization_tag=tag,
                              tag=tag, user_id=None)
    return changed


TOOL_PATH = "portal_activities"


def run_alarm(portal: Any, alarm_id: str) -> Any:
    """Do an alarm's work now (inside an activity or a request)."""
    if alarm_id not in ALARMS:
        raise KeyError(alarm_id)
    from . import analysis

    return getattr(analysis, ALARMS[alarm_id])(portal)

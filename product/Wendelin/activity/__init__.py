"""Durable background activities: a transactional queue in ZODB and the threads that run it.

:mod:`.queue` holds ``portal_activities`` (messages in a BTree, queued in the caller's
transaction, so a message exists if and only if that transaction committed);
:mod:`.runner` the activity threads each Zope process starts (one transaction per
message, the message removed in the same transaction as the work); :mod:`.alarm` the
periodic alarm that creates and runs Data Analyses.
"""

from . import scripts  # noqa: F401  (declares what pipeline skin scripts may import)
from .queue import ActivityTool, activate, ensure_activity_tool, get_activity_tool

__all__ = ["ActivityTool", "activate", "ensure_activity_tool", "get_activity_tool"]

"""``portal_activities``: the durable activity queue, kept in ZODB.

A message (call ``method_id(*args, **kw)`` on the object at ``path``, as the user who
queued it) is inserted into a BTree by the transaction that queues it, so it exists if and
only if that transaction commits. Keys are ``priority.time.random``: concurrent inserts
never pick the same key and BTree conflict resolution merges them. A worker claims a
message by writing the message object itself (two claims conflict, one loses), then runs
the work and deletes the message in one transaction: killed in between, nothing of the
work is committed and the message is still there, claimed by a process that no longer
exists, so it is retried. Failures are retried with exponential backoff, then moved to
the failed messages with their traceback (retryable from the page).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

import transaction
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_base, aq_inner
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from DateTime import DateTime
from OFS.SimpleItem import SimpleItem
from persistent import Persistent
from ZPublisher import zpublish

from ..document.base import ACTIVITY_TOOL_ID, activate  # noqa: F401  (re-exported)
from ..errors import InvalidInputError, StateConflictError
from ..permissions import ManagePortal, ModifyPortalContent, View

TOOL_ID = ACTIVITY_TOOL_ID
#: Process identity: a claim made by another life of this node is stale.
BOOT = uuid.uuid4().hex
DEFAULT_PRIORITY = 1
MAX_TRACEBACK = 20_000

#: Set when a transaction that queued messages commits: wakes this process's workers.
wakeup = threading.Event()


def node_name() -> str:
    """This process's stable name (host and instance directory): survives restarts."""
    home = os.environ.get("WENDELIN_VAR") or os.environ.get("WENDELIN_INSTANCE") or os.getcwd()
    return f"{socket.gethostname()}:{os.path.realpath(home)}"


class Message(Persistent):
    """One queued call; its own ZODB object, so claims and completions of it conflict."""

    state = "queued"  # queued, claimed, failed
    claim: tuple | None = None  # (node, boot, token, time)
    attempts = 0
    error = ""
    traceback = ""
    failed_at = 0.0

    def __init__(self, key: str, path: str, method_id: str, args: tuple, kw: dict,
                 user_id: str | None, priority: int, at_date: float,
                 serialization_tag: str, tag: str, after_tag: str) -> None:
        self.key = key
        self.path = path
        self.method_id = method_id
        self.args = tuple(args)
        self.kw = dict(kw)
        self.user_id = user_id
        self.priority = priority
        self.at_date = at_date
        self.serialization_tag = serialization_tag
        self.tag = tag
        self.after_tag = after_tag
        self.queued_at = time.time()

    def describe(self) -> dict[str, Any]:
        """What the page and the JSON status show of the message."""
        claim = self.claim
        return {
            "key": self.key,
            "path": self.path,
            "method_id": self.method_id,
            "args": repr(self.args)[:200],
            "user": self.user_id or "",
            "priority": self.priority,
            "state": self.state,
            "attempts": self.attempts,
            "at_date": self.at_date,
            "queued_at": self.queued_at,
            "serialization_tag": self.serialization_tag,
            "tag": self.tag,
            "node": claim[0] if claim else "",
            "error": self.error,
            "traceback": self.traceback,
        }


def _wake_after_commit(status: bool) -> None:
    if status:
        wakeup.set()


def _check_tag(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInputError(f"{name} must be a text of at most 200 characters")
    return value


class ActivityTool(SimpleItem):
    """The queue of background activities of the portal (``portal_activities``)."""

    meta_type = "Wendelin Activity Tool"
    portal_type = "Activity Tool"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def __init__(self, id: str = TOOL_ID) -> None:
        self.id = id
        self.title = "Activities"
        self._messages = OOBTree()
        self._failed = OOBTree()
        self._processed = Length()
        self._processed_by = OOBTree()  # node name -> Length: who runs the activities
        self._alarms = OOBTree()  # alarm id -> AlarmState (see .alarm)

    # -- queueing (trusted code) -----------------------------------------------------------
    security.declarePrivate("queueMessage")

    def queueMessage(self, path: str, method_id: str, args: tuple = (), kw: dict | None = None,
                     priority: int = DEFAULT_PRIORITY, at_date: float | None = None,
                     after: float | None = None, serialization_tag: str | None = None,
                     tag: str | None = None, after_tag: str | None = None,
                     user_id: str | None = "") -> str:
        """Queue ``method_id`` on the object at ``path`` (below the portal) in this
        transaction; returns the message key. ``after`` delays by seconds."""
        if not isinstance(method_id, str) or not method_id or method_id.startswith("_"):
            raise InvalidInputError(f"cannot queue method {method_id!r}")
        priority = max(0, min(999, int(priority)))
        now = time.time()
        due = float(at_date) if at_date is not None else now
        if after:
            due = max(due, now + float(after))
        if user_id == "":
            user = getSecurityManager().getUser()
            user_id = None if user is None else user.getId()
        key = f"{priority:03d}.{time.time_ns():020d}.{uuid.uuid4().hex[:12]}"
        self._messages[key] = Message(
            key, path, method_id, args, kw or {}, user_id, priority, due,
            _check_tag("serialization_tag", serialization_tag), _check_tag("tag", tag),
            _check_tag("after_tag", after_tag),
        )
        txn = transaction.get()
        if not getattr(txn, "_wendelin_wakes", False):
            txn._wendelin_wakes = True
            txn.addAfterCommitHook(_wake_after_commit)
        return key

    security.declarePrivate("activateObject")

    def activateObject(self, obj: Any, **options: Any) -> ActiveWrapper:
        """``activateObject(doc, priority=...).method(*args)`` queues ``method`` on ``doc``."""
        return ActiveWrapper(self, _portal_path(obj), options)

    # -- reading -----------------------------------------------------------------------
    @security.protected(View)
    def getMessageList(self, limit: int = 200) -> list[dict[str, Any]]:
        """Queued and running messages in processing order (at most ``limit``)."""
        found = []
        for _key, message in self._messages.items():
            found.append(message.describe())
            if len(found) >= limit:
                break
        return found

    @security.protected(View)
    def getFailedMessageList(self, limit: int = 200) -> list[dict[str, Any]]:
        """Failed messages, newest first, with their tracebacks."""
        found = [message.describe() for message in self._failed.values()]
        found.sort(key=lambda m: m["key"], reverse=True)
        return found[:limit]

    @security.protected(View)
    def countMessages(self, method_id: str | None = None, tag: str | None = None,
                      path: str | None = None) -> int:
        """Number of queued or running messages (optionally of one method, tag or path)."""
        count = 0
        for message in self._messages.values():
            if method_id is not None and message.method_id != method_id:
                continue
            if tag is not None and tag not in (message.tag, message.serialization_tag):
                continue
            if path is not None and message.path != path:
                continue
            count += 1
        return count

    @security.protected(View)
    def countFailedMessages(self) -> int:
        """Number of messages kept as failed."""
        return len(self._failed)

    @security.protected(View)
    def getProcessedCount(self) -> int:
        """Messages processed successfully since the tool was created."""
        return self._processed()

    security.declarePrivate("countProcessed")

    def countProcessed(self, node: str) -> None:
        """Count one message done by ``node`` (in the work transaction; Lengths merge)."""
        self._processed.change(1)
        by_node = getattr(aq_base(self), "_processed_by", None)
        if by_node is None:
            by_node = self._processed_by = OOBTree()
        counter = by_node.get(node)
        if counter is None:
            counter = by_node[node] = Length()
        counter.change(1)

    @security.protected(View)
    def getProcessedCountByNode(self) -> dict[str, int]:
        """``{node: messages it processed}``: which processes run activities (a node is a
        host and instance directory, so a restarted worker keeps its count)."""
        by_node = getattr(aq_base(self), "_processed_by", None) or {}
        return {node: counter() for node, counter in by_node.items()}

    @security.protected(View)
    def getStatus(self) -> dict[str, Any]:
        """Counts for operators and tests: queued, running, failed, processed (in all and
        by node)."""
        queued = running = 0
        for message in self._messages.values():
            if message.state == "claimed":
                running += 1
            else:
                queued += 1
        return {"queued": queued, "running": running, "failed": len(self._failed),
                "processed": self._processed(), "processed_by": self.getProcessedCountByNode()}

    @security.protected(View)
    def status_json(self, REQUEST=None) -> str:
        """The status counts as JSON (GET)."""
        import json

        if REQUEST is not None:
            REQUEST.RESPONSE.setHeader("Content-Type", "application/json")
        return json.dumps(self.getStatus())

    # -- operator actions --------------------------------------------------------------
    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def retryMessage(self, key: str) -> None:
        """Put a failed message back in the queue, due now, with its attempts reset."""
        message = self._failed.get(key) if isinstance(key, str) else None
        if message is None:
            raise StateConflictError(f"no failed message {str(key)[:80]!r}")
        del self._failed[key]
        message.state, message.claim, message.attempts = "queued", None, 0
        message.at_date = time.time()
        self._messages[key] = message
        txn = transaction.get()
        if not getattr(txn, "_wendelin_wakes", False):
            txn._wendelin_wakes = True
            txn.addAfterCommitHook(_wake_after_commit)

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def deleteFailedMessage(self, key: str) -> None:
        """Forget a failed message."""
        if not isinstance(key, str) or key not in self._failed:
            raise StateConflictError(f"no failed message {str(key)[:80]!r}")
        del self._failed[key]

    @security.protected(ManagePortal)
    @zpublish(False)
    def clearQueue(self) -> int:
        """Drop every queued message (tests, emergencies); returns how many."""
        count = len(self._messages)
        self._messages.clear()
        return count

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def runAlarm(self, alarm_id: str) -> Any:
        """Do the work of an alarm now (what its periodic activity calls)."""
        from .alarm import run_alarm

        return run_alarm(self.getPortalObject(), alarm_id)

    @security.protected(View)
    def getAlarmList(self) -> list[dict[str, Any]]:
        """The alarms: id, next and last dates (seconds since the epoch)."""
        return [{"id": alarm_id, "next_date": state.next_date, "last_date": state.last_date}
                for alarm_id, state in self._alarms.items()]

    @security.protected(View)
    def getPageInfo(self, REQUEST=None) -> dict[str, Any]:
        """What the activities page shows: counts, alarms, queue, failures, CSRF token."""
        from ..humanize import human_date
        from ..site.users import csrf_token

        def when(seconds: float) -> str:
            return human_date(DateTime(seconds)) if seconds else ""

        request = REQUEST if REQUEST is not None else getattr(self, "REQUEST", None)
        queued = self.getMessageList()
        failed = self.getFailedMessageList()
        for row in queued + failed:
            row["due"] = when(row["at_date"])
            row["queued"] = when(row["queued_at"])
        code = request.form.get("status", "") if request is not None else ""
        messages = {"retried": "The activity was queued again.",
                    "deleted": "The failed activity was deleted."}
        return {
            "status": self.getStatus(),
            "alarms": [{**alarm, "next": when(alarm["next_date"]), "last": when(alarm["last_date"])}
                       for alarm in self.getAlarmList()],
            "queued": queued,
            "failed": failed,
            "url": self.absolute_url(),
            "csrf": csrf_token(self, request) if request is not None else "",
            "can_retry": bool(getSecurityManager().checkPermission(ModifyPortalContent, self)),
            "message": messages.get(code, "") if isinstance(code, str) else "",
        }

    @security.protected(ModifyPortalContent)
    @zpublish(methods="POST")
    def retry(self, REQUEST, key: str = "") -> str:
        """The page's Retry button (POST with the CSRF token): 303 back to the page."""
        from ..site.users import check_csrf

        check_csrf(self, REQUEST)
        self.retryMessage(key)
        REQUEST.RESPONSE.redirect(f"{self.absolute_url()}/view?status=retried", status=303)
        return ""

    @security.protected(ModifyPortalContent)
    @zpublish(methods="POST")
    def delete(self, REQUEST, key: str = "") -> str:
        """The page's Delete button for a failed activity (POST, CSRF): 303 back."""
        from ..site.users import check_csrf

        check_csrf(self, REQUEST)
        self.deleteFailedMessage(key)
        REQUEST.RESPONSE.redirect(f"{self.absolute_url()}/view?status=deleted", status=303)
        return ""

    # -- pages ---------------------------------------------------------------------------
    @security.protected(View)
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The activities page."""
        return self.ActivityTool_view()

    @security.protected(View)
    def view(self, REQUEST=None, RESPONSE=None):
        """The activities page under its ERP5 name."""
        return self.ActivityTool_view()

    @security.protected(View)
    def getTitle(self) -> str:
        return self.title

    @security.protected(View)
    def getPortalType(self) -> str:
        return self.portal_type


InitializeClass(ActivityTool)


class ActiveWrapper:
    """What ``activate()`` returns: any attribute is a method whose call queues itself."""

    def __init__(self, tool: ActivityTool, path: str, options: dict[str, Any]) -> None:
        self._tool, self._path, self._options = tool, path, options

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def queue(*args: Any, **kw: Any) -> str:
            return self._tool.queueMessage(self._path, name, args, kw, **self._options)

        return queue


def _portal_path(obj: Any) -> str:
    portal = aq_inner(obj).getPortalObject()
    prefix = len(portal.getPhysicalPath())
    return "/".join(obj.getPhysicalPath()[prefix:])


def get_activity_tool(context: Any) -> ActivityTool:
    """The portal's activity tool (raises StateConflictError if the site has none yet)."""
    portal = aq_inner(context).getPortalObject()
    tool = portal._getOb(TOOL_ID, None)
    if tool is None:
        raise StateConflictError("this site has no portal_activities yet (start the server)")
    return tool


def ensure_activity_tool(portal: Any) -> ActivityTool:
    """Create ``portal_activities`` when missing (server start, tests); returns it."""
    if portal._getOb(TOOL_ID, None) is None:
        portal._setObject(TOOL_ID, ActivityTool(TOOL_ID))
    tool = portal._getOb(TOOL_ID)
    if getattr(aq_base(tool), "_alarms", None) is None:
        tool._alarms = OOBTree()
    if getattr(aq_base(tool), "_processed_by", None) is None:
        tool._processed_by = OOBTree()
    return tool

"""Activity threads: each takes messages from ``portal_activities`` and runs them.

One message, two transactions: the claim (a write of the message object: two workers
claiming it conflict and one gives up) and the work, which deletes the message and runs
the call in the same transaction. A process killed during the work never commits it;
at its next start (same node name, new boot id) its claims are stale and taken again;
another node takes them after the lease (``WENDELIN_ACTIVITY_LEASE``). Between
messages a thread sleeps ``WENDELIN_ACTIVITY_POLL`` seconds unless a local commit that
queued messages wakes it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

import transaction
from AccessControl.SecurityManagement import newSecurityManager, noSecurityManager
from AccessControl.users import UnrestrictedUser
from Products.CMFCore.indexing import getQueue, processQueue
from ZODB.POSException import ConflictError
from zope.component.hooks import setSite

from ..errors import ConfigurationError
from .queue import BOOT, MAX_TRACEBACK, TOOL_ID, Message, ensure_activity_tool, node_name, wakeup

logger = logging.getLogger("Wendelin.activity")

SITE_ID = "erp5"
SCAN_LIMIT = 5000
CONFLICT_RETRIES = 5


def _env_float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    text = env.get(name, "")
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number: {text!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}: {text!r}")
    return value


@dataclass(frozen=True)
class ActivitySettings:
    """How this process runs activities (``WENDELIN_ACTIVITY_*``, ``WENDELIN_ALARM_PERIOD``)."""

    enabled: bool = True
    threads: int = 2
    poll: float = 1.0
    retries: int = 5
    backoff: float = 1.0
    lease: float = 3600.0
    alarm_period: float = 300.0

    @classmethod
    def from_environ(cls, env: dict[str, str] | None = None) -> ActivitySettings:
        """Read and validate the settings; ``WENDELIN_ACTIVITY_WORKERS`` selects processes:
        ``all`` (default), ``none``, or worker numbers ``1,3`` (``WENDELIN_WORKER``, else the
        ``workers/<n>`` directory ``make cluster`` gives each worker; a lone server is 1)."""
        env = dict(os.environ if env is None else env)
        selection = (env.get("WENDELIN_ACTIVITY_WORKERS") or "all").strip().lower()
        number = worker_number(env)
        if selection == "all":
            enabled = True
        elif selection in ("none", "0", "off"):
            enabled = False
        else:
            try:
                chosen = {int(part) for part in selection.replace(" ", "").split(",") if part}
            except ValueError:
                raise ConfigurationError(
                    f"WENDELIN_ACTIVITY_WORKERS must be all, none or worker numbers: {selection!r}"
                ) from None
            enabled = number in chosen
        return cls(
            enabled=enabled,
            threads=int(_env_float(env, "WENDELIN_ACTIVITY_THREADS", 2, 1)),
            poll=_env_float(env, "WENDELIN_ACTIVITY_POLL", 1.0, 0.01),
            retries=int(_env_float(env, "WENDELIN_ACTIVITY_RETRIES", 5, 1)),
            backoff=_env_float(env, "WENDELIN_ACTIVITY_BACKOFF", 1.0, 0.0),
            lease=_env_float(env, "WENDELIN_ACTIVITY_LEASE", 3600.0, 1.0),
            alarm_period=_env_float(env, "WENDELIN_ALARM_PERIOD", 300.0, 0.1),
        )


def worker_number(env: dict[str, str]) -> int:
    """This process's worker number: ``WENDELIN_WORKER``, else from ``.../workers/<n>``."""
    text = (env.get("WENDELIN_WORKER") or "").strip()
    if text.isdigit():
        return int(text)
    home = os.path.realpath(env.get("WENDELIN_INSTANCE") or ".")
    parent, name = os.path.split(home)
    if name.isdigit() and os.path.basename(parent) == "workers":
        return int(name)
    return 1


def is_stale(claim: tuple | None, node: str, lease: float, now: float) -> bool:
    """Whether a claim was left by a dead process: this node's earlier life, or too old."""
    if claim is None:
        return True
    claim_node, claim_boot, _token, claimed_at = claim
    if claim_node == node and claim_boot != BOOT:
        return True
    return now - claimed_at > lease


def pick_candidates(messages: Any, node: str, lease: float, now: float,
                    limit: int = 4) -> list[str]:
    """Keys of messages this worker may claim now, best first (a few, to spread claims).

    Serialised messages run one at a time per tag, in queue order; ``after_tag`` waits
    while any other message carrying that tag is queued or running.
    """
    entries = []
    busy: set[str] = set()
    tags: dict[str, int] = {}
    for index, (key, message) in enumerate(messages.items()):
        if index >= SCAN_LIMIT:
            break
        running = message.state == "claimed" and not is_stale(message.claim, node, lease, now)
        if running and message.serialization_tag:
            busy.add(message.serialization_tag)
        for tag in {message.tag, message.serialization_tag} - {""}:
            tags[tag] = tags.get(tag, 0) + 1
        entries.append((key, message, running))
    found: list[str] = []
    for key, message, running in entries:
        serial = message.serialization_tag
        if running or message.at_date > now:
            if serial:
                busy.add(serial)  # later messages of the tag wait for this one
            continue
        if serial and serial in busy:
            continue
        if serial:
            busy.add(serial)
        after = message.after_tag
        own = int(after in (message.tag, message.serialization_tag))
        if after and tags.get(after, 0) > own:
            continue
        found.append(key)
        if len(found) >= limit:
            break
    return found


class Worker(threading.Thread):
    """One activity thread with its own ZODB connection and transaction manager."""

    def __init__(self, db: Any, settings: ActivitySettings, index: int,
                 stopping: threading.Event, alarms: bool) -> None:
        super().__init__(name=f"wendelin-activity-{index}", daemon=True)
        self.db = db
        self.settings = settings
        self.stopping = stopping
        self.alarms = alarms
        self.node = node_name()
        self.tm = transaction.TransactionManager(explicit=False)
        self.connection: Any = None  # a ZODB connection while running
        self.next_alarm_check = 0.0

    def run(self) -> None:
        self.connection = self.db.open(transaction_manager=self.tm)
        try:
            while not self.stopping.is_set():
                try:
                    worked = self.step()
                except Exception:  # noqa: BLE001  (a worker thread never dies of one error)
                    logger.exception("activity worker error")
                    self._abort()
                    worked = False
                if not worked:
                    wakeup.wait(self.settings.poll)
                    wakeup.clear()
        finally:
            self._abort()
            self.connection.close()

    def _commit(self) -> None:
        """Commit this thread's activity transaction, CMF's queued reindexing included.

        CMF queues ``reindexObject`` until the *default* transaction commits; activities
        commit their own transaction manager, so the queue is applied here first."""
        processQueue()
        self.tm.commit()

    def _abort(self) -> None:
        getQueue().clear()  # reindexing queued by the aborted work must not outlive it
        try:
            self.tm.abort()
        except Exception:  # noqa: BLE001
            logger.exception("abort failed")
        noSecurityManager()
        setSite(None)

    def _portal(self) -> Any:
        from Testing.makerequest import makerequest

        app = makerequest(self.connection.root()["Application"])
        portal = app._getOb(SITE_ID)
        setSite(portal)
        return portal

    def step(self) -> bool:
        """Claim and run one message; False when there was nothing to do."""
        self.tm.begin()
        portal = self._portal()
        tool = portal._getOb(TOOL_ID)
        now = time.time()
        if self.alarms and now >= self.next_alarm_check:
            self.next_alarm_check = now + min(1.0, self.settings.alarm_period / 2)
            if self._fire_alarms(portal, tool, now):
                return True
        candidates = pick_candidates(tool._messages, self.node, self.settings.lease, now)
        if not candidates:
            self.tm.abort()
            return False
        key = random.choice(candidates[:2])
        message = tool._messages[key]
        token = uuid.uuid4().hex
        message.claim = (self.node, BOOT, token, now)
        message.state = "claimed"
        try:
            self._commit()
        except ConflictError:
            self.tm.abort()
            return True  # another worker took it: look again at once
        self._run(key, token)
        return True

    def _fire_alarms(self, portal: Any, tool: Any, now: float) -> bool:
        from .alarm import fire_due_alarms

        if not fire_due_alarms(portal, tool, self.settings.alarm_period, now):
            return False
        try:
            self._commit()
        except ConflictError:
            self.tm.abort()  # another node fired it
        return True

    def _run(self, key: str, token: str) -> None:
        """The work transaction of a claimed message, retried on write conflicts."""
        for _attempt in range(CONFLICT_RETRIES):
            self.tm.begin()
            portal = self._portal()
            tool = portal._getOb(TOOL_ID)
            message = tool._messages.get(key)
            if message is None or message.claim is None or message.claim[2] != token:
                self.tm.abort()
                return  # taken over by another worker after our lease ran out
            try:
                self._call(portal, message)
                del tool._messages[key]
                message.state = "done"  # writes the message: a concurrent claim conflicts
                tool.countProcessed(self.node)
                self._commit()
                return
            except ConflictError:
                self._abort()
                time.sleep(random.uniform(0.01, 0.1))
                continue
            except Exception as error:  # noqa: BLE001  (recorded on the message)
                text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
                self._abort()
                self._record_failure(key, token, f"{type(error).__name__}: {error}", text)
                return
        # Contention is not a failure: queued again shortly, without using an attempt.
        self._record_failure(key, token, "ConflictError: too many write conflicts", "",
                             count=False)

    def _call(self, portal: Any, message: Message) -> Any:
        user = _user(portal, message.user_id)
        newSecurityManager(None, user)
        target = portal.unrestrictedTraverse(message.path) if message.path else portal
        method = getattr(target, message.method_id)
        return method(*message.args, **message.kw)

    def _record_failure(self, key: str, token: str, error: str, text: str,
                        count: bool = True) -> None:
        """Count the attempt: queue again after a backoff, or keep it as failed."""
        logger.warning("activity %s failed: %s", key, error)
        for _attempt in range(CONFLICT_RETRIES):
            self.tm.begin()
            portal = self._portal()
            tool = portal._getOb(TOOL_ID)
            message = tool._messages.get(key)
            if message is None or message.claim is None or message.claim[2] != token:
                self.tm.abort()
                return
            message.attempts += 1 if count else 0
            message.error = error[:2000]
            message.traceback = text[-MAX_TRACEBACK:]
            message.claim = None
            if not count:
                message.state = "queued"
                message.at_date = time.time() + random.uniform(0.05, 0.5)
            elif message.attempts >= self.settings.retries:
                message.state = "failed"
                message.failed_at = time.time()
                del tool._messages[key]
                tool._failed[key] = message
            else:
                message.state = "queued"
                message.at_date = time.time() + self.settings.backoff * 2 ** (message.attempts - 1)
            try:
                self._commit()
                return
            except ConflictError:
                self._abort()
        logger.error("could not record the failure of activity %s", key)


#: Who runs messages queued by the system (alarms): unrestricted, and a Manager for the
#: catalog, which filters results by roles (Zope's own system user has none it knows).
SYSTEM = UnrestrictedUser("Wendelin Activities", "", ("Manager",), [])


def _user(portal: Any, user_id: str | None) -> Any:
    """The user a message runs as (SYSTEM for messages queued by the system)."""
    if user_id:
        for folder in (portal.acl_users, portal.getPhysicalRoot().acl_users):
            user = folder.getUserById(user_id)
            if user is not None:
                return user.__of__(folder)
    return SYSTEM


class ActivityRunner:
    """The activity threads of this process; ``stop()`` ends them."""

    def __init__(self, db: Any, settings: ActivitySettings) -> None:
        self.db = db
        self.settings = settings
        self.stopping = threading.Event()
        self.workers: list[Worker] = []

    def start(self) -> ActivityRunner:
        """Create ``portal_activities`` if missing, then start the threads (if enabled)."""
        ensure_tool(self.db)
        if not self.settings.enabled:
            logger.info("activities are not run by this process (WENDELIN_ACTIVITY_WORKERS=%s, "
                        "worker %d)", os.environ.get("WENDELIN_ACTIVITY_WORKERS", ""),
                        worker_number(dict(os.environ)))
            return self
        for index in range(self.settings.threads):
            worker = Worker(self.db, self.settings, index, self.stopping, alarms=index == 0)
            worker.start()
            self.workers.append(worker)
        logger.info("%d activity thread(s) started on %s", len(self.workers), node_name())
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the threads to stop after their current message, and wait for them."""
        self.stopping.set()
        wakeup.set()
        deadline = time.time() + timeout
        for worker in self.workers:
            worker.join(max(0.1, deadline - time.time()))
        self.workers = []


def ensure_tool(db: Any, attempts: int = 5) -> None:
    """Create the portal's activity tool in a transaction of its own (retried on conflict)."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        for attempt in range(attempts):
            tm.begin()
            portal = connection.root()["Application"]._getOb(SITE_ID, None)
            if portal is None:
                tm.abort()
                return
            ensure_activity_tool(portal)
            try:
                tm.commit()
                return
            except ConflictError:
                tm.abort()
                time.sleep(0.2 * (attempt + 1))
    finally:
        connection.close()


def start_activities(environ: dict[str, str] | None = None) -> ActivityRunner:
    """Server hook: start this process's activity threads on Zope's database."""
    import Zope2

    return ActivityRunner(Zope2.DB, ActivitySettings.from_environ(environ)).start()

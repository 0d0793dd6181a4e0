"""The ``wendelin`` command: configure an instance, prepare the site, serve it.

``wendelin run`` is what ``make run`` calls: it writes the instance configuration
from ``instance/*.in``, opens the database, creates ``/erp5`` and the administrator
on first start (upgrading the site when its business templates changed), prints the
URL and credentials and serves in the foreground until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path
from string import Template
from typing import Any

from ZODB.POSException import ConflictError

from .processes import READY, print_banner
from .settings import Settings, shipped_path

logger = logging.getLogger("Wendelin.server")

TEMPLATES = shipped_path("instance")
MAX_REQUEST_BODY = 1 << 40
#: Bytes waitress reads from a socket at once (its default, 8 KiB, costs a turn of its
#: loop, a select and a buffer write per 8 KiB of an upload).
RECV_BYTES = 256 << 10


def write_config(settings: Settings, zeo_socket: Path | None = None) -> Path:
    """Write ``zope.conf`` and ``site.zcml`` into ``settings.etc``; return zope.conf's path.

    The storage is, in order: the cluster's ZEO server (``WENDELIN_ZEO``), the ZEO server
    inside this process on ``zeo_socket`` (``wendelin run``), else the FileStorage itself.
    """
    settings.etc.mkdir(parents=True, exist_ok=True)
    for sub in ("", "blobs", "cache", "log"):
        (settings.var / sub).mkdir(parents=True, exist_ok=True)
    values = {
        "var": str(settings.var),
        "home": str(settings.home),
        "cache_bytes": str(settings.zodb_cache_bytes),
        "conflict_retries": str(settings.conflict_retries),
        "zeo": settings.zeo or "",
        "blob_cache_bytes": str(max(settings.memory_budget * 4, 1024**3)),
        "zeo_socket": str(zeo_socket or ""),
    }
    storage_template = "filestorage.conf.in"
    if settings.zeo:
        storage_template = "zeoclient.conf.in"
    elif zeo_socket is not None:
        storage_template = "zeolocal.conf.in"
    storage = Template((TEMPLATES / storage_template).read_text()).substitute(values)
    conf = Template((TEMPLATES / "zope.conf.in").read_text()).substitute(values, storage=storage)
    (settings.etc / "zope.conf").write_text(conf)
    (settings.etc / "site.zcml").write_text((TEMPLATES / "site.zcml").read_text())
    return settings.etc / "zope.conf"


class EmbeddedZEO:
    """A ZEO server inside this process over the instance's one FileStorage and blobs.

    ``wendelin run`` serves its database on a Unix socket in ``var/`` and is itself a client
    of it, as are its cell processes: one FileStorage, invalidations reach every client,
    and clients read the blob directory in place (``shared-blob-dir``), nothing copied.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.socket = zeo_socket_path(settings)
        self.server: Any = None  # ZEO's StorageServer once started

    def start(self) -> Path:
        """Open the FileStorage (refused if another process has it), listen; return the socket."""
        from ZODB.FileStorage import FileStorage

        from .zeoserver import OrderedStorageServer

        var = self.settings.var
        for sub in ("", "blobs", "log"):
            (var / sub).mkdir(parents=True, exist_ok=True)
        storage = FileStorage(str(var / "Data.fs"), blob_dir=str(var / "blobs"))
        try:
            # this process holds the FileStorage's lock: nobody else writes blobs yet
            remove_leftover_blob_files(storage.temporaryDirectory())
            self.socket.unlink(missing_ok=True)  # a stale socket of a stopped server
            self.server = OrderedStorageServer(str(self.socket), {"1": storage})
        except BaseException:
            storage.close()
            raise
        os.chmod(self.socket, 0o600)
        self.server.start_thread(daemon=True)
        return self.socket

    def stop(self) -> None:
        """Close client connections and the FileStorage, remove the socket."""
        if self.server is not None:
            self.server.close(join_timeout=5)
            self.server = None
            self.socket.unlink(missing_ok=True)


def remove_leftover_blob_files(directory: str) -> tuple[int, int]:
    """Delete the files a killed server left in the blob temporary ``directory`` (uploads
    being spooled, blobs of transactions never committed); return (count, bytes).

    Only called with the storage's lock held, before any client connects: every file
    there is a leftover (``make cluster``'s runzeo owns its blob directory, not this).
    """
    count = size = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0, 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            length = entry.stat(follow_symlinks=False).st_size
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        count += 1
        size += length
    if count:
        logger.warning("removed %d leftover files (%d bytes) from the blob temporary "
                       "directory %s", count, size, directory)
    return count, size


def zeo_socket_path(settings: Settings) -> Path:
    """Where ``wendelin run`` serves its database to its own processes (Settings.zeo_socket)."""
    return settings.zeo_socket


def make_app(zope_conf: str | Path):
    """Configure Zope from ``zope_conf`` and return the WSGI application."""
    from Zope2.Startup.run import make_wsgi_app
    from ZPublisher.httpexceptions import HTTPExceptionHandler

    from .edge import HeadGuard, InputGuard
    from .uploads_wsgi import SpooledUploads

    zope = HTTPExceptionHandler(make_wsgi_app({}, str(zope_conf)))
    return HeadGuard(InputGuard(SpooledUploads(zope)))


def prepare_site(settings: Settings, attempts: int = 5) -> str:
    """Create or upgrade ``/erp5`` and the administrator; return the admin password.

    Retried on write conflicts, so several processes starting on one empty
    database do not race: one creates, the others find the site.
    """
    import transaction
    import Zope2
    from ZODB.POSException import ConflictError
    from zope.component.hooks import setSite

    from .site.setup import ensure_site

    password = settings.resolve_admin_password()
    for attempt in range(attempts):
        app = Zope2.app()
        try:
            users = app.acl_users
            user = users.getUser(settings.admin_user)
            if user is None:
                users._doAddUser(settings.admin_user, password, ["Manager"], [])
            elif not user.authenticate(password, None):
                users._doChangeUser(settings.admin_user, password, ["Manager"], [])
            ensure_site(app)
            transaction.commit()
            return password
        except ConflictError:
            transaction.abort()
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        finally:
            setSite(None)
            app._p_jar.close()
    raise AssertionError("unreachable")


START_ATTEMPT = "WENDELIN_START_ATTEMPT"


def _start_again_after_conflict(limit: int = 5) -> None:
    """Zope's own first start on an empty ZEO database conflicted with another worker's.

    Zope cannot initialise twice in one process, so this process starts over (the other
    worker has initialised the database meanwhile); ``limit`` attempts at most.
    """
    attempt = int(os.environ.get(START_ATTEMPT, "0")) + 1
    if attempt > limit:
        raise RuntimeError(f"database initialisation still conflicts after {limit} attempts")
    logger.info("database initialised by another worker at the same time; starting again")
    time.sleep(random.uniform(0.2, 1.0))
    os.execve(
        sys.executable, [sys.executable, *sys.argv], {**os.environ, START_ATTEMPT: str(attempt)}
    )


#: Allocations between young collections, and the ratios for the older generations.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Make CPython's full garbage collections rare.

    A server's ZODB caches hold hundreds of thousands of objects; with the default
    thresholds (700, 10, 10) a full collection, which walks all of them (seconds with a
    100,000-document catalog), starts every few requests. Reference counting frees
    almost everything anyway; cycles are still collected, less often.
    """
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def _stop(signum, frame):  # pragma: no cover - signal handler
    raise KeyboardInterrupt


def buffer_bodies_in_blob_directory(server: Any) -> None:
    """Make ``server`` (waitress's, this one only) buffer large and chunked PUT bodies in
    the blob temporary directory, where the Data Stream adopts the very file, and refuse
    large bodies from their headers (anonymous: 401; past the free-disk share: 413)."""
    from waitress.server import BaseWSGIServer

    from .uploads_wsgi import body_channel, spool_directory

    directory = spool_directory() or ""  # none: large bodies are still checked
    servers = [server] if isinstance(server, BaseWSGIServer) else [
        s for s in getattr(server, "map", {}).values() if isinstance(s, BaseWSGIServer)]
    channel = body_channel(directory)  # one count of bodies in flight for all its sockets
    for one in servers:
        one.channel_class = channel


def serve(settings: Settings) -> None:
    """Run the server in the foreground."""
    import waitress
    import Zope2

    tune_gc()
    zeo = None
    if not settings.zeo:  # `wendelin run`: serve the FileStorage to this process and its cells
        zeo = EmbeddedZEO(settings)
        zeo.start()
    zope_conf = write_config(settings, zeo.socket if zeo else None)
    try:
        app = make_app(zope_conf)
    except ConflictError:
        _start_again_after_conflict()
    password = prepare_site(settings)
    # Notebook cells run in a pool of processes, clients of the same database; their
    # requests wait on threads of their own (none of WENDELIN_THREADS, which serve pages).
    from .jupyter.pool import start_cell_pool

    cells = start_cell_pool(settings, zope_conf)
    if cells is not None:
        app = cells.wrap(app)
    # Activities: this process's activity threads (WENDELIN_ACTIVITY_*), stopped below
    # before the database closes.
    from .activity.runner import start_activities

    activities = start_activities()
    server = waitress.create_server(
        app,
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        ident="Wendelin",
        # uploads are streamed into Data Streams block by block: no 1 GiB cap (waitress's)
        max_request_body_size=MAX_REQUEST_BODY,
        recv_bytes=RECV_BYTES,
        _dispatcher=cells.dispatcher(settings.threads) if cells is not None else None,
    )
    buffer_bodies_in_blob_directory(server)
    url = f"http://{settings.host}:{server.effective_port}/erp5"
    jupyter, jupyter_line = None, ""
    if settings.jupyter:  # Jupyter as a child process, with the ERP5 kernel pointing here
        from erp5_kernel.launcher import start_for_site

        jupyter, jupyter_line = start_for_site(
            url, settings.admin_user, password, settings.var, settings.jupyter_port
        )
    print_banner(READY, url, settings, password, [jupyter_line] if jupyter_line else [])
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if cells is not None:
            cells.stop()
        activities.stop()
        if jupyter is not None:
            jupyter.stop()
        Zope2.DB.close()
        if zeo is not None:
            zeo.stop()
        print("Wendelin stopped.", flush=True)


def upgrade(settings: Settings) -> None:
    """Re-apply the business templates to the existing site, keeping its documents."""
    import transaction
    import Zope2

    from .site.setup import SITE_ID, ensure_site, upgrade_site

    make_app(write_config(settings))
    app = Zope2.app()
    try:
        if SITE_ID in app.objectIds():
            upgrade_site(app._getOb(SITE_ID), force=True)
        else:
            ensure_site(app)
        transaction.commit()
    finally:
        app._p_jar.close()
        Zope2.DB.close()
    print("Business templates re-applied.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wendelin", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "cluster", "configure", "upgrade"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_environ()
    if args.command == "configure":
        print(write_config(settings))
    elif args.command == "upgrade":
        upgrade(settings)
    elif args.command == "cluster":
        from .cluster import run_cluster

        run_cluster(settings)
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())

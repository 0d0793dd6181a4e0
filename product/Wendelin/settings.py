"""Instance settings read from ``WENDELIN_*`` environment variables.

One validated value object, so the server, the tests and the buildout agree on
what a setting means and a bad value fails early with the value in the message.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from .bigdata.budget import parse_size as _parse_size
from .bigdata.errors import BigDataError
from .errors import ConfigurationError

#: The repository root when the package is installed in editable mode.
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The instance home's default outside a checkout: this folder of the current directory.
INSTANCE_DIRNAME = "wendelin-instance"


def _shipped_root() -> Path | None:
    """The wheel's ``_data`` folder, or None from a checkout.

    pyproject maps the checkout's top-level ``bt5/`` and ``instance/`` to the package data
    ``Products/Wendelin/_data/{bt5,instance}`` of a wheel; an editable install has neither.
    """
    root = files("Products.Wendelin") / "_data"
    return root if isinstance(root, Path) and root.is_dir() else None


def from_checkout() -> bool:
    """True when the code runs from a checkout (editable install), not from an installed wheel."""
    return _shipped_root() is None


def shipped_path(name: str) -> Path:
    """A folder shipped with the code (``bt5``, ``instance``): the wheel's, else the checkout's.

    A real filesystem path either way: CMF's skin folders and Zope's configuration need one.
    """
    root = _shipped_root()
    return (root / name) if root is not None else REPO_ROOT / name


def default_home() -> Path:
    """``instance/`` of the checkout, else ``./wendelin-instance`` of the current directory."""
    return REPO_ROOT / "instance" if from_checkout() else Path.cwd() / INSTANCE_DIRNAME


def parse_size(text: str) -> int:
    """Parse ``"512MiB"``, ``"2G"`` or ``"1048576"`` into a number of bytes."""
    try:
        return _parse_size(text)
    except BigDataError as exc:
        raise ConfigurationError(str(exc)) from None


def physical_memory() -> int:
    """The machine's RAM in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _digits(text: str) -> bool:
    """Whether ``text`` is a decimal number int() reads (``'²'.isdigit()`` is true too)."""
    return text.isascii() and text.isdigit()


#: A cell's longest wait for a cell process, by default (``WENDELIN_CELL_WAIT``).
DEFAULT_CELL_WAIT = 60.0


def user_share(workers: int, environ: Any = None) -> int:
    """Most cell processes one user holds at once: ``WENDELIN_CELL_USER_SHARE``, by default
    all but one (at least one), so one user's busy cells never take every process."""
    text = (os.environ if environ is None else environ).get("WENDELIN_CELL_USER_SHARE", "")
    text = text.strip()
    if not text:
        return max(1, workers - 1)
    if not _digits(text) or not 1 <= int(text) <= max(1, workers):
        raise ConfigurationError(
            f"WENDELIN_CELL_USER_SHARE must be 1 to WENDELIN_CELL_WORKERS ({workers}): {text!r}")
    return int(text)


def cell_wait(environ: Any = None) -> float:
    """Longest wait of a cell for its process, ``WENDELIN_CELL_WAIT`` seconds (default 60):
    a request never waits without bound, whatever others run."""
    text = (os.environ if environ is None else environ).get("WENDELIN_CELL_WAIT", "").strip()
    if not text:
        return DEFAULT_CELL_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise ConfigurationError(f"WENDELIN_CELL_WAIT must be seconds, more than 0: {text!r}")
    return seconds


def _cell_settings(env: Any) -> dict[str, Any]:
    """The ``WENDELIN_CELL_*`` settings of notebook cell processes, validated."""
    workers = env.get("WENDELIN_CELL_WORKERS", "8").strip()
    if not _digits(workers) or int(workers) > 256:
        raise ConfigurationError(f"WENDELIN_CELL_WORKERS must be 0 to 256: {workers!r}")
    spare = env.get("WENDELIN_CELL_SPARE", "1").strip()
    if not _digits(spare) or (int(workers) and int(spare) > int(workers)):
        raise ConfigurationError(
            f"WENDELIN_CELL_SPARE must be 0 to WENDELIN_CELL_WORKERS ({workers}): {spare!r}"
        )
    spare = str(min(int(spare), int(workers)))  # no spares without cell processes
    memory_text = env.get("WENDELIN_CELL_MEMORY", "").strip()
    memory = parse_size(memory_text) if memory_text else physical_memory()
    if memory and memory < 256 * 1024**2:
        raise ConfigurationError(
            f"WENDELIN_CELL_MEMORY must be at least 256MiB (or 0 for no limit): {memory_text!r}"
        )
    timeout_text = env.get("WENDELIN_CELL_TIMEOUT", "3600").strip()
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout < 10**7:
        raise ConfigurationError(
            f"WENDELIN_CELL_TIMEOUT must be seconds (0 for no limit): {timeout_text!r}"
        )
    nice_text = env.get("WENDELIN_CELL_NICE", "5").strip()
    if not _digits(nice_text) or int(nice_text) > 19:
        raise ConfigurationError(f"WENDELIN_CELL_NICE must be 0 to 19: {nice_text!r}")
    namespace_text = env.get("WENDELIN_CELL_NAMESPACE", "1").strip()
    if namespace_text not in ("0", "1"):
        raise ConfigurationError(f"WENDELIN_CELL_NAMESPACE must be 1 or 0: {namespace_text!r}")
    if int(workers):
        user_share(int(workers), env)
    cell_wait(env)
    return {"cell_workers": int(workers), "cell_spare": int(spare), "cell_memory": memory,
            "cell_timeout": timeout, "cell_nice": int(nice_text),
            "cell_namespace": namespace_text == "1"}


@dataclass(frozen=True)
class Settings:
    """Where an instance keeps its data and configuration, and how it serves."""

    host: str
    port: int
    admin_user: str
    admin_password: str | None
    home: Path
    var: Path
    memory_budget: int
    threads: int
    #: Start Jupyter with ``wendelin run`` (WENDELIN_JUPYTER=0 turns it off).
    jupyter: bool = True
    #: Jupyter's port; 0 picks a free one (the default when WENDELIN_PORT is 0).
    jupyter_port: int = 8888
    #: ``host:port`` of a ZEO server to use instead of the embedded FileStorage.
    zeo: str | None = None
    #: Zope workers started by ``wendelin cluster``.
    workers: int = 2
    #: How often a request that hit a write conflict is retried (Zope's default is 3).
    conflict_retries: int = 10
    #: Most notebook cell processes at once (WENDELIN_CELL_WORKERS); 0 runs cells in the
    #: server's own request threads, as before cell processes existed.
    cell_workers: int = 8
    #: Idle cell processes kept started ahead of need (WENDELIN_CELL_SPARE).
    cell_spare: int = 1
    #: Address space of one cell process in bytes (WENDELIN_CELL_MEMORY); 0: no limit.
    cell_memory: int = 0
    #: Longest run of one cell in seconds (WENDELIN_CELL_TIMEOUT); 0: no limit.
    cell_timeout: float = 3600.0
    #: Niceness of cell processes, so pages are served first (WENDELIN_CELL_NICE).
    cell_nice: int = 5
    #: The processes a cell starts live in a pid namespace of their own, so they all end
    #: with it (WENDELIN_CELL_NAMESPACE; used where the server may create one).
    cell_namespace: bool = True
    #: Most bytes of rendered previews kept on disk per instance (WENDELIN_UI_CACHE).
    ui_cache_bytes: int = 256 * 1024**2

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("WENDELIN_INSTANCE") or default_home()).resolve()
        port_text = env.get("WENDELIN_PORT", "8080")
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigurationError(f"WENDELIN_PORT is not a port number: {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise ConfigurationError(f"WENDELIN_PORT out of range: {port}")
        user = env.get("WENDELIN_ADMIN_USER", "zope").strip()
        if not user or ":" in user:
            raise ConfigurationError(f"WENDELIN_ADMIN_USER is not a valid user name: {user!r}")
        threads_text = env.get("WENDELIN_THREADS", "4")
        if not _digits(threads_text) or int(threads_text) < 1:
            raise ConfigurationError(
                f"WENDELIN_THREADS must be a positive integer: {threads_text!r}"
            )
        jupyter_text = env.get("WENDELIN_JUPYTER", "1").strip().lower()
        if jupyter_text not in ("0", "1", "no", "yes", "off", "on", "false", "true"):
            raise ConfigurationError(f"WENDELIN_JUPYTER must be 0 or 1: {jupyter_text!r}")
        jupyter_port_text = env.get("WENDELIN_JUPYTER_PORT") or ("0" if port == 0 else "8888")
        if not _digits(jupyter_port_text) or int(jupyter_port_text) > 65535:
            raise ConfigurationError(
                f"WENDELIN_JUPYTER_PORT is not a port number: {jupyter_port_text!r}"
            )
        zeo = (env.get("WENDELIN_ZEO") or "").strip() or None
        if zeo is not None:
            zeo_host, _, zeo_port = zeo.rpartition(":")
            if not zeo_host or not _digits(zeo_port) or not 0 < int(zeo_port) <= 65535:
                raise ConfigurationError(f"WENDELIN_ZEO must be host:port, got {zeo!r}")
        workers_text = env.get("WENDELIN_WORKERS", "2")
        if not _digits(workers_text) or not 1 <= int(workers_text) <= 64:
            raise ConfigurationError(f"WENDELIN_WORKERS must be 1 to 64: {workers_text!r}")
        retries_text = env.get("WENDELIN_CONFLICT_RETRIES", "10")
        if not _digits(retries_text):
            raise ConfigurationError(
                f"WENDELIN_CONFLICT_RETRIES must be a number: {retries_text!r}"
            )
        cells = _cell_settings(env)
        ui_cache = parse_size(env.get("WENDELIN_UI_CACHE", "256MiB"))
        return cls(
            host=env.get("WENDELIN_HOST", "127.0.0.1"),
            port=port,
            admin_user=user,
            admin_password=env.get("WENDELIN_ADMIN_PASSWORD") or None,
            home=home,
            var=Path(env.get("WENDELIN_VAR") or home / "var").resolve(),
            memory_budget=parse_size(env.get("WENDELIN_MEMORY_BUDGET", "512MiB")),
            threads=int(threads_text),
            jupyter=jupyter_text in ("1", "yes", "on", "true"),
            jupyter_port=int(jupyter_port_text),
            zeo=zeo,
            workers=int(workers_text),
            conflict_retries=int(retries_text),
            ui_cache_bytes=ui_cache,
            **cells,
        )

    @property
    def zeo_socket(self) -> Path:
        """The Unix socket ``wendelin run`` serves its database on to its own processes:
        ``var/zeo.sock``, or a short path under /tmp when ``var`` is too deep for a socket."""
        path = self.var / "zeo.sock"
        if len(str(path)) < 100:
            return path
        import hashlib
        import tempfile

        digest = hashlib.sha1(str(self.var).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"wendelin-zeo-{os.getuid()}-{digest}.sock"

    @property
    def zodb_cache_bytes(self) -> int:
        """The ZODB object cache takes a quarter of the memory budget."""
        return max(16 * 1024**2, self.memory_budget // 4)

    @property
    def etc(self) -> Path:
        """Generated configuration; Zope reads ``site.zcml`` from ``<instancehome>/etc``."""
        return self.home / "etc"

    @property
    def password_file(self) -> Path:
        return self.var / "admin-password"

    def resolve_admin_password(self) -> str:
        """Return the admin password: from the environment, else stored, else a new one.

        A generated password is written once to ``var/admin-password`` with mode 0600.
        """
        if self.admin_password:
            return self.admin_password
        if self.password_file.exists():
            return self.password_file.read_text().strip()
        self.var.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(12)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(password + "\n")
        return password

"""Run one notebook cell in a namespace: capture its output, value, figures and errors.

Zope-free: the endpoint gives the namespace (with ``context``) and handles transactions.
Like IPython, the value of a final expression is displayed, and ``%matplotlib inline``
is accepted (figures always come back inline). Tracebacks start at the user's code.
Whatever the user's code raises, ``BaseException`` subclasses such as
``KeyboardInterrupt``, ``GeneratorExit`` and ``SystemExit`` included, is the cell's error
(in a cell process an interrupt is SIGINT, raised as KeyboardInterrupt in the cell),
except ZODB's transient errors (``ConflictError``...): those propagate, so the publisher
retries the whole request instead of reporting a failed cell.
"""

from __future__ import annotations

import ast
import itertools
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from transaction.interfaces import TransientError

from . import mpl_backend
from .capture import Bundle, capturing
from .display import bundle
from .sources import register_source

_cell_counter = itertools.count(1)
_backend_lock = threading.Lock()
_backend_selected: list[bool] = []
logger = logging.getLogger("Wendelin.jupyter")

#: Magics the server accepts (the kernel handles its own magics before sending code).
ACCEPTED_MAGICS = ("%matplotlib",)


class CellSyntaxError(SyntaxError):
    """The cell uses a magic or shell escape the server does not run."""


@dataclass
class CellResult:
    """Everything a cell produced; ``status`` is ``"ok"`` or ``"error"``."""

    status: str = "ok"
    stdout: str = ""
    stderr: str = ""
    result: Bundle | None = None
    displays: list[Bundle] = field(default_factory=list)
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    tree: ast.Module | None = None
    source: str = ""
    error: BaseException | None = None


def ensure_backend() -> None:
    """Select Wendelin's thread-aware matplotlib backend (once per process, at start-up).

    The backend is a dispatcher: each pyplot figure belongs to the cell (thread) that
    made it; outside cells it renders like Agg. It is selected once; a cell only
    re-selects it, with a warning in the log, if something switched matplotlib's
    process-wide backend since (request code must not: draw on a ``Figure`` instead).
    """
    import matplotlib

    with _backend_lock:
        current = matplotlib.get_backend()
        if current != mpl_backend.NAME:
            if _backend_selected:
                logger.warning(
                    "matplotlib's backend was switched to %r in this process; "
                    "selecting Wendelin's again (notebook figures need it)", current
                )
            matplotlib.use(mpl_backend.NAME, force=True)
            _backend_selected.append(True)


def strip_magics(code: str) -> str:
    """Blank out accepted line magics; refuse other magics and shell escapes clearly."""
    lines = code.splitlines()
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("%"):
            if not stripped.startswith(ACCEPTED_MAGICS):
                name = stripped.split()[0]
                raise CellSyntaxError(
                    f"line {number}: magic {name!r} is not available on the server "
                    f"(accepted: {', '.join(ACCEPTED_MAGICS)})"
                )
            lines[number - 1] = ""
        elif stripped.startswith("!"):
            raise CellSyntaxError(f"line {number}: shell commands ({stripped!r}) are not run")
    return "\n".join(lines) + "\n"


def _user_traceback(error: BaseException, filename: str) -> list[str]:
    """Format ``error`` from the first frame of the cell on (server frames dropped)."""
    if isinstance(error, SyntaxError) and not isinstance(error, CellSyntaxError):
        return traceback.format_exception_only(type(error), error)
    if isinstance(error, CellSyntaxError):
        return [f"{type(error).__name__}: {error.msg}\n"]
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return traceback.format_exception(type(error), error, tb)


def run_cell(code: str, namespace: dict[str, Any]) -> CellResult:
    """Execute ``code`` in ``namespace``; raises only ZODB's transient errors (retried)."""
    ensure_backend()
    filename = f"<cell-{next(_cell_counter)}>"
    cell = CellResult()
    with capturing() as capture:
        try:
            source = strip_magics(code)
            cell.source = source
            register_source(filename, source)
            tree = ast.parse(source, filename)
            cell.tree = tree
            last = None
            final = tree.body[-1] if tree.body else None
            if isinstance(final, ast.Expr):
                tree.body.pop()
                last = ast.Expression(final.value)
            exec(compile(tree, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, filename, "eval"), namespace)
                if value is not None:
                    namespace["_"] = value
                    cell.result = bundle(value)
                    if any(value is figure for figure in mpl_backend.thread_figures()):
                        mpl_backend.close_thread_figures()
        except TransientError:
            raise  # a ZODB conflict: the publisher retries the request
        except BaseException as error:  # noqa: BLE001  (the user's error is the cell's result)
            cell.status = "error"
            cell.error = error
            cell.ename = type(error).__name__
            cell.evalue = str(error)
            cell.traceback = _user_traceback(error, filename)
        finally:
            try:
                for figure in mpl_backend.thread_figures():
                    capture.add_display(bundle(figure))
            finally:
                mpl_backend.close_thread_figures()
    cell.stdout = capture.stdout.getvalue()
    cell.stderr = capture.stderr.getvalue()
    cell.displays = capture.displays
    return cell

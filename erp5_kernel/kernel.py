"""The ERP5 wrapper kernel: each cell is posted to the server and runs there, next to the data.

Failures (missing settings, 401, 403, unreachable server, TLS, 5xx) are shown as Jupyter
``error`` outputs with a hint on what to change; the kernel itself never dies of them.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from ipykernel.kernelbase import Kernel

from . import __version__
from .client import (
    AuthenticationFailed,
    Connection,
    Erp5Error,
    ServerError,
    TLSFailure,
    Unreachable,
)
from .magics import ACTIONS, SETTERS, KernelSettings, reference_from_session, split_magics
from .notebook_path import current_notebook_path, kernel_id_of
from .protocol import Output, execute, interrupt, outputs_from_reply, reference_exists

#: Seconds to wait for an interrupted cell's answer once the server was asked to stop it.
INTERRUPT_WAIT = 10.0

#: What to change for each kind of failure, appended to its message.
HINTS: dict[type[Erp5Error], str] = {
    AuthenticationFailed: "Check %erp5_user and %erp5_password (or ERP5_USER/ERP5_PASSWORD).",
    Unreachable: "Check %erp5_url (or ERP5_URL).",
    TLSFailure: "To skip verification (unsafe): %erp5_verify_tls off; "
    "to trust a CA: %erp5_verify_tls /path/to/ca.pem",
}


def stream(text: str, name: str = "stdout") -> Output:
    """A stream output message."""
    return Output("stream", {"name": name, "text": text if text.endswith("\n") else text + "\n"})


def error_output(exc: Erp5Error) -> Output:
    """An ``error`` output for a failure, its message followed by what to change."""
    hint = HINTS.get(type(exc))
    evalue = f"{exc} {hint}" if hint else str(exc)
    return Output("error", {"ename": exc.ename, "evalue": evalue, "traceback": [
        f"\x1b[0;31m{exc.ename}\x1b[0m: {evalue}"
    ]})


class Erp5Kernel(Kernel):
    """A kernel whose cells run on a Wendelin/ERP5 server through Base_executeJupyter."""

    implementation = "erp5_kernel"
    implementation_version = __version__
    language = "python"
    language_version = ".".join(map(str, sys.version_info[:3]))
    language_info = {
        "name": "python",
        "version": language_version,
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
    }
    banner = "ERP5 kernel: cells run on the Wendelin/ERP5 server (magics: %erp5_info)"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.settings = KernelSettings.from_environ()
        #: Whether the notebook reference existed on the server at the last handshake.
        self.reference_existed = False
        #: Jupyter's id for this kernel, to find which notebook it is open for now.
        self.kernel_id = kernel_id_of(getattr(self.parent, "connection_file", None))

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        """Run a cell on the server and publish its outputs as Jupyter messages."""
        try:
            outputs = self.run_cell(code, store_history)
        except KeyboardInterrupt:  # a second interrupt, or a server that could not stop it
            outputs = [Output("error", {
                "ename": "KeyboardInterrupt",
                "evalue": "stopped waiting for the server; the cell may still run there",
                "traceback": ["KeyboardInterrupt: stopped waiting for the server"],
            })]
        failure = None
        for output in outputs:
            if output.msg_type == "error":
                failure = output.content
            if not silent:
                self.send_response(self.iopub_socket, output.msg_type, output.content)
        if failure is not None:
            return {"status": "error", "execution_count": self.execution_count, **failure}
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }

    def run_cell(self, code: str, store_history: bool = True) -> list[Output]:
        """Apply the cell's magics, send its code; return the outputs (errors included)."""
        outputs: list[Output] = []
        if self.settings.problems:
            outputs += [stream(problem, "stderr") for problem in self.settings.problems]
            self.settings.problems.clear()
        magics, rest = split_magics(code)
        if code.strip():
            outputs += self.follow_notebook()
        try:
            changed = False
            for name, argument in magics:
                if name in SETTERS:
                    outputs.append(stream(self.settings.apply(name, argument)))
                    changed = changed or name != "notebook_set_title"
                elif name == "erp5_info":
                    outputs.append(stream(self.settings.describe()))
                else:
                    assert name in ACTIONS
                    outputs += self.my_notebooks()
            if rest:
                connection = self.connect()
                reply = self.execute_interruptibly(connection, rest, store_history)
                outputs += outputs_from_reply(reply, self.execution_count)
            elif changed:
                outputs.append(stream(self.announce()))
        except Erp5Error as exc:
            if isinstance(exc, AuthenticationFailed):
                self.settings.connected = False
            outputs.append(error_output(exc))
        return outputs

    def execute_interruptibly(
        self, connection: Connection, code: str, store_history: bool
    ) -> dict[str, Any]:
        """POST the cell from a thread; Jupyter's interrupt (SIGINT here) stops it on the server.

        On interrupt the server is asked to interrupt the notebook's cell
        (Base_interruptJupyter) and the cell's own answer, KeyboardInterrupt in its
        output, is awaited a little; a second interrupt, or a server that cannot
        interrupt, stops waiting (KeyboardInterrupt raised here).
        """
        reference, title = self.settings.reference, self.settings.title
        answer: dict[str, Any] = {}
        done = threading.Event()

        def post() -> None:
            try:
                answer["reply"] = execute(connection, code, reference, title, store_history)
            except BaseException as exc:  # noqa: BLE001  (re-raised in the kernel's thread)
                answer["error"] = exc
            finally:
                done.set()

        threading.Thread(target=post, name="erp5-cell", daemon=True).start()
        try:
            done.wait()
        except KeyboardInterrupt:
            try:
                interrupted = interrupt(connection, reference or "")
            except Erp5Error:
                interrupted = False
            if not done.wait(INTERRUPT_WAIT if interrupted else 1.0):
                raise
        if "error" in answer:
            raise answer["error"]
        return answer["reply"]

    def follow_notebook(self) -> list[Output]:
        """After the notebook was renamed in Jupyter, use the reference of its new name."""
        if not self.settings.follows_notebook:
            return []
        reference = reference_from_session(current_notebook_path(self.kernel_id))
        if not reference or reference == self.settings.reference:
            return []
        renamed = self.settings.reference is not None
        self.settings.reference = reference
        self.settings.connected = False
        if not renamed:
            return []
        return [stream(f"The notebook was renamed: its reference is now {reference!r}.")]

    def connect(self) -> Connection:
        """Return the connection, doing ERP5's handshake first when settings changed.

        As ERP5's kernel does: check whether the reference exists, then send a request
        without code; code is only sent once that answered with status ok.
        """
        connection = self.settings.connection()
        if not self.settings.connected:
            reference = self.settings.reference
            self.reference_existed = reference_exists(connection, reference or "")
            reply = execute(connection, None, reference, self.settings.title)
            if reply.get("status") != "ok":
                raise ServerError(
                    f"ERP5 at {connection.url} did not accept notebook {reference!r}: "
                    f"{reply.get('ename')}: {reply.get('evalue')}"
                )
            self.settings.connected = True
        return connection

    def announce(self) -> str:
        """After setting magics: connect when everything is set, else say what is missing."""
        missing = self.settings.missing()
        if missing:
            return "Still needed before running code: " + ", ".join(missing)
        connection = self.connect()
        state = "existing" if self.reference_existed else "new"
        return (
            f"Connected to {connection.url} as {connection.user!r}; "
            f"notebook {self.settings.reference!r} ({state})."
        )

    def my_notebooks(self) -> list[Output]:
        """The ``%my_notebooks`` magic: the user's notebooks, as the server lists them."""
        connection = self.settings.connection(need_reference=False)
        reply = execute(connection, None, self.settings.reference, request_reference=True)
        listing = reply.get("notebook_list")
        if isinstance(listing, list):
            if not listing:
                return [stream("You have no notebooks on the server yet.")]
            width = max(len(str(item.get("reference", ""))) for item in listing)
            lines = [
                f"{str(item.get('reference', '')):<{width}}  {item.get('title') or ''}".rstrip()
                for item in listing
            ]
            return [stream("\n".join(lines))]
        return [stream(str(reply.get("code_result") or "No notebooks."))]

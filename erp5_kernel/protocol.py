"""ERP5's notebook wire protocol: the form posted per cell and the JSON answer's outputs.

Fields whose value is None are left out of the form, as ERP5's own kernel does. The
answer's bundles become Jupyter output messages in a fixed order: stdout, the extra
bundles (stderr streams or displays), the displayed value, and finally the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import EXECUTE_SCRIPT, Connection, ServerError


@dataclass(frozen=True)
class Output:
    """One Jupyter iopub message to publish: its type and content."""

    msg_type: str
    content: dict[str, Any]


def execute(
    connection: Connection,
    code: str | None,
    reference: str | None,
    title: str | None = None,
    store_history: bool | None = None,
    request_reference: bool = False,
) -> dict[str, Any]:
    """POST one cell (or an empty request) to Base_executeJupyter; return the JSON answer."""
    fields = {
        "python_expression": code,
        "reference": reference,
        "title": title,
        "store_history": store_history,
        "request_reference": True if request_reference else None,
    }
    form = {name: value for name, value in fields.items() if value is not None}
    reply = connection.json("POST", EXECUTE_SCRIPT, data=form)
    if not isinstance(reply, dict) or "status" not in reply:
        raise ServerError(
            f"ERP5 at {connection.url} answered {EXECUTE_SCRIPT} without a status: {reply!r:.200}"
        )
    return reply


#: The script that interrupts a notebook's running cell (Wendelin; ERP5 has none: 404).
INTERRUPT_SCRIPT = "Base_interruptJupyter"


def interrupt(connection: Connection, reference: str) -> bool:
    """Ask the server to interrupt the notebook's running cell; whether one was running."""
    reply = connection.json("POST", INTERRUPT_SCRIPT, data={"reference": reference}, timeout=10)
    return bool(isinstance(reply, dict) and reply.get("interrupted"))


def reference_exists(connection: Connection, reference: str) -> bool:
    """Whether a notebook already has ``reference`` (ERP5: any non-empty body means yes)."""
    response = connection.request(
        "POST", "Base_checkExistingReference", data={"reference": reference}
    )
    return bool(response.text.strip())


def _bundle(value: Any) -> dict[str, Any] | None:
    """A well-formed ``{"data": {...}, "metadata": {...}}`` bundle with data, else None."""
    if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
        return None
    if not value["data"]:
        return None
    metadata = value.get("metadata")
    return {"data": value["data"], "metadata": metadata if isinstance(metadata, dict) else {}}


def _stream_name(bundle: dict[str, Any], default: str | None) -> str | None:
    """``stdout``/``stderr`` when the bundle is plain text meant as a stream, else None."""
    if set(bundle["data"]) != {"text/plain"}:
        return None
    name = bundle["metadata"].get("name", default)
    return name if name in ("stdout", "stderr") else None


def _text(value: Any) -> str:
    """Jupyter allows text as a string or a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)


def outputs_from_reply(reply: dict[str, Any], execution_count: int) -> list[Output]:
    """Turn a Base_executeJupyter answer into the Jupyter messages to publish, in order."""
    outputs: list[Output] = []

    def show(bundle: dict[str, Any], stream_default: str | None) -> None:
        name = _stream_name(bundle, stream_default)
        if name:
            text = _text(bundle["data"]["text/plain"])
            if text:
                outputs.append(Output("stream", {"name": name, "text": text}))
        else:
            outputs.append(Output("display_data", bundle))

    printed = _bundle(reply.get("print_result"))
    if printed:
        show(printed, "stdout")
    for extra in reply.get("extra_data_list") or []:
        bundle = _bundle(extra)
        if bundle:
            show(bundle, None)
    displayed = _bundle(reply.get("displayhook_result"))
    if displayed:
        outputs.append(
            Output("execute_result", {"execution_count": execution_count, **displayed})
        )
    elif not outputs and reply.get("status") == "ok" and reply.get("code_result"):
        # An answer with only code_result (older servers): show it with its mime type.
        mime = reply.get("mime_type") or "text/plain"
        outputs.append(
            Output(
                "execute_result",
                {
                    "execution_count": execution_count,
                    "data": {mime: reply["code_result"]},
                    "metadata": {},
                },
            )
        )
    if reply.get("status") == "error":
        outputs.append(Output("error", error_content(reply)))
    return outputs


def error_content(reply: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` message content of an answer with ``status: error``."""
    ename = str(reply.get("ename") or "Error")
    evalue = str(reply.get("evalue") or "")
    traceback = reply.get("traceback")
    if isinstance(traceback, str):
        traceback = traceback.splitlines()
    if not traceback:
        traceback = [f"{ename}: {evalue}"]
    return {"ename": ename, "evalue": evalue, "traceback": [str(line) for line in traceback]}

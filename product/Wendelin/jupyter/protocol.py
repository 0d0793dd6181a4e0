"""Wire formats of a cell's result: ERP5's kernel JSON reply and nbformat-4 outputs."""

from __future__ import annotations

from typing import Any

from .capture import Bundle
from .execution import CellResult

#: Mime types in the order a text summary (``code_result``, ``mime_type``) prefers them.
SUMMARY_TYPES = ("text/html", "text/markdown", "image/png", "image/svg+xml", "text/plain")


def _text_bundle(text: str, name: str | None = None) -> Bundle:
    return {"data": {"text/plain": text}, "metadata": {"name": name} if name else {}}


def _richest_type(bundle: Bundle | None) -> str:
    data = (bundle or {}).get("data", {})
    return next((mime for mime in SUMMARY_TYPES if mime in data), "text/plain")


def erp5_reply(cell: CellResult) -> dict[str, Any]:
    """The JSON object ERP5's Jupyter kernel reads from ``Base_executeJupyter``."""
    extra = [_text_bundle(cell.stderr, "stderr")] if cell.stderr else []
    extra += cell.displays
    result_text = (cell.result or {}).get("data", {}).get("text/plain", "")
    code_result = cell.stdout + result_text
    return {
        "status": cell.status,
        "ename": cell.ename,
        "evalue": cell.evalue,
        "traceback": cell.traceback,
        "code_result": code_result,
        "print_result": _text_bundle(cell.stdout) if cell.stdout else {},
        "displayhook_result": cell.result or {},
        "mime_type": _richest_type(cell.result),
        "extra_data_list": extra,
    }


def add_note(reply: dict[str, Any], text: str) -> None:
    """Say ``text`` on the cell's stderr, after what the cell printed there."""
    reply["extra_data_list"].append(_text_bundle(text + "\n", "stderr"))


def empty_reply() -> dict[str, Any]:
    """The reply to a request without code (ERP5's kernel sends one after its magics)."""
    return erp5_reply(CellResult())


def nbformat_outputs(cell: CellResult, execution_count: int | None = None) -> list[dict]:
    """The cell's outputs as nbformat-4 output dicts, in display order."""
    outputs: list[dict[str, Any]] = []
    if cell.stderr:
        outputs.append({"output_type": "stream", "name": "stderr", "text": cell.stderr})
    if cell.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": cell.stdout})
    outputs += [
        {"output_type": "display_data", "data": b["data"], "metadata": b.get("metadata", {})}
        for b in cell.displays
    ]
    if cell.result:
        outputs.append(
            {
                "output_type": "execute_result",
                "execution_count": execution_count,
                "data": cell.result["data"],
                "metadata": cell.result.get("metadata", {}),
            }
        )
    if cell.status == "error":
        outputs.append(
            {
                "output_type": "error",
                "ename": cell.ename,
                "evalue": cell.evalue,
                "traceback": cell.traceback,
            }
        )
    return outputs


def summary(cell: CellResult) -> tuple[str, str]:
    """``(text, mime type)`` kept on a Data Notebook Line, as ERP5 did."""
    if cell.status == "error":
        return "".join(cell.traceback), "text/plain"
    reply = erp5_reply(cell)
    mime = reply["mime_type"]
    if cell.result and mime != "text/plain":
        return str(cell.result["data"][mime]), mime
    return reply["code_result"], "text/plain"

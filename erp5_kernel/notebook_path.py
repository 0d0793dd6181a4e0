"""Which notebook Jupyter has this kernel open for, now (it changes when the user renames it).

``JPY_SESSION_NAME`` only tells the path at the kernel's start. The Jupyter server that
started the kernel is its parent process and describes itself (URL, token) in
``jpserver-<pid>.json`` of its runtime directory, so the kernel can ask its sessions API.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import requests


def kernel_id_of(connection_file: str | None) -> str | None:
    """The kernel id in a connection file name such as ``kernel-<id>.json``."""
    if not connection_file:
        return None
    found = re.fullmatch(r"kernel-(.+)\.json", Path(connection_file).name)
    return found.group(1) if found else None


def _server_info() -> dict | None:
    """The parent Jupyter server's self-description, or None when not started by one."""
    from jupyter_core.paths import jupyter_runtime_dir

    info_file = Path(jupyter_runtime_dir()) / f"jpserver-{os.getppid()}.json"
    try:
        return json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None


def current_notebook_path(kernel_id: str | None, timeout: float = 2) -> str | None:
    """The path of the notebook whose session uses ``kernel_id``; None if unknown."""
    info = _server_info() if kernel_id else None
    if not info or not info.get("url"):
        return None
    try:
        answer = requests.get(
            info["url"].rstrip("/") + "/api/sessions",
            headers={"Authorization": f"token {info.get('token', '')}"},
            timeout=timeout,
        )
        sessions = answer.json() if answer.status_code == 200 else []
    except (requests.RequestException, ValueError):
        return None
    for session in sessions if isinstance(sessions, list) else []:
        if (session.get("kernel") or {}).get("id") == kernel_id:
            return session.get("path")
    return None

"""A small on-disk cache for rendered previews (waveforms, plots), keyed by content state.

Previews are derived data: keeping them out of the ZODB means a GET never writes to
the database (no conflicts with uploads) and every worker process fills its own cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigurationError
from ..settings import Settings


def cache_dir() -> Path:
    """``<var>/cache/ui`` of the instance, or a temporary folder when unconfigured."""
    try:
        base = Settings.from_environ().var
    except ConfigurationError:
        base = Path(tempfile.gettempdir()) / "wendelin"
    path = base / "cache" / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached(key: tuple, compute: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The bytes stored for ``key``, computing and storing them first if needed.

    Returns ``(data, hit)``; ``key`` must change whenever the content changes.
    """
    name = hashlib.sha256(repr(key).encode()).hexdigest()
    path = cache_dir() / f"{name}.bin"
    try:
        return path.read_bytes(), True
    except FileNotFoundError:
        pass
    data = compute()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return data, False


def content_key(document, kind: str, *extra) -> tuple:
    """A key naming ``document``'s stored state: its oid, size and modification time."""
    oid = getattr(document, "_p_oid", None) or b""
    modified = document.getModificationDate()
    return (
        kind,
        oid.hex() if isinstance(oid, bytes) else str(oid),
        "/".join(document.getPhysicalPath()),
        document.getSize(),
        float(modified) if modified is not None else 0.0,
        *extra,
    )

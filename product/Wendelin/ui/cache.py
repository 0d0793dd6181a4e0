"""A small on-disk cache for rendered previews (waveforms, plots), keyed by content state.

Previews are derived data: keeping them out of the ZODB means a GET never writes to
the database (no conflicts with uploads) and every worker process fills its own cache.
The cache is bounded (``WENDELIN_UI_CACHE``, default 256 MiB): each store removes the
least recently used files beyond the bound (a hit refreshes a file's time).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigurationError
from ..settings import Settings

#: The bound when the instance's settings cannot be read.
DEFAULT_LIMIT = 256 * 1024**2


def _place() -> tuple[Path, int]:
    """``<var>/cache/ui`` of the instance (a temporary folder when unconfigured), and its bound."""
    try:
        settings = Settings.from_environ()
        base, limit = settings.var, settings.ui_cache_bytes
    except ConfigurationError:
        base, limit = Path(tempfile.gettempdir()) / "wendelin", DEFAULT_LIMIT
    path = base / "cache" / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path, limit


def cache_dir() -> Path:
    """Where the previews are kept."""
    return _place()[0]


def prune(folder: Path, limit: int) -> int:
    """Remove the least recently used entries until the rest fit in ``limit`` bytes.

    Returns the bytes kept. Entries another process removes meanwhile are skipped.
    """
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".bin"):
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _when, size, _path in entries)
    for _when, size, path in sorted(entries):
        if total <= limit:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        total -= size
    return total


def cached(key: tuple, compute: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The bytes stored for ``key``, computing and storing them first if needed.

    Returns ``(data, hit)``; ``key`` must change whenever the content changes.
    """
    name = hashlib.sha256(repr(key).encode()).hexdigest()
    folder, limit = _place()
    path = folder / f"{name}.bin"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        try:
            os.utime(path)  # recently used: pruned last
        except FileNotFoundError:
            pass
        return data, True
    data = compute()
    if len(data) > limit:
        return data, False  # never kept: it alone is beyond the bound
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    prune(folder, limit)
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

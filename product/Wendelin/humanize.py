"""Human-readable sizes, durations and dates: pure functions for pages and tools alike."""

from __future__ import annotations

import datetime as _dt
from typing import Any

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: Any) -> str:
    """``1536`` -> ``"1.5 KiB"``; unknown sizes (None, Missing.Value) -> ``""``."""
    if not isinstance(size, int | float) or isinstance(size, bool) or size < 0:
        return ""
    if size < 1024:
        return "1 byte" if size == 1 else f"{int(size)} bytes"
    value = float(size)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: Any) -> str:
    """``75.5`` -> ``"1:15.5"``; ``3725`` -> ``"1:02:05"``; unknown -> ``""``."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _as_datetime(value: Any) -> _dt.datetime | None:
    if value is None or not hasattr(value, "asdatetime"):
        return value if isinstance(value, _dt.datetime) else None
    return value.asdatetime()


def iso_date(value: Any) -> str:
    """An ISO 8601 timestamp (for ``<time datetime=...>``), or ``""``."""
    moment = _as_datetime(value)
    return moment.isoformat(timespec="seconds") if moment else ""


def human_date(value: Any, now: _dt.datetime | None = None) -> str:
    """``"just now"``, ``"5 min ago"``, ``"3 h ago"``, else ``"2024-05-01 14:03"``."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    now = now or _dt.datetime.now(moment.tzinfo or _dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    delta = (now - moment).total_seconds()
    if 0 <= delta < 60:
        return "just now"
    if 0 <= delta < 3600:
        return f"{int(delta // 60)} min ago"
    if 0 <= delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return moment.astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M")

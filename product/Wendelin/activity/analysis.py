"""The Wendelin alarm's work: create Data Analyses and queue their execution."""

from __future__ import annotations

from typing import Any


def handle_analysis(portal: Any) -> int:
    """ERP5's ``Alarm_handleAnalysis``: create the missing analyses, queue their runs."""
    return 0

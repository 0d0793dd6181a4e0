"""Validation of what users send: JSON with bounded depth and size, numbers in range,
choices, and the free-disk quota. Raise :mod:`errors` classes that name the bad value;
the edge turns them into 4xx answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from typing import Any

from .errors import InvalidInputError, QuotaExceededError

#: Nesting deeper than this is refused before it reaches the parser's recursion.
MAX_JSON_DEPTH = 64
#: Free disk a write must leave, as a fraction of the disk (``WENDELIN_MIN_FREE_DISK``).
DEFAULT_MIN_FREE_FRACTION = 0.10


#: A JSON string (skipped whole, in C) or one bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_depth_ok(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether the nesting of ``[``/``{`` outside strings stays within ``max_depth``.

    Strings are skipped by the regular expression engine, so a 50 MiB notebook made of
    base64 images is scanned in a fraction of a second."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif token in "]}":
            depth -= 1
    return True


def _refuse_constant(name: str) -> Any:
    raise InvalidInputError(f"JSON constant {name} is not allowed")


def load_json(text: str | bytes, what: str = "body", max_depth: int = MAX_JSON_DEPTH,
              max_bytes: int | None = None) -> Any:
    """Parse JSON from a user, bounded in depth and size; InvalidInputError otherwise.

    Lone surrogates (``"\\ud800"``) are refused too: they cannot be stored as UTF-8.
    """
    if max_bytes is not None and len(text) > max_bytes:
        raise QuotaExceededError(f"{what} is {len(text)} bytes, more than {max_bytes}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{what} is not UTF-8: {exc}") from None
    if not json_depth_ok(text, max_depth):
        raise InvalidInputError(f"{what} nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None
    _refuse_surrogates(value, what)
    return value


def _refuse_surrogates(value: Any, what: str) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInputError(
                    f"{what} holds a lone surrogate (not valid Unicode): {item[:40]!r}"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def as_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within ``[minimum, maximum]``, else InvalidInputError naming it."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None:
        raise InvalidInputError(f"{name} must be an integer, got {str(value)[:80]!r}")
    if minimum is not None and number < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise InvalidInputError(f"{name} must be at most {maximum}, got {number}")
    return number


def as_float(name: str, value: Any, minimum: float | None = None,
             maximum: float | None = None) -> float:
    """``value`` as a finite float within bounds, else InvalidInputError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"{name} must be a number, got {str(value)[:80]!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInputError(f"{name} must be finite, got {number}")
    if minimum is not None and number < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise InvalidInputError(f"{name} must be at most {maximum}, got {number}")
    return number


def as_text(name: str, value: Any, default: str = "", max_length: int | None = None) -> str:
    """A form field that must be one piece of text (not a ``:list`` or a file)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text, got {type(value).__name__}")
    if max_length is not None and len(value) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters")
    return value


def as_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else InvalidInputError listing them."""
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def min_free_fraction(environ: dict[str, str] | None = None) -> float:
    """The share of the disk writes must leave free (``WENDELIN_MIN_FREE_DISK``, 0-0.9)."""
    env = os.environ if environ is None else environ
    text = env.get("WENDELIN_MIN_FREE_DISK", "")
    if not text:
        return DEFAULT_MIN_FREE_FRACTION
    try:
        fraction = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        return DEFAULT_MIN_FREE_FRACTION
    return min(max(fraction, 0.0), 0.9)


def check_free_disk(path: str | os.PathLike, needed: int, what: str = "this write") -> None:
    """QuotaExceededError unless writing ``needed`` bytes under ``path`` leaves the
    configured share of the disk free. Called before a write starts, never after."""
    usage = shutil.disk_usage(path)
    reserve = int(usage.total * min_free_fraction())
    if needed < 0 or usage.free - needed < reserve:
        raise QuotaExceededError(
            f"{what} needs {needed} bytes; the disk has {usage.free} free and must keep "
            f"{reserve} ({min_free_fraction():.0%}, WENDELIN_MIN_FREE_DISK) free"
        )

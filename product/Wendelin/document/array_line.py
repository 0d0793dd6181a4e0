"""Data Array Line: a named sub-array of its parent Data Array (ERP5 Wendelin's type).

A line is defined by an index expression read as numpy reads an index: ``0:100``,
``[:, 2]``, ``..., ::2``, ``5`` (basic indexing: integers, slices, ``...``, ``None``),
or a field selection of a structured array: ``'x'`` or ``['x', 'y']``. It may add a
dtype to view the items as (``"<i4"``) and field names (``name_list``).

The expression is parsed here, never evaluated: nothing but these forms is accepted.
``getArray()`` returns the parent's view at that index, so a line is used from notebooks
as a Data Array is (and writing through it writes the parent, in the transaction).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_inner, aq_parent
from ZPublisher import zpublish

from ..bigdata.bigarray import _readonly, check_dtype
from ..bigdata.errors import BigArrayError
from ..errors import InvalidInputError
from ..permissions import ModifyPortalContent, View
from .array import ArrayDocumentMixin, IndexExpressionError, check_names, renamed_dtype, select
from .base import WendelinDocument

MAX_EXPRESSION = 1000
MAX_COMPONENTS = 32
MAX_DTYPE = 200
_INT = r"[+-]?\d{1,19}"
_INT_RE = re.compile(rf"\s*({_INT})\s*")
_SLICE_RE = re.compile(rf"\s*({_INT})?\s*:\s*({_INT})?\s*(?::\s*({_INT})?\s*)?")
_NAME = r"'([^'\\\x00-\x1f]{1,100})'|\"([^\"\\\x00-\x1f]{1,100})\""
_NAME_RE = re.compile(rf"\s*(?:{_NAME})\s*")
_NAMES_RE = re.compile(rf"\s*\[\s*(?:{_NAME})\s*(?:,\s*(?:{_NAME})\s*)*,?\s*\]\s*")

Key = tuple | str | list


def _name(match: re.Match, first: int = 1) -> str:
    return match.group(first) if match.group(first) is not None else match.group(first + 1)


def parse_index_expression(text: Any) -> Key:
    """The numpy key an index expression stands for (see the module docstring).

    ``""`` selects the whole array; anything else malformed raises InvalidInputError
    naming the expression.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"index_expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION:
        raise InvalidInputError(
            f"index_expression is {len(text)} characters long, at most {MAX_EXPRESSION}"
        )
    if not text.strip():
        return (Ellipsis,)
    match = _NAME_RE.fullmatch(text)
    if match:
        return _name(match)
    if _NAMES_RE.fullmatch(text):
        names = [_name(m) for m in re.finditer(_NAME, text)]
        return list(check_names(names, "index_expression fields"))
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    parts = body.split(",")
    if len(parts) > 1 and not parts[-1].strip():
        parts = parts[:-1]  # "0," is the tuple (0,)
    if len(parts) > MAX_COMPONENTS:
        raise InvalidInputError(
            f"index_expression has {len(parts)} components, at most {MAX_COMPONENTS}"
        )
    key: list[Any] = []
    for part in parts:
        word = part.strip()
        if word == "...":
            key.append(Ellipsis)
        elif word in ("None", "np.newaxis", "numpy.newaxis", "newaxis"):
            key.append(None)
        elif match := _INT_RE.fullmatch(part):
            key.append(int(match.group(1)))
        elif match := _SLICE_RE.fullmatch(part):
            start, stop, step = (None if g is None else int(g) for g in match.groups())
            if step == 0:
                raise InvalidInputError(f"index_expression {text[:80]!r}: slice step is 0")
            key.append(slice(start, stop, step))
        else:
            raise InvalidInputError(
                f"index_expression {text[:80]!r}: {word[:40]!r} is not an integer, a slice "
                "(a:b:c), '...', None or quoted field names"
            )
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise InvalidInputError(f"index_expression {text[:80]!r} has more than one '...'")
    return tuple(key)


def check_index_expression(text: Any) -> str:
    """``text`` stripped, if it parses (the property check of ``index_expression``)."""
    parse_index_expression(text)
    return text.strip()


def check_line_dtype(text: Any) -> str:
    """``text`` if empty or a fixed-size numpy dtype (``<f8``, ``i4,f8``), else 400."""
    if not isinstance(text, str):
        raise InvalidInputError(f"dtype must be a string, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_DTYPE:
        raise InvalidInputError(f"dtype is {len(text)} characters long, at most {MAX_DTYPE}")
    if text:
        try:
            check_dtype(text)
        except BigArrayError as exc:
            raise InvalidInputError(f"dtype {text[:80]!r}: {exc}") from None
    return text


def _check_name_list(names: Any) -> tuple[str, ...]:
    return check_names(names, "name_list")


class DataArrayLine(ArrayDocumentMixin, WendelinDocument):
    """A sub-array of its parent Data Array, by index expression (ERP5 Wendelin API)."""

    meta_type = "Wendelin Data Array Line"
    portal_type = "Data Array Line"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "index_expression": str,
        "dtype": str,
        "name_list": list,
    }
    property_checks = {
        **WendelinDocument.property_checks,
        "index_expression": check_index_expression,
        "dtype": check_line_dtype,
        "name_list": _check_name_list,
    }
    index_expression = ""
    dtype = ""
    name_list: tuple[str, ...] = ()

    @security.protected(View)
    def getIndexExpression(self) -> str:
        return self.index_expression

    @security.protected(View)
    def getDtype(self) -> str:
        """The dtype the items are viewed as ("" for the parent's)."""
        return self.dtype

    @security.protected(View)
    def getNameList(self) -> list[str]:
        """Field names given to the view's fields (empty: the parent's names)."""
        return list(self.name_list)

    @security.protected(View)
    @zpublish(False)
    def getParentDataArray(self) -> Any:
        """The Data Array this line is a sub-array of."""
        return aq_parent(aq_inner(self))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def initArray(self, shape: Any, dtype: Any) -> None:
        """Refused: a line has no array of its own (initialise the parent Data Array)."""
        raise InvalidInputError(
            f"Data Array Line {self.getId()!r} is a view of its Data Array: call initArray "
            "on the Data Array"
        )

    def _transform(self, base: Any) -> Any:
        """The line's view of ``base`` (the parent's array, live or a snapshot)."""
        key = parse_index_expression(self.index_expression)
        try:
            view = select(base, None, key) if isinstance(key, (str, list)) else base[key]
        except (IndexError, ValueError, KeyError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise IndexExpressionError(
                f"index_expression {self.index_expression!r} does not fit the Data Array "
                f"of shape {tuple(base.shape)}: {exc}"
            ) from None
        if self.dtype or self.name_list:
            view = np.asarray(view)
            target = np.dtype(self.dtype) if self.dtype else view.dtype
            if self.name_list:
                target = renamed_dtype(target, self.name_list)
            try:
                view = view.view(target)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"cannot view the items of dtype {view.dtype} at {self.index_expression!r}"
                    f" as {target}: {exc}"
                ) from None
        return view

    @security.protected(View)
    @zpublish(False)
    def getArray(self) -> Any:
        """The parent's view at the index expression (None while the parent has no array):
        writable for trusted code, read-only for restricted scripts."""
        parent = self.getParentDataArray()
        base = parent.getArray() if parent is not None else None
        # checked here: the script is this method's caller (bigarray looks two frames up)
        return None if base is None else _readonly(self._transform(base))

    def _snapshot(self) -> Any:
        parent = self.getParentDataArray()
        base = parent._snapshot() if parent is not None else None
        return None if base is None else self._transform(base)

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setArraySlice(self, start: int, end: int, values: Any) -> None:
        """``line[start:end] = values``: written into the parent, reindexed."""
        self._require()[start:end] = values
        self.getParentDataArray().reindexData()


InitializeClass(DataArrayLine)

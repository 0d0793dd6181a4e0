"""What restricted Python (skin scripts) may do with what Data Stream and Data Array return.

The one visible place for it; the product's ``initialize`` calls
:func:`declare_restricted_access` once. The storage core itself never imports this
module (it stays free of Zope), so only a Zope process pays for AccessControl.

Scripts may read, never write, through these objects: writes go through document
methods that check ``Modify portal content``.

- ``ZBigArray``: numpy-like attributes, ``A[key]``, ``len``, ``iterblocks``; not
  ``append``, ``resize`` or item assignment. Views are live and writable for trusted
  code; restricted code always gets read-only ones (:func:`called_from_restricted_code`,
  also for what a document method called by a script returns), and may not call
  ``setflags`` to make them writable again.
- ``BigFileReader``: the read side of a file (``read``, ``seek``, ``tell``, ...).
- numpy values handed to scripts by those objects and the documents are converted by
  :func:`for_script`, scoped to Wendelin's own types: arrays become :class:`ScriptArray`
  (an ndarray subclass whose results stay ScriptArrays; every public attribute but
  those that write files or expose raw memory, :data:`DENIED_NUMPY_ATTRIBUTES`),
  scalars Python numbers, strings or bytes, dtypes :class:`ScriptDtype`. numpy's own
  types are *not* declared: a numpy array reaching a script any other way (a parameter,
  a global) gives it no attribute. Nothing of the ``numpy`` module is usable from
  scripts (see :data:`NUMPY_HELPERS`).

Each of those types gets a table of allowed names in AccessControl's
``ContainerAssertions`` (what ``allow_type`` fills, but per name): the same table lets
scripts read attributes and items (``A[1, 0]``) and iterate (``for start, stop, view in
A.iterblocks()``).
"""

from __future__ import annotations

import builtins
import functools
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
from AccessControl import Unauthorized
from AccessControl.SecurityInfo import ModuleSecurityInfo
from AccessControl.SimpleObjectPolicies import ContainerAssertions

from .bigdata import bigarray
from .bigdata.bigarray import BlockIterator, ZBigArray
from .bigdata.reader import BigFileReader

#: Attributes of numpy arrays that scripts may not use: they write to the file system
#: (``tofile``, ``dump``), hand out the raw buffer (``ctypes``, ``base``, ``data``) or
#: make a read-only view writable (``setflags``). Names starting with ``_`` are refused
#: by restricted Python anyway.
DENIED_NUMPY_ATTRIBUTES = frozenset({"tofile", "dump", "ctypes", "base", "data", "setflags"})

#: numpy scalar kinds scripts get as the Python value (``item()``); others (dates,
#: records, long doubles) as a read-only 0-d :class:`ScriptArray`.
PYTHON_SCALARS = (np.bool_, np.integer, np.float16, np.float32, np.float64, np.complex64,
                  np.complex128, np.str_, np.bytes_)


class ScriptArray(np.ndarray):
    """A numpy array as skin scripts get it: what it computes stays a ScriptArray and its
    items come out as :func:`for_script` makes them, so scripts never hold numpy types."""

    def __getitem__(self, key: Any) -> Any:
        result = super().__getitem__(key)
        if self.ndim == 0 and isinstance(result, np.ndarray):  # a field of a record
            return for_script(result, items=True)
        return for_script(result)

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False
                       ) -> Any:
        return for_script(super().__array_wrap__(array, context, return_scalar))

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))


class ScriptDtype:
    """A numpy dtype as skin scripts get it: its descriptive attributes, read-only;
    compares equal to the dtype (or its name) and numpy accepts it as a dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype  # the name numpy looks for in ``np.dtype(x)``; not for scripts

    name = property(lambda self: self.dtype.name)
    str = property(lambda self: self.dtype.str)
    descr = property(lambda self: self.dtype.descr)
    names = property(lambda self: self.dtype.names)
    kind = property(lambda self: self.dtype.kind)
    char = property(lambda self: self.dtype.char)
    itemsize = property(lambda self: self.dtype.itemsize)
    alignment = property(lambda self: self.dtype.alignment)
    byteorder = property(lambda self: self.dtype.byteorder)
    isnative = property(lambda self: self.dtype.isnative)
    shape = property(lambda self: self.dtype.shape)
    ndim = property(lambda self: self.dtype.ndim)
    base = property(lambda self: ScriptDtype(self.dtype.base))
    fields = property(lambda self: None if self.dtype.fields is None else {
        name: for_script(value) for name, value in self.dtype.fields.items()})
    subdtype = property(lambda self: for_script(self.dtype.subdtype))

    def newbyteorder(self, order: Any = "S") -> ScriptDtype:
        return ScriptDtype(self.dtype.newbyteorder(order))

    def __getitem__(self, key: Any) -> ScriptDtype:
        return ScriptDtype(self.dtype[key])

    def __len__(self) -> int:
        return len(self.dtype.names or ())

    def __eq__(self, other: object) -> bool:
        if other is None:  # np.dtype(None) is float64
            return False
        try:
            return self.dtype == np.dtype(other)  # type: ignore[call-overload]
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __str__(self) -> builtins.str:
        return builtins.str(self.dtype)

    def __repr__(self) -> builtins.str:
        return repr(self.dtype)


def for_script(value: Any, items: bool = False) -> Any:
    """``value`` as a script may hold it: numpy arrays as :class:`ScriptArray` (0-d ones
    computed, or ``items``, as their item; 0-d read-only views stay views), scalars as
    Python values, dtypes as :class:`ScriptDtype`; tuples item by item; others unchanged.
    Arrays holding Python objects are refused (Unauthorized): their bytes are addresses."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            # its bytes are the addresses of Python objects (tobytes, view): never handed out
            raise Unauthorized(f"arrays of Python objects (dtype {value.dtype}) are not "
                               "available to scripts; use a numeric or string dtype")
        if value.ndim == 0 and (items or value.flags.writeable):
            item = value[()] if type(value) is np.ndarray else np.ndarray.__getitem__(value, ())
            if isinstance(item, PYTHON_SCALARS):
                return item.item()
        return value if type(value) is ScriptArray else value.view(ScriptArray)
    if isinstance(value, np.generic):
        if isinstance(value, PYTHON_SCALARS):
            return value.item()
        zero_d = np.asarray(value).view(ScriptArray)
        zero_d.flags.writeable = False
        return zero_d
    if isinstance(value, np.dtype):
        return ScriptDtype(value)
    if type(value) is tuple:
        return tuple(for_script(item) for item in value)
    return value


def _unwrap(value: Any) -> Any:
    """An argument a script passes to numpy: its dtypes as numpy dtypes again."""
    return value.dtype if isinstance(value, ScriptDtype) else value


def _script_attribute(inst: Any, name: str) -> Any:
    """``inst.name`` for a script (AccessControl calls this for each declared name):
    values through :func:`for_script`, methods returning through it."""
    value = getattr(inst, name)
    if not callable(value):
        return for_script(value)

    @functools.wraps(value)
    def method(*args: Any, **kwargs: Any) -> Any:
        result = value(*[_unwrap(a) for a in args],
                       **{key: _unwrap(a) for key, a in kwargs.items()})
        return for_script(result)

    return method


def script_attribute_table(kind: type) -> dict[str, Callable[[Any, str], Any]]:
    """``{name: _script_attribute}`` for each public attribute of ``kind`` scripts may use."""
    return {
        name: _script_attribute
        for name in dir(kind)
        if not name.startswith("_") and name not in DENIED_NUMPY_ATTRIBUTES
    }


PUBLIC_NAMES: dict[type, dict[str, Any]] = {
    ZBigArray: {
        **dict.fromkeys(("shape", "order", "ndim", "size", "itemsize", "nbytes", "blksize",
                         "iterblocks", "rows_per_block"), 1),
        "dtype": _script_attribute,
    },
    BigFileReader: dict.fromkeys((
        "read", "readall", "readinto", "readline", "readlines", "seek", "tell", "readable",
        "seekable", "writable", "close", "closed",
    ), 1),
    ScriptArray: script_attribute_table(ScriptArray),
    ScriptDtype: dict.fromkeys((
        "name", "str", "descr", "names", "kind", "char", "itemsize", "alignment",
        "byteorder", "isnative", "shape", "ndim", "base", "fields", "subdtype", "newbyteorder",
    ), 1),
}
#: Types scripts may iterate, whose items they may take (no attributes).
ITERABLE_TYPES = (BlockIterator,)

#: numpy modules its C code imports on *every* use (``dtype.name``, ``str(dtype)``),
#: through the calling frame's ``__import__``: in a script, restricted Python's guarded
#: import. They (and their parents) are declared importable with nothing public but
#: ``__doc__``, which is what that import asks for; ``import numpy`` in a script then
#: succeeds but gives access to no function.
NUMPY_HELPERS = ("numpy._core._dtype",)

_declared = False


def warm_numpy_lazy_imports() -> None:
    """Run once, outside restricted code, the numpy paths that import helpers lazily.

    numpy's C code imports some Python helpers (``numpy._core._methods``, ``_dtype``,
    ``_internal``, ``_exceptions``, ``arrayprint``) on first use through the *calling
    frame's* ``__import__``; in a script that is restricted Python's guarded import,
    which refuses them. numpy caches each helper after its first import, so using
    those paths once here lets scripts call ``sum``, ``mean``, ``dtype.name``, etc.
    """
    a = np.arange(12.0).reshape(3, 4)
    for method in ("sum", "mean", "std", "var", "min", "max", "prod", "any", "all",
                   "argmin", "argmax", "cumsum", "cumprod"):
        getattr(a, method)()
        getattr(a, method)(axis=0)
    a.clip(1, 2), a.round(1), a.tolist(), a.astype("i4"), a.T.copy(), a.reshape(-1)[::2]
    (a > 2).sum(), (a > 2).mean(), a.nonzero(), a.argsort(), a.reshape(-1).searchsorted(3.0)
    np.arange(3, dtype="i8").mean(), np.arange(3, dtype="f4").sum()
    repr(a), str(a), repr(a[0, 0]), str(a[0, 0]), a[0, 0].item(), format(a[0, 0], ".2f")
    for dtype in (a.dtype, np.dtype("<i2"), np.dtype([("x", "f8"), ("y", "i4")])):
        repr(dtype), str(dtype), dtype.name, dtype.descr, dtype.str, dtype.itemsize
    for broken in (lambda: a + np.ones(5), lambda: a.sum(axis=5), lambda: a.astype("M8") + 1.5):
        try:
            broken()
        except (ValueError, TypeError, np.exceptions.AxisError):
            pass


def called_from_restricted_code() -> bool:
    """True when the code that asked for a view (or called the trusted method that asked)
    is restricted Python: its frame's globals hold the guarded ``_getitem_``.

    Frames: this function, ``bigarray._readonly``, ``__getitem__``/``__next__``, then the
    caller and its caller, not counting AccessControl's guards (``guarded_getitem``, the
    guarded iterators) in between."""
    from AccessControl import ZopeGuards

    guards = vars(ZopeGuards)
    frame: FrameType | None = sys._getframe(3)
    looked = 0
    while frame is not None and looked < 2:
        if frame.f_globals is not guards:
            if frame.f_globals.get("_getitem_") is ZopeGuards.guarded_getitem:
                return True
            looked += 1
        frame = frame.f_back
    return False


def declare_restricted_access() -> None:
    """Declare the classes above (Wendelin's own, no numpy type) to Zope's security machinery
    and hook :func:`for_script` into the storage core (once)."""
    global _declared
    if _declared:
        return
    _declared = True
    bigarray.restricted_caller = called_from_restricted_code
    bigarray.script_value = for_script
    for cls, names in PUBLIC_NAMES.items():
        ContainerAssertions.setdefault(cls, names)
    for cls in ITERABLE_TYPES:
        ContainerAssertions.setdefault(cls, 1)
    for module in NUMPY_HELPERS:
        parts = module.split(".")
        for depth in range(1, len(parts)):
            ModuleSecurityInfo(".".join(parts[:depth]))
        ModuleSecurityInfo(module).declarePublic("__doc__")
    warm_numpy_lazy_imports()

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
- numpy arrays, scalars and dtypes coming out of them: every public attribute but
  those that write files or expose raw memory (:data:`DENIED_NUMPY_ATTRIBUTES`).
  Nothing of the ``numpy`` module is usable from scripts (see :data:`NUMPY_HELPERS`).

Each type gets a table of allowed names in AccessControl's ``ContainerAssertions`` (what
``allow_type`` fills, but per name): the same table lets scripts read attributes and
items (``A[1, 0]``) and iterate (``for start, stop, view in A.iterblocks()``).
"""

from __future__ import annotations

import sys
from types import FrameType

import numpy as np
from AccessControl.SecurityInfo import ModuleSecurityInfo
from AccessControl.SimpleObjectPolicies import ContainerAssertions

from .bigdata import bigarray
from .bigdata.bigarray import BlockIterator, ZBigArray
from .bigdata.reader import BigFileReader

#: Attributes of numpy arrays and scalars that scripts may not use: they write to the
#: file system (``tofile``, ``dump``) or hand out the raw buffer (``ctypes``, ``base``,
#: ``data``). Names starting with ``_`` are refused by restricted Python anyway.
DENIED_NUMPY_ATTRIBUTES = frozenset({"tofile", "dump", "ctypes", "base", "data", "setflags"})

PUBLIC_NAMES: dict[type, tuple[str, ...]] = {
    ZBigArray: (
        "shape", "dtype", "order", "ndim", "size", "itemsize", "nbytes", "blksize",
        "iterblocks", "rows_per_block",
    ),
    BigFileReader: (
        "read", "readall", "readinto", "readline", "readlines", "seek", "tell", "readable",
        "seekable", "writable", "close", "closed",
    ),
    BlockIterator: (),
}

#: numpy modules its C code imports on *every* use (``dtype.name``, ``str(dtype)``),
#: through the calling frame's ``__import__``: in a script, restricted Python's guarded
#: import. They (and their parents) are declared importable with nothing public but
#: ``__doc__``, which is what that import asks for; ``import numpy`` in a script then
#: succeeds but gives access to no function.
NUMPY_HELPERS = ("numpy._core._dtype",)

_declared = False


def _subclasses(cls: type) -> list[type]:
    """``cls`` and all its subclasses, recursively."""
    found, todo = [], [cls]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(current.__subclasses__())
    return found


def numpy_attribute_table(kind: type) -> dict[str, int]:
    """``{name: 1}`` for each public attribute of ``kind`` scripts may use."""
    return {
        name: 1
        for name in dir(kind)
        if not name.startswith("_") and name not in DENIED_NUMPY_ATTRIBUTES
    }


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
    """Declare the classes and numpy types above to Zope's security machinery (once)."""
    global _declared
    if _declared:
        return
    _declared = True
    bigarray.restricted_caller = called_from_restricted_code
    for cls, names in PUBLIC_NAMES.items():
        ContainerAssertions.setdefault(cls, {name: 1 for name in names} or 1)
    for kind in [np.ndarray, *_subclasses(np.generic)]:
        ContainerAssertions.setdefault(kind, numpy_attribute_table(kind))
    for kind in _subclasses(np.dtype):
        ContainerAssertions.setdefault(kind, 1)
    for module in NUMPY_HELPERS:
        parts = module.split(".")
        for depth in range(1, len(parts)):
            ModuleSecurityInfo(".".join(parts[:depth]))
        ModuleSecurityInfo(module).declarePublic("__doc__")
    warm_numpy_lazy_imports()

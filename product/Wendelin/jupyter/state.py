"""What a notebook keeps between cells: its definitions and its variables.

Definitions (top-level imports, functions and classes) are kept as source and replayed
before each cell, so functions and classes survive restarts and work on every server
process. Variables are pickled into :class:`StoredVariable` records: Zope documents are
kept as their path (restored by traversal, as the executing user, so security still
applies), other persistent objects (a ZBigArray, a bare document) as real ZODB references
beside the pickle (so packing keeps them alive). Values that cannot be kept are named,
never dropped silently. Errors of the user's code are reported, whatever their class,
but ZODB's transient errors (``ConflictError``...) propagate: the request is retried.
"""

from __future__ import annotations

import ast
import io
import pickle
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from persistent import Persistent
from transaction.interfaces import TransientError

from .sources import register_source

#: Largest pickled size kept for one variable; bigger data belongs in a Data Array.
VARIABLE_SIZE_LIMIT = 32 * 1024 * 1024
PICKLE_PROTOCOL = 5


@dataclass(frozen=True)
class Definition:
    """One top-level import, function or class of a cell, and the names it binds."""

    names: tuple[str, ...]
    source: str


class StoredVariable(Persistent):
    """A pickled variable and the persistent objects its pickle refers to."""

    def __init__(self, data: bytes, refs: tuple[Any, ...]) -> None:
        self.data = data
        self.refs = refs


@dataclass
class SaveReport:
    """Which variables were kept, which not and why."""

    kept: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)


def _bound_names(node: ast.stmt) -> tuple[str, ...]:
    if isinstance(node, ast.Import):
        return tuple((alias.asname or alias.name.split(".")[0]) for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return tuple((alias.asname or alias.name) for alias in node.names if alias.name != "*")
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return (node.name,)
    return ()


def cell_definitions(tree: ast.Module, source: str) -> list[Definition]:
    """The top-level imports, functions and classes of a cell, with their source."""
    lines = source.splitlines(True)
    definitions = []
    for node in tree.body:
        names = _bound_names(node)
        if not names:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            # only the statement: ``import os; side_effect()`` shares its line with code
            # that must not run again before every later cell
            segment = ast.get_source_segment(source, node)
            definitions.append(Definition(names, (segment or "") + "\n"))
            continue
        # a def or class starts its line (its decorators too) and ends its last one
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        assert node.end_lineno is not None
        definitions.append(Definition(names, "".join(lines[start - 1 : node.end_lineno])))
    return definitions


def merge_definitions(
    old: Iterable[Definition], new: Iterable[Definition], namespace: dict[str, Any]
) -> list[Definition]:
    """Old definitions not entirely redefined by new ones, then the new ones.

    Definitions whose names are all gone from the namespace (``del f``) are dropped.
    """
    new = list(new)
    redefined = {name for definition in new for name in definition.names}
    merged = [d for d in old if not set(d.names) <= redefined] + new
    return [d for d in merged if any(name in namespace for name in d.names)]


def replay(definitions: Iterable[Definition], namespace: dict[str, Any]) -> dict[str, str]:
    """Execute kept definitions in order; return ``{names: error}`` for those that failed."""
    failures = {}
    for index, definition in enumerate(definitions):
        filename = f"<definition {index}: {', '.join(definition.names)}>"
        register_source(filename, definition.source)
        try:
            exec(compile(definition.source, filename, "exec"), namespace)
        except TransientError:
            raise
        except BaseException as error:  # noqa: BLE001  (reported to the user, cell goes on)
            failures[", ".join(definition.names)] = f"{type(error).__name__}: {error}"
    return failures


def _is_acquisition_wrapper(obj: Any) -> bool:
    from Acquisition import aq_base

    try:
        return aq_base(obj) is not obj
    except TypeError:
        return False


class _VariablePickler(pickle.Pickler):
    """Pickle a value, keeping documents by path and persistent objects by reference."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self.refs: list[Any] = []

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, type | types.ModuleType | types.FunctionType):
            return None
        if _is_acquisition_wrapper(obj) and hasattr(obj, "getPhysicalPath"):
            return ("path", "/".join(obj.getPhysicalPath()))
        if isinstance(obj, Persistent):
            for index, ref in enumerate(self.refs):
                if ref is obj:
                    return ("ref", index)
            self.refs.append(obj)
            return ("ref", len(self.refs) - 1)
        return None


class _VariableUnpickler(pickle.Unpickler):
    """Undo :class:`_VariablePickler`; classes of the notebook come from its module."""

    def __init__(
        self,
        data: bytes,
        refs: tuple[Any, ...],
        module: types.ModuleType,
        traverse: Callable[[str], Any],
    ) -> None:
        super().__init__(io.BytesIO(data))
        self.refs = refs
        self.module = module
        self.traverse = traverse

    def persistent_load(self, pid: Any) -> Any:
        kind, value = pid
        if kind == "ref":
            return self.refs[value]
        if kind == "path":
            return self.traverse(value)
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

    def find_class(self, module: str, name: str) -> Any:
        if module == self.module.__name__:
            return getattr(self.module, name)
        return super().find_class(module, name)


def _describe(value: Any) -> str:
    return type(value).__name__


def pickle_variable(value: Any) -> tuple[bytes, tuple[Any, ...]]:
    """Pickle one variable; raise ``pickle.PicklingError`` (or others) when it cannot be."""
    buffer = io.BytesIO()
    pickler = _VariablePickler(buffer)
    pickler.dump(value)
    return buffer.getvalue(), tuple(pickler.refs)


def unpickle_variable(
    record: StoredVariable, module: types.ModuleType, traverse: Callable[[str], Any]
) -> Any:
    """Restore one variable in the notebook's module."""
    return _VariableUnpickler(record.data, record.refs, module, traverse).load()


def save_variables(
    store: Any,
    namespace: dict[str, Any],
    skip: set[str],
    definitions: Iterable[Definition],
    size_limit: int = VARIABLE_SIZE_LIMIT,
) -> SaveReport:
    """Write the namespace's variables into ``store`` (a BTree of :class:`StoredVariable`).

    Unchanged variables are not rewritten; variables gone from the namespace are removed.
    """
    report = SaveReport()
    defined = {name for definition in definitions for name in definition.names}
    module_name = namespace.get("__name__")
    wanted = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in skip:
            continue
        if name in defined and (
            isinstance(value, types.ModuleType) or getattr(value, "__module__", None) == module_name
        ):
            continue  # replayed from its definition
        if isinstance(value, types.ModuleType):
            report.dropped[name] = "a module bound without an import statement"
            continue
        try:
            data, refs = pickle_variable(value)
        except TransientError:
            raise
        except BaseException as error:  # noqa: BLE001  (any pickling failure means "not kept")
            report.dropped[name] = f"{_describe(value)}, cannot be pickled: {error}"
            continue
        if len(data) > size_limit:
            report.dropped[name] = (
                f"{_describe(value)} of {len(data)} bytes, above the {size_limit}-byte limit "
                "for notebook variables; keep big data in a Data Array"
            )
            continue
        wanted[name] = (data, refs)
        report.kept.append(name)
    for name in list(store.keys()):
        if name not in wanted:
            del store[name]
    for name, (data, refs) in wanted.items():
        record = store.get(name)
        if (
            record is not None
            and record.data == data
            and len(record.refs) == len(refs)
            and all(a is b for a, b in zip(record.refs, refs, strict=True))
        ):
            continue
        store[name] = StoredVariable(data, refs)
    return report


def load_variables(
    store: Any,
    namespace: dict[str, Any],
    module: types.ModuleType,
    traverse: Callable[[str], Any],
) -> dict[str, str]:
    """Restore stored variables into the namespace; return ``{name: error}`` for failures."""
    failures = {}
    for name, record in store.items():
        try:
            namespace[name] = unpickle_variable(record, module, traverse)
        except TransientError:
            raise
        except BaseException as error:  # noqa: BLE001  (reported to the user, cell goes on)
            failures[name] = f"{type(error).__name__}: {error}"
    return failures

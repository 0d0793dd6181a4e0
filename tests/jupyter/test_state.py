"""Notebook state: definitions replayed from source, variables pickled with references."""

from __future__ import annotations

import ast
import types

from BTrees.OOBTree import OOBTree
from persistent import Persistent
from Products.Wendelin.jupyter.state import (
    StoredVariable,
    cell_definitions,
    load_variables,
    merge_definitions,
    replay,
    save_variables,
)


class Thing(Persistent):
    """A persistent object a variable may refer to."""


def _module(name: str = "wendelin_notebook_test") -> types.ModuleType:
    import sys

    module = types.ModuleType(name)
    sys.modules[name] = module
    return module


def _definitions(source: str):
    return cell_definitions(ast.parse(source), source)


def test_an_import_keeps_only_itself_not_the_code_beside_it_on_its_line(tmp_path):
    marker = tmp_path / "ran"
    source = (f"import os; open({str(marker)!r}, 'a').write('x')\n"
              "count = 1; from math import (\n    pi,\n    tau)\n")
    found = _definitions(source)
    assert [d.source for d in found] == ["import os\n", "from math import (\n    pi,\n    tau)\n"]
    namespace: dict = {}
    assert replay(found, namespace) == {}
    assert not marker.exists() and {"os", "pi", "tau"} <= set(namespace)


def test_definitions_are_imports_functions_and_classes_with_decorators():
    source = (
        "import numpy as np, os.path\n"
        "from math import pi as PI, tau\n"
        "x = 1\n"
        "@staticmethod\n"
        "def f():\n"
        "    return 1\n"
        "class C:\n"
        "    pass\n"
    )
    found = _definitions(source)
    assert [d.names for d in found] == [("np", "os"), ("PI", "tau"), ("f",), ("C",)]
    assert found[2].source.startswith("@staticmethod\ndef f():")


def test_merge_keeps_order_drops_redefined_and_deleted():
    old = _definitions("import math\ndef f():\n    return 1\ndef g():\n    return 2\n")
    new = _definitions("def f():\n    return 3\n")
    merged = merge_definitions(old, new, {"math": 1, "f": 1})
    assert [d.names for d in merged] == [("math",), ("f",)]
    assert "return 3" in merged[-1].source


def test_classes_and_their_instances_survive_a_fresh_namespace():
    module = _module()
    source = "class Point:\n    def __init__(self, x):\n        self.x = x\n"
    definitions = _definitions(source)
    exec(source, module.__dict__)
    module.__dict__["p"] = module.Point(3)
    store = OOBTree()
    report = save_variables(store, module.__dict__, set(), definitions)
    assert report.kept == ["p"] and not report.dropped

    fresh = _module()  # a later cell, maybe in another process
    assert replay(definitions, fresh.__dict__) == {}
    assert load_variables(store, fresh.__dict__, fresh, traverse=None) == {}
    assert isinstance(fresh.p, fresh.Point) and fresh.p.x == 3


def test_unpicklable_and_too_big_values_are_named_not_dropped_silently():
    namespace = {"__name__": "nb", "gen": (i for i in range(3)), "big": b"x" * 2000, "ok": 1}
    report = save_variables(OOBTree(), namespace, set(), [], size_limit=1000)
    assert report.kept == ["ok"]
    assert "generator" in report.dropped["gen"]
    assert "limit" in report.dropped["big"] and "Data Array" in report.dropped["big"]


def test_persistent_objects_are_stored_as_references_not_copies():
    thing = Thing()
    store = OOBTree()
    save_variables(store, {"__name__": "nb", "t": thing, "pair": [thing, thing]}, set(), [])
    assert store["t"].refs == (thing,)
    assert store["pair"].refs == (thing,)  # one reference even when used twice
    namespace: dict = {}
    load_variables(store, namespace, _module(), traverse=None)
    assert namespace["t"] is thing
    assert namespace["pair"][0] is thing and namespace["pair"][1] is thing


def test_unchanged_variables_are_not_rewritten_and_deleted_ones_removed():
    store = OOBTree()
    save_variables(store, {"a": [1, 2], "b": 2}, set(), [])
    record = store["a"]
    save_variables(store, {"a": [1, 2]}, set(), [])
    assert store["a"] is record
    assert "b" not in store
    save_variables(store, {"a": [1, 2, 3]}, set(), [])
    assert store["a"] is not record


def test_injected_and_private_names_are_not_stored():
    store = OOBTree()
    save_variables(
        store, {"context": object(), "_": 5, "__builtins__": {}, "v": 1}, {"context"}, []
    )
    assert list(store.keys()) == ["v"]


def test_restore_failures_are_reported():
    store = OOBTree()
    save_variables(store, {"doc": 1}, set(), [])
    store["doc"].data = b"not a pickle"
    failures = load_variables(store, {}, _module(), traverse=None)
    assert "doc" in failures


class _Conflicting:
    """A value whose pickling hits a ZODB conflict (as loading a changed object may)."""

    def __reduce__(self):
        from ZODB.POSException import ReadConflictError

        raise ReadConflictError("changed by another transaction")


def _path_pickle(path: str) -> bytes:
    """A variable pickle referring to a document by path, as the notebook pickler writes."""
    import io
    import pickle

    class PathPickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("path", path) if obj == "DOC" else None

    buffer = io.BytesIO()
    PathPickler(buffer, protocol=5).dump("DOC")
    return buffer.getvalue()


def test_conflicts_propagate_from_replay_pickling_and_restore():
    """Conflicts are retried by the publisher, not reported as a failed definition or value."""
    import pytest
    from ZODB.POSException import ConflictError, ReadConflictError

    source = "from ZODB.POSException import ConflictError\nraise ConflictError()\n"
    definition = type(_definitions("import os")[0])(("x",), source)
    with pytest.raises(ConflictError):
        replay([definition], {})
    with pytest.raises(ReadConflictError):
        save_variables(OOBTree(), {"value": _Conflicting()}, set(), [])

    def traverse(path):
        raise ReadConflictError(path)

    store = OOBTree()
    store["doc"] = StoredVariable(_path_pickle("/erp5/data_stream_module/1"), ())
    with pytest.raises(ReadConflictError):
        load_variables(store, {}, _module(), traverse=traverse)


def test_base_exceptions_of_definitions_and_values_are_reported():
    """A definition raising SystemExit or a value raising KeyboardInterrupt is reported."""
    source = "raise SystemExit(2)\n"
    definition = type(_definitions("import os")[0])(("x",), source)
    assert "SystemExit" in replay([definition], {})["x"]

    class Stop:
        def __reduce__(self):
            raise KeyboardInterrupt("no")

    report = save_variables(OOBTree(), {"value": Stop()}, set(), [])
    assert "value" in report.dropped

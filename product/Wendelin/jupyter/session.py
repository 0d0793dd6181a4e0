"""One cell of one Data Notebook: restore its state, run the code, keep its new state.

The cell's own changes are bracketed by a savepoint: a failing cell rolls them back
(the rest of the request, e.g. the history line, still commits), a successful one
leaves them to the request's commit, so each execution is one transaction.
Executions of one notebook are serialised in this process by a per-notebook lock (and
by :mod:`.pool`, which gives a notebook one cell process at a time); different notebooks
run in parallel. Across processes ZODB's conflict detection on
the notebook's state makes the later commit retry.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import transaction
from transaction.interfaces import InvalidSavepointRollbackError

from ..locks import keyed_lock
from .display import display, render_as_html
from .execution import CellResult, ensure_backend, run_cell
from .protocol import nbformat_outputs, summary
from .state import cell_definitions, load_variables, merge_definitions, replay, save_variables


def notebook_lock(key: str) -> Any:
    """The lock serialising executions of one notebook in this process."""
    return keyed_lock(("notebook", key), threading.RLock)


def _namespace(context: Any) -> dict[str, Any]:
    """Names every cell starts with; they are never stored as variables."""
    portal = context.getPortalObject()
    return {
        "context": context,
        "portal": portal,
        "display": display,
        "Base_renderAsHtml": render_as_html,
    }


def _rollback(savepoint: Any) -> None:
    """Undo the failing cell's changes (all of them if it committed on its own)."""
    try:
        savepoint.rollback()
    except InvalidSavepointRollbackError:
        transaction.abort()


def _restore(notebook: Any, module: types.ModuleType, context: Any) -> list[str]:
    """Replay definitions and load variables into the module; return problems as notes."""
    namespace = module.__dict__
    definitions = notebook._getDefinitionList()
    failed = replay(definitions, namespace)
    traverse = context.getPortalObject().restrictedTraverse
    notes = [
        f"Variable {name!r} from an earlier cell could not be restored: {error}"
        for name, error in load_variables(
            notebook._getVariableStore(), namespace, module, traverse
        ).items()
    ]
    if failed:  # a definition may need a restored variable: try those once more
        again = [d for d in definitions if ", ".join(d.names) in failed]
        notes += [
            f"Definition of {names} from an earlier cell failed: {error}"
            for names, error in replay(again, namespace).items()
        ]
    return notes


def execute(notebook: Any, context: Any, code: str, store_history: bool = True) -> CellResult:
    """Run ``code`` as the next cell of ``notebook`` with ``context`` bound."""
    ensure_backend()
    module_name = notebook.getNotebookModuleName()
    with notebook_lock(module_name):
        module = types.ModuleType(module_name)
        sys.modules[module_name] = module  # pickle finds the cell's classes while saving
        try:
            return _execute_in(module, notebook, context, code, store_history)
        finally:  # the next cell rebuilds the module from ZODB: none kept per notebook
            if sys.modules.get(module_name) is module:
                del sys.modules[module_name]


def _execute_in(module: types.ModuleType, notebook: Any, context: Any, code: str,
                store_history: bool) -> CellResult:
    """The cell in ``module`` (registered in ``sys.modules`` by :func:`execute`)."""
    injected = _namespace(context)
    module.__dict__.update(injected)
    notes = _restore(notebook, module, context)
    savepoint = transaction.savepoint(optimistic=True)
    cell = run_cell(code, module.__dict__)
    if cell.status == "error":
        _rollback(savepoint)
    else:
        assert cell.tree is not None
        definitions = merge_definitions(
            notebook._getDefinitionList(),
            cell_definitions(cell.tree, cell.source),
            module.__dict__,
        )
        notebook._setDefinitionList(definitions)
        report = save_variables(
            notebook._getVariableStore(), module.__dict__, set(injected), definitions
        )
        notes += [
            f"Not kept for later cells: {name!r} ({reason})"
            for name, reason in report.dropped.items()
        ]
    if notes:
        cell.stderr = "".join(note + "\n" for note in notes) + cell.stderr
    if store_history:
        _store_line(notebook, code, cell)
    return cell


def _store_line(notebook: Any, code: str, cell: CellResult) -> None:
    """Keep the executed cell as a Data Notebook Line."""
    text, mime = summary(cell)
    line = notebook.newContent(
        portal_type="Data Notebook Line",
        notebook_code=code,
        notebook_code_result=text,
        mime_type=mime,
    )
    line._setOutputList(nbformat_outputs(cell))

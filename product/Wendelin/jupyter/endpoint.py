"""The HTTP edge of notebook execution: ``Base_executeJupyter`` and ``Base_checkExistingReference``.

Wire-compatible with ERP5's Jupyter kernel (form fields in, JSON out, see
:mod:`.protocol`). Skin scripts of the same names are thin wrappers around these
functions. Running code needs a POST, the permission "Wendelin: Execute Notebook Code"
and either HTTP authentication from a client that is not a browser on another site, or
the session's CSRF token: a session cookie alone never runs code (see
:func:`require_script_or_token`). The publisher-wide rule of ``edge.py`` refuses
cross-site requests before they get here; this check keeps the endpoint's own promise.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from AccessControl.SecurityManagement import getSecurityManager
from zExceptions import BadRequest, Forbidden

from ..document.base import find_by_reference
from ..errors import InvalidInputError, MethodNotAllowedError
from ..inputs import as_text
from ..permissions import ExecuteNotebookCode, View
from . import session
from .protocol import empty_reply, erp5_reply
from .wsgi import SLOT_KEY

NOTEBOOK_TYPE = "Data Notebook"
NOTEBOOK_MODULE = "data_notebook_module"


def truthy(value: Any) -> bool:
    """Form booleans as kernels send them: ``True``, ``true``, ``1``, ``on``..."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def require_code_permission(context: Any) -> None:
    """403 with a clear message unless the user may run notebook code here."""
    security = getSecurityManager()
    if not security.checkPermission(ExecuteNotebookCode, context):
        user = security.getUser().getId()
        raise Forbidden(
            f"User {user!r} may not execute notebook code: the permission "
            f"{ExecuteNotebookCode!r} is given to Manager and Developer only."
        )


def require_post(request: Any, what: str) -> None:
    """405 unless the request is a POST: code and notebook changes never run on a GET."""
    method = request.get("REQUEST_METHOD", "GET")
    if method != "POST":
        raise MethodNotAllowedError(f"{what} accepts POST requests only, not {method}")


def require_script_or_token(context: Any, request: Any) -> None:
    """403 for a cookie session without the CSRF token, or for a browser on another site.

    The portal's one CSRF rule (:func:`Products.Wendelin.site.users.check_csrf`): HTTP Basic
    clients that no browser marks cross-site (ERP5's kernel, the contents manager,
    scripts) pass; a session cookie passes only with the session's token.
    """
    from ..site.users import check_csrf

    check_csrf(context, request)


def _catalog(context: Any) -> Any:
    return context.getPortalObject().portal_catalog


#: Most references whose notebook :func:`find_notebook` remembers (per server process).
NOTEBOOK_CACHE_SIZE = 1024
_known: OrderedDict[tuple[tuple[str, ...], str], tuple[tuple[str, ...], bytes]] = OrderedDict()
_known_lock = threading.Lock()


def _known_notebook(portal: Any, reference: str) -> Any | None:
    """The notebook remembered for ``reference`` if it is still that notebook (same object,
    type and reference) and the user may View it now; None otherwise (ask the catalog).

    The remembered one is the oldest notebook of the reference, whoever may see it, so
    when this user may View it, it is also what the catalog's search would return."""
    key = (portal.getPhysicalPath(), reference)
    with _known_lock:
        known = _known.get(key)
    if known is None:
        return None
    path, oid = known
    notebook = portal.unrestrictedTraverse(path, None)
    if (notebook is None or getattr(notebook, "_p_oid", None) != oid
            or getattr(notebook, "portal_type", None) != NOTEBOOK_TYPE
            or notebook.getReference() != reference):
        with _known_lock:
            _known.pop(key, None)
        return None
    if not getSecurityManager().checkPermission(View, notebook):
        return None
    return notebook


def _remember_notebook(portal: Any, reference: str) -> None:
    """Remember the oldest notebook of ``reference`` (unrestricted): the catalog is asked
    once per reference and server process, the permission every time."""
    oldest = find_by_reference(portal, reference, NOTEBOOK_TYPE, unrestricted=True)
    if oldest is None or getattr(oldest, "_p_oid", None) is None:
        return
    with _known_lock:
        _known[(portal.getPhysicalPath(), reference)] = (oldest.getPhysicalPath(), oldest._p_oid)
        while len(_known) > NOTEBOOK_CACHE_SIZE:
            _known.popitem(last=False)


def find_notebook(context: Any, reference: str) -> Any | None:
    """The notebook with this reference the user can see; 403 if only others' has it."""
    portal = context.getPortalObject()
    notebook = _known_notebook(portal, reference)
    if notebook is not None:
        return notebook
    notebook = find_by_reference(context, reference, NOTEBOOK_TYPE)
    if notebook is not None:
        _remember_notebook(portal, reference)
        return notebook
    if reference_exists(context, reference):
        raise Forbidden(f"The notebook reference {reference!r} belongs to another user's notebook.")
    return None


def reference_exists(context: Any, reference: str) -> bool:
    """Whether any notebook, visible to the user or not, has this reference."""
    return find_by_reference(context, reference, NOTEBOOK_TYPE, unrestricted=True) is not None


def get_or_create_notebook(context: Any, reference: str, title: str | None = None) -> Any:
    """Find the notebook by reference, creating it in the notebook module when absent."""
    notebook = find_notebook(context, reference)
    if notebook is None:
        module = getattr(context.getPortalObject(), NOTEBOOK_MODULE)
        notebook = module.newContent(
            portal_type=NOTEBOOK_TYPE, reference=reference, title=title or reference
        )
    elif title and notebook.getTitle() != title:
        notebook.edit(title=title)
    return notebook


def user_notebooks(context: Any) -> list[dict[str, str]]:
    """Reference and title of the notebooks the current user created."""
    user_id = getSecurityManager().getUser().getId()
    brains = _catalog(context)(
        portal_type=NOTEBOOK_TYPE,
        Creator=user_id,
        sort_on="modification_date",
        sort_order="descending",
    )
    return [{"reference": b.reference, "title": b.title} for b in brains]


def json_answer(request: Any, payload: Any, status: int = 200) -> str:
    """The JSON body of an answer, with its status and content type set."""
    response = request.RESPONSE
    response.setStatus(status)
    response.setHeader("Content-Type", "application/json; charset=utf-8")
    return json.dumps(payload)


def execute_jupyter(
    context: Any,
    python_expression: str | None = None,
    reference: str | None = None,
    title: str | None = None,
    store_history: Any = None,
    request_reference: Any = None,
) -> str:
    """Run one cell for ERP5's kernel; answer its JSON (user errors are ``status: error``)."""
    request = context.REQUEST
    require_post(request, "Base_executeJupyter")
    require_code_permission(context)
    require_script_or_token(context, request)
    python_expression = as_text("python_expression", python_expression)
    reference = as_text("reference", reference, max_length=1000)
    title = as_text("title", title, max_length=1000)
    if truthy(request_reference):
        notebooks = user_notebooks(context)
        reply = empty_reply()
        reply["code_result"] = "\n".join(f"{n['reference']}\t{n['title']}" for n in notebooks)
        reply["notebook_list"] = notebooks
        return json_answer(request, reply)
    code = python_expression or ""
    if not code.strip():
        if reference:
            get_or_create_notebook(context, reference, title)
        return json_answer(request, empty_reply())
    if not reference:
        reply = empty_reply()
        reply.update(
            status="error",
            ename="MissingReference",
            evalue="No notebook reference: set one with %notebook_set_reference <reference>",
            traceback=["MissingReference: no notebook reference was sent with the code"],
        )
        return json_answer(request, reply)
    notebook = get_or_create_notebook(context, reference, title)
    keep = True if store_history is None else truthy(store_history)
    slot = getattr(request, "environ", {}).get(SLOT_KEY)
    if slot is not None:  # cells run in processes: the job runs once this request committed
        slot.job = cell_job(context, notebook, code, keep, request)
        return json_answer(request, {"status": "pending"})
    from . import pool

    if pool.current() is not None:
        # Cells run in cell processes, with their limits, share and interrupt; a cell that
        # reached this function another way (a sub-path, ``:method``, another script) would
        # run in a page thread without any of them.
        raise InvalidInputError(
            "cells run in cell processes: POST them to <document>/Base_executeJupyter "
            "itself (not through a sub-path, ':method' or another script)")
    cell = session.execute(notebook, context, code, store_history=keep)
    return json_answer(request, erp5_reply(cell))


#: Request variables a cell process needs to build URLs as the request did.
REQUEST_ENVIRON = ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "HTTPS",
                   "wsgi.url_scheme", "SCRIPT_NAME")


def cell_job(context: Any, notebook: Any, code: str, store_history: bool, request: Any) -> Any:
    """What a cell process needs to run the cell as this request would have."""
    from Acquisition import aq_inner, aq_parent

    from .worker import CellJob

    user = getSecurityManager().getUser()
    folder = aq_parent(aq_inner(user))
    environ = request.environ
    virtual_root = request.other.get("VirtualRootPhysical")
    return CellJob(
        code=code,
        key=notebook.getNotebookModuleName(),
        notebook_path=tuple(notebook.getPhysicalPath()),
        context_path=tuple(context.getPhysicalPath()),
        user_id=user.getId(),
        user_folder_path=tuple(folder.getPhysicalPath()),
        store_history=store_history,
        environ={k: str(environ[k]) for k in REQUEST_ENVIRON if k in environ},
        script=tuple(getattr(request, "_script", ()) or ()),
        virtual_root=tuple(virtual_root) if virtual_root is not None else None,
    )


def interrupt_jupyter(context: Any, reference: str | None = None) -> str:
    """Interrupt the notebook's running cell (SIGINT to its process); JSON ``interrupted``."""
    request = context.REQUEST
    require_post(request, "Base_interruptJupyter")
    require_code_permission(context)
    require_script_or_token(context, request)
    reference = as_text("reference", reference, max_length=1000)  # text, never a query
    if not reference:
        raise InvalidInputError("Base_interruptJupyter needs the notebook's 'reference'")
    from . import pool

    notebook = find_notebook(context, reference)
    cells = pool.current()
    if notebook is None or cells is None:
        reason = "no such notebook" if notebook is None else "cells run in request threads"
        return json_answer(request, {"status": "ok", "interrupted": False, "reason": reason})
    interrupted = cells.interrupt(notebook.getNotebookModuleName())
    reason = "" if interrupted else "no cell of this notebook is running"
    return json_answer(request, {"status": "ok", "interrupted": interrupted, "reason": reason})


def check_existing_reference(context: Any, reference: str | None = None) -> str:
    """Empty when no notebook has ``reference``; its reference otherwise (ERP5's contract)."""
    reference = as_text("reference", reference, max_length=1000)  # text, never a query
    if not reference:
        raise BadRequest("Base_checkExistingReference needs a 'reference'")
    return reference if reference_exists(context, reference) else ""

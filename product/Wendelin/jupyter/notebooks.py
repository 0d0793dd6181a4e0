"""JSON API of the Data Notebook Module, used by Jupyter's contents manager.

List, read, save, delete and rename notebooks by reference; the ``.ipynb`` content
is nbformat 4. Domain errors become HTTP statuses here, at the edge: 400 for invalid
content, 404 for an unknown reference, 409 for a taken one.

A saved notebook's JSON body is read from the request's body file, not through Zope's
form parsing, so Zope's ``form-memory-limit`` (1 MB) does not apply; its own quota,
``WENDELIN_MAX_NOTEBOOK_BYTES`` (default 256 MiB), does: a bigger body answers 413.
"""

from __future__ import annotations

import os
from typing import Any

from AccessControl import Unauthorized
from AccessControl.SecurityManagement import getSecurityManager
from zExceptions import BadRequest, NotFound

from ..document.content import copy_request_body
from ..document.ipynb import check_ipynb
from ..errors import (
    InvalidInputError,
    QuotaExceededError,
    StateConflictError,
    UnsupportedMediaTypeError,
)
from ..inputs import load_json
from ..permissions import DeleteObjects, ModifyPortalContent
from .endpoint import (
    NOTEBOOK_TYPE,
    find_notebook,
    json_answer,
    reference_exists,
    require_post,
    require_script_or_token,
)

#: Largest notebook body saved (``WENDELIN_MAX_NOTEBOOK_BYTES``); notebooks with images grow.
DEFAULT_MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
#: Nesting allowed in a saved notebook's JSON (nbformat itself needs about 8 levels).
NOTEBOOK_JSON_DEPTH = 100


class ReferenceTakenError(StateConflictError):
    """Another notebook already has this reference (409)."""


def max_notebook_bytes(environ: dict[str, str] | None = None) -> int:
    """The quota of one saved notebook's JSON body, from ``WENDELIN_MAX_NOTEBOOK_BYTES``."""
    from ..settings import parse_size

    text = (os.environ if environ is None else environ).get("WENDELIN_MAX_NOTEBOOK_BYTES", "")
    return parse_size(text) if text.strip() else DEFAULT_MAX_NOTEBOOK_BYTES


def read_body(request: Any, limit: int) -> bytes:
    """The request body, read block by block from its file; QuotaExceededError past ``limit``.

    Zope's ``BODY`` goes through its form memory limit (1 MB); the body file does not.
    """
    length = request.get_header("Content-Length", "") or ""
    if length.strip().isdigit() and int(length) > limit:
        raise QuotaExceededError(
            f"the notebook body is {int(length)} bytes, more than the {limit}-byte quota "
            "(WENDELIN_MAX_NOTEBOOK_BYTES)"
        )
    body = bytearray()

    def append(block: bytes) -> None:
        body.extend(block)
        if len(body) > limit:
            raise QuotaExceededError(
                f"the notebook body is more than the {limit}-byte quota "
                "(WENDELIN_MAX_NOTEBOOK_BYTES)"
            )

    copy_request_body(request, append)
    return bytes(body)


def _iso(date: Any) -> str:
    return date.toZone("UTC").ISO8601() if date is not None else ""


def notebook_info(notebook: Any) -> dict[str, str]:
    """The list entry of one notebook."""
    return {
        "id": notebook.getId(),
        "reference": notebook.getReference(),
        "title": notebook.getTitle(),
        "url": notebook.absolute_url(),
        "creation_date": _iso(notebook.getCreationDate()),
        "modification_date": _iso(notebook.getModificationDate()),
    }


def _require(notebook: Any | None, reference: str) -> Any:
    if notebook is None:
        raise NotFound(f"No notebook has the reference {reference!r}")
    return notebook


def _check_permission(permission: str, obj: Any) -> None:
    """Method security is not applied to module code: check what the script would need."""
    if not getSecurityManager().checkPermission(permission, obj):
        raise Unauthorized(f"You may not {permission!r} on {obj.getId()!r}")


def _check_reference(reference: Any) -> str:
    if not isinstance(reference, str) or not reference.strip():
        raise BadRequest(f"a notebook needs a non-empty text reference, got {reference!r}")
    if "/" in reference:
        raise BadRequest(f"a notebook reference cannot contain '/': {reference!r}")
    return reference


def list_notebooks(module: Any) -> str:
    """``[{id, reference, title, url, creation_date, modification_date}]``."""
    brains = module.getPortalObject().portal_catalog(portal_type=NOTEBOOK_TYPE, sort_on="reference")
    entries = [notebook_info(brain.getObject()) for brain in brains]
    return json_answer(module.REQUEST, [entry for entry in entries if entry["reference"]])


def get_notebook(module: Any, reference: str | None = None) -> str:
    """One notebook's list entry and its ``ipynb`` content."""
    reference = _check_reference(reference)
    notebook = _require(find_notebook(module, reference), reference)
    return json_answer(
        module.REQUEST,
        {
            **notebook_info(notebook),
            # False: the content is built from executed cells, never saved from Jupyter
            "ipynb_saved": notebook.hasIpynb(),
            "ipynb": notebook.getIpynb(),
        },
    )


def save_notebook(module: Any) -> str:
    """Create or update a notebook from a JSON body ``{reference, title?, ipynb}``.

    A malformed body (not JSON, nested too deep, a lone surrogate, a wrong structure)
    raises InvalidInputError (400) before anything is created.
    """
    request = module.REQUEST
    require_post(request, "DataNotebookModule_saveNotebook")
    if not request.get_header("Content-Type", "").startswith("application/json"):
        raise UnsupportedMediaTypeError(
            "save a notebook with a POST of Content-Type: application/json"
        )
    require_script_or_token(module, request)
    body = load_json(
        read_body(request, max_notebook_bytes()), "the notebook body", NOTEBOOK_JSON_DEPTH
    )
    if not isinstance(body, dict) or not isinstance(body.get("ipynb"), dict):
        raise InvalidInputError(
            "the body must be a JSON object with 'reference' and 'ipynb' (an object)"
        )
    reference = _check_reference(body.get("reference"))
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidInputError(f"a notebook title is text, not {type(title).__name__}")
    check_ipynb(body["ipynb"])
    notebook = find_notebook(module, reference)
    created = notebook is None
    if notebook is None:
        notebook = module.newContent(
            portal_type=NOTEBOOK_TYPE, reference=reference, title=title or reference
        )
    else:
        _check_permission(ModifyPortalContent, notebook)
        if title is not None and title != notebook.getTitle():
            notebook.edit(title=title)
    notebook.setIpynb(body["ipynb"])
    return json_answer(request, notebook_info(notebook), 201 if created else 200)


def delete_notebook(module: Any, reference: str | None = None) -> str:
    """Delete the notebook with this reference (its lines and state go with it)."""
    request = module.REQUEST
    require_post(request, "DataNotebookModule_deleteNotebook")
    require_script_or_token(module, request)
    reference = _check_reference(reference)
    notebook = _require(find_notebook(module, reference), reference)
    _check_permission(DeleteObjects, notebook)
    notebook.aq_parent.manage_delObjects([notebook.getId()])
    request.RESPONSE.setStatus(204)
    return ""


def rename_notebook(
    module: Any, reference: str | None = None, new_reference: str | None = None
) -> str:
    """Give a notebook a new reference (its Jupyter file name); 409 if taken."""
    request = module.REQUEST
    require_post(request, "DataNotebookModule_renameNotebook")
    require_script_or_token(module, request)
    reference = _check_reference(reference)
    new_reference = _check_reference(new_reference)
    notebook = _require(find_notebook(module, reference), reference)
    _check_permission(ModifyPortalContent, notebook)
    if new_reference != reference and reference_exists(module, new_reference):
        raise ReferenceTakenError(f"The notebook reference {new_reference!r} is already taken")
    notebook.edit(reference=new_reference)
    if notebook.hasIpynb():
        notebook.setIpynb(notebook.getIpynb())
    return json_answer(request, notebook_info(notebook))

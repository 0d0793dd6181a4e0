"""Running a skin script that a document names (operations, transforms, analyses).

Documents store script ids that users chose, so a name is only ever resolved to a skin
*script* (restricted code), never to a method, a tool or a private name, and it is
traversed as the current user, so that user's permissions apply. Work the system starts
on its own (alarms) runs such scripts as :data:`PIPELINE_USER`, an Author, never as the
unrestricted system user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from AccessControl.SecurityManagement import (
    getSecurityManager,
    newSecurityManager,
    setSecurityManager,
)
from AccessControl.users import SimpleUser
from Acquisition import aq_base
from Products.CMFCore.FSPythonScript import FSPythonScript
from Products.PythonScripts.PythonScript import PythonScript
from zExceptions import NotFound

from ..errors import InvalidInputError

#: The naming rule of skin scripts: ``PortalType_verbNoun``.
SCRIPT_ID = re.compile(r"^[A-Z][A-Za-z0-9]*_[a-z][A-Za-z0-9]*$")

#: Skin scripts that run notebook code (they need "Wendelin: Execute Notebook Code"): a
#: document never names them, since whoever runs the document would run its stored code.
CODE_RUNNING_SCRIPTS = frozenset({"Base_executeJupyter", "Base_interruptJupyter"})

#: A skin script whose body imports from here is a notebook endpoint (it runs cells or
#: changes notebooks, which hold code): refused to documents like the scripts above.
CODE_RUNNING_PACKAGE = "Products.Wendelin.jupyter"

#: Parameter names that carry code to run (``Base_executeJupyter``'s cell): never stored.
CODE_PARAMETERS = frozenset({"python_expression", "code"})

#: Who runs the scripts of pipelines started by the system: an Author, no more.
PIPELINE_USER = SimpleUser("Wendelin Pipelines", "", ("Author", "Authenticated"), [])


def check_script_id(script_id: Any) -> str:
    """``script_id`` if a document may name it; InvalidInputError for a name that is not a
    skin script's or that names a code-running entry point."""
    if not isinstance(script_id, str) or not SCRIPT_ID.match(script_id):
        raise InvalidInputError(f"{str(script_id)[:80]!r} is not a skin script name "
                                "(PortalType_verbNoun)")
    return refuse_code_runner(script_id)


def refuse_code_runner(script_id: Any) -> Any:
    """``script_id`` unless it names a code-running entry point (InvalidInputError); other
    names are stored as they are (a bad one is refused when the document runs)."""
    if script_id in CODE_RUNNING_SCRIPTS:
        raise InvalidInputError(f"{script_id!r} runs notebook code: a stored document may "
                                "not name it (its runner would run the stored code)")
    return script_id


def check_stored_parameters(parameters: Any) -> Any:
    """``parameters`` unless a name carries code (:data:`CODE_PARAMETERS`): InvalidInputError."""
    if isinstance(parameters, dict):
        for name in parameters:
            if isinstance(name, str) and name.lower() in CODE_PARAMETERS:
                raise InvalidInputError(f"parameter {name!r} carries code to run: a stored "
                                        "document may not hold it")
    return parameters


def _runs_code(script: Any) -> bool:
    """Whether a skin script's body imports from the notebook endpoints' package."""
    try:
        body = script.read()
    except Exception:  # noqa: BLE001  (an unreadable body is treated as running code)
        return True
    return CODE_RUNNING_PACKAGE in body


def check_stored_script(context: Any, script_id: Any) -> str:
    """Store-time check of a script id a document names: :func:`refuse_code_runner`, and when
    the script can be found from ``context``, its body must not run notebook code."""
    refuse_code_runner(script_id)
    if context is not None and isinstance(script_id, str) and SCRIPT_ID.match(script_id):
        script = getattr(context, script_id, None)
        if isinstance(aq_base(script), (FSPythonScript, PythonScript)) and _runs_code(script):
            raise InvalidInputError(f"{script_id!r} runs notebook code: a stored document "
                                    "may not name it")
    return script_id


def skin_script(context: Any, script_id: Any) -> Any:
    """The skin script ``script_id`` acquired from ``context``, checked as the current user.

    InvalidInputError for a name that is not a skin script's or for a script that runs
    notebook code (documents store these names); Unauthorized if the user may not call it."""
    check_script_id(script_id)
    try:
        script = context.restrictedTraverse(script_id)
    except (AttributeError, KeyError, NotFound) as error:
        raise InvalidInputError(f"no skin script {script_id!r} here") from error
    if not isinstance(aq_base(script), (FSPythonScript, PythonScript)):
        raise InvalidInputError(f"{script_id!r} is not a skin script")
    if _runs_code(script):
        raise InvalidInputError(f"{script_id!r} runs notebook code: a stored document may "
                                "not name it (its runner would run the stored code)")
    return script


def _is_system(user: Any) -> bool:
    from AccessControl.users import UnrestrictedUser

    return user is None or isinstance(aq_base(user), UnrestrictedUser)


@contextmanager
def as_pipeline_user(context: Any) -> Iterator[None]:
    """Inside the block, the system's unrestricted user is replaced by PIPELINE_USER
    (wrapped in the portal's user folder); a real user stays who they are."""
    manager = getSecurityManager()
    if not _is_system(manager.getUser()):
        yield
        return
    folder = context.getPortalObject().acl_users
    newSecurityManager(None, PIPELINE_USER.__of__(folder))
    try:
        yield
    finally:
        setSecurityManager(manager)


def run_skin_script(context: Any, script_id: Any, *args: Any, **kw: Any) -> Any:
    """Call the skin script ``script_id`` on ``context`` as the current user (the pipeline
    user for the system's own work)."""
    with as_pipeline_user(context):
        return skin_script(context, script_id)(*args, **kw)

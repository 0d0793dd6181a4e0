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

#: Who runs the scripts of pipelines started by the system: an Author, no more.
PIPELINE_USER = SimpleUser("Wendelin Pipelines", "", ("Author", "Authenticated"), [])


def skin_script(context: Any, script_id: Any) -> Any:
    """The skin script ``script_id`` acquired from ``context``, checked as the current user.

    InvalidInputError for a name that is not a skin script's; Unauthorized if the user
    may not call it."""
    if not isinstance(script_id, str) or not SCRIPT_ID.match(script_id):
        raise InvalidInputError(f"{str(script_id)[:80]!r} is not a skin script name "
                                "(PortalType_verbNoun)")
    try:
        script = context.restrictedTraverse(script_id)
    except (AttributeError, KeyError, NotFound) as error:
        raise InvalidInputError(f"no skin script {script_id!r} here") from error
    if not isinstance(aq_base(script), (FSPythonScript, PythonScript)):
        raise InvalidInputError(f"{script_id!r} is not a skin script")
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

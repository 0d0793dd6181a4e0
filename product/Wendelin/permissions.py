"""Wendelin permissions and the role map applied to the portal.

Content permissions are CMF's own; Wendelin adds one for running notebook code.
The role map is the single place that says which role may do what on ``/erp5``.
"""

from AccessControl.Permission import addPermission
from Products.CMFCore.permissions import (
    AccessContentsInformation,
    AddPortalContent,
    DeleteObjects,
    ListFolderContents,
    ManagePortal,
    ModifyPortalContent,
    View,
)

ExecuteNotebookCode = "Wendelin: Execute Notebook Code"
addPermission(ExecuteNotebookCode, ("Manager",))

#: Roles defined on the portal besides Zope's Manager, Owner, Authenticated.
PORTAL_ROLES = ("Author", "Auditor", "Developer")

#: Permission -> roles granted on the portal (acquisition from the root is turned off).
ROLE_MAP: dict[str, tuple[str, ...]] = {
    View: ("Manager", "Author", "Auditor", "Developer", "Owner"),
    AccessContentsInformation: ("Manager", "Author", "Auditor", "Developer", "Owner"),
    ListFolderContents: ("Manager", "Author", "Auditor", "Developer", "Owner"),
    AddPortalContent: ("Manager", "Author", "Developer"),
    ModifyPortalContent: ("Manager", "Author", "Developer", "Owner"),
    DeleteObjects: ("Manager", "Author", "Developer", "Owner"),
    ExecuteNotebookCode: ("Manager", "Developer"),
    ManagePortal: ("Manager",),
}

def require_permission(permission: str, obj: object, what: str = "") -> None:
    """Unauthorized unless the current user holds ``permission`` on ``obj``.

    For trusted helpers that skin scripts call: they write through Python, where the
    declarations of restricted code do not apply, so they check what they write."""
    from AccessControl import Unauthorized
    from AccessControl.SecurityManagement import getSecurityManager

    if not getSecurityManager().checkPermission(permission, obj):
        name = getattr(obj, "getId", lambda: "")()
        raise Unauthorized(f"you may not {what or 'change'} {name!r} ({permission})")


__all__ = [
    "AccessContentsInformation",
    "AddPortalContent",
    "DeleteObjects",
    "ExecuteNotebookCode",
    "ListFolderContents",
    "ManagePortal",
    "ModifyPortalContent",
    "PORTAL_ROLES",
    "ROLE_MAP",
    "View",
    "require_permission",
]

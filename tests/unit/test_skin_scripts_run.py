"""Script ids stored in documents resolve to skin scripts only, checked as the user; the
system's own pipeline work runs them as an Author, never unrestricted."""

from __future__ import annotations

import pytest
from AccessControl import Unauthorized
from AccessControl.SecurityManagement import getSecurityManager, newSecurityManager
from AccessControl.users import UnrestrictedUser
from Products.Wendelin.document.scripts import (
    PIPELINE_USER,
    as_pipeline_user,
    run_skin_script,
    skin_script,
)
from Products.Wendelin.errors import InvalidInputError
from Products.Wendelin.permissions import ModifyPortalContent


@pytest.mark.parametrize("name", [
    "manage_addLocalRoles",      # a ZMI method: the privilege escalation the attack used
    "manage_delObjects",
    "reindexObject",
    "_setObject",
    "getData",                   # a document method, not a script
    "Base_view",                 # a skin page template, not a script
    "acl_users",
    "DataStream_noSuchScript",
    "x" * 500,
    None,
    ["DataStream_getSize"],
])
def test_only_skin_scripts_resolve(portal, name):
    stream = portal.data_stream_module.newContent(reference="scripts")
    with pytest.raises(InvalidInputError):
        skin_script(stream, name)


def test_a_skin_script_runs_as_the_current_user(portal, site_users, login):
    stream = portal.data_stream_module.newContent(reference="scripts")
    stream.appendData(b"12345")
    assert run_skin_script(stream, "DataStream_getSize") == 5
    login("nobody")   # may not view the stream: traversal to the script is refused
    with pytest.raises(Unauthorized):
        run_skin_script(stream, "DataStream_getSize")


def test_the_system_runs_scripts_as_an_author_never_unrestricted(portal):
    stream = portal.data_stream_module.newContent(reference="scripts")
    newSecurityManager(None, UnrestrictedUser("system", "", ("Manager",), []))
    with as_pipeline_user(stream):
        user = getSecurityManager().getUser()
        assert user.getUserName() == PIPELINE_USER.getUserName()
        assert getSecurityManager().checkPermission(ModifyPortalContent, stream)
        assert not getSecurityManager().checkPermission("Change permissions", stream)
        assert not getSecurityManager().checkPermission("Manage users", portal.acl_users)
    assert isinstance(getSecurityManager().getUser(), UnrestrictedUser)

"""The notebook of a reference is remembered per server process, never its permission.

``find_notebook`` asks the catalog once per reference and then traverses to the notebook
it found: each lookup still checks that the object is that notebook (same object, type
and reference) and that the current user may View it. Each test fails if the remembered
notebook were returned without one of these checks, or if the memory were unbounded.
"""

from __future__ import annotations

import pytest
import transaction
from Products.Wendelin.jupyter import endpoint
from Products.Wendelin.jupyter.endpoint import find_notebook
from zExceptions import Forbidden


def new_notebook(portal, reference: str):
    notebook = portal.data_notebook_module.newContent(portal_type="Data Notebook",
                                                      reference=reference)
    transaction.savepoint()  # an oid, as a committed notebook has
    return notebook


def remembered(portal, reference: str) -> bool:
    return (portal.getPhysicalPath(), reference) in endpoint._known


def test_a_remembered_notebook_is_still_refused_to_a_user_who_may_not_view_it(
    portal, site_users, login
):
    login("developer")
    notebook = new_notebook(portal, "lookup-private")
    assert find_notebook(portal, "lookup-private") == notebook
    assert remembered(portal, "lookup-private")
    assert find_notebook(portal, "lookup-private") == notebook  # from memory
    login("nobody")
    with pytest.raises(Forbidden, match="another user's notebook"):
        find_notebook(portal, "lookup-private")
    login("developer")
    assert find_notebook(portal, "lookup-private") == notebook


def test_a_renamed_or_deleted_notebook_is_not_found_from_memory(portal, site_users, login):
    login("developer")
    first = new_notebook(portal, "lookup-moved")
    assert find_notebook(portal, "lookup-moved") == first
    first.edit(reference="lookup-elsewhere")
    assert find_notebook(portal, "lookup-moved") is None
    second = new_notebook(portal, "lookup-moved")
    assert find_notebook(portal, "lookup-moved") == second
    portal.data_notebook_module.manage_delObjects([second.getId()])
    third = new_notebook(portal, "lookup-moved")
    assert third.getId() != second.getId()
    assert find_notebook(portal, "lookup-moved") == third


def test_a_notebook_in_the_place_of_a_remembered_one_is_not_taken_for_it(
    portal, site_users, login
):
    """Same path, type and reference, but another object, newer than one the catalog
    knows: the oldest, as the catalog says, is the reference's notebook."""
    login("developer")
    module = portal.data_notebook_module
    original = new_notebook(portal, "lookup-replaced")
    assert find_notebook(portal, "lookup-replaced") == original
    ident = original.getId()
    module.manage_delObjects([ident])
    older = new_notebook(portal, "lookup-replaced")  # the one the catalog now names
    impostor = module.newContent(portal_type="Data Notebook", id=ident,
                                 reference="lookup-replaced-later")
    # the same reference as ``older``: refused through every setter (409), so set as a
    # copy pasted in the ZMI or an old database would have it
    impostor.reference = "lookup-replaced"
    impostor.reindexObject()
    transaction.savepoint()
    assert impostor.getPhysicalPath() == original.getPhysicalPath()
    assert find_notebook(portal, "lookup-replaced") == older


def test_the_memory_is_bounded(portal, site_users, login, monkeypatch):
    login("developer")
    monkeypatch.setattr(endpoint, "NOTEBOOK_CACHE_SIZE", 3)
    for number in range(6):
        new_notebook(portal, f"lookup-many-{number}")
        assert find_notebook(portal, f"lookup-many-{number}") is not None
    assert len(endpoint._known) <= 3
    assert remembered(portal, "lookup-many-5") and not remembered(portal, "lookup-many-0")

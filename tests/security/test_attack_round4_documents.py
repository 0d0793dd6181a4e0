"""Round 4 of the outside attack (stored documents): a stored script that runs code, and a
notebook reference given twice.

An Author stored a Data Operation naming ``Base_executeJupyter`` with the code in its
``parameter_dict``; a Manager's Run then ran that code as the Manager. And ``Base_edit``
gave a notebook another notebook's reference (renaming refused it with 409).
"""

from __future__ import annotations

import json

from security_conftest import TALLY

EVIL_CODE = 'portal.acl_users.userFolderAddUser("evil4", "evil-pw", ["Manager"], [])'


def _user_exists(site, name: str) -> bool:
    """Whether the portal's user folder holds ``name`` (asked as the root administrator)."""
    out = site.run(f"print(context.getPortalObject().acl_users.getUserById({name!r}) is not None)")
    return out.strip() == "True"


def _post_json(site, role: str, url: str, body: dict):
    return site.request(site.basic(role), "POST", url, data=json.dumps(body),
                        headers={"Content-Type": "application/json"})


def test_author_cannot_store_an_operation_naming_the_code_runner(site) -> None:
    """The repro: newContentFromJSON of an operation naming Base_executeJupyter is a 400
    naming the script, and no operation is stored."""
    answer = _post_json(site, "author", f"{site.url}/data_operation_module/newContentFromJSON", {
        "reference": "fast-fft-r4", "title": "FFT (fast)", "script_id": "Base_executeJupyter",
        "parameter_dict": {"python_expression": EVIL_CODE, "reference": "x"},
        "input_portal_type": "Data Array"})
    assert answer.status_code == 400, answer.text[:500]
    assert "Base_executeJupyter" in answer.text
    for script in ("Base_interruptJupyter", "DataNotebookModule_saveNotebook"):
        other = _post_json(site, "author", f"{site.url}/data_operation_module/newContentFromJSON",
                           {"reference": "r4-other", "script_id": script})
        assert other.status_code == 400, (script, other.text[:300])
    found = site.run("print(len(context.portal_catalog.unrestrictedSearchResults("
                     "portal_type='Data Operation', reference=['fast-fft-r4', 'r4-other'])))")
    assert found.strip() == "0"


def test_author_cannot_store_code_in_an_operations_parameters(site) -> None:
    """A harmless script with a ``python_expression`` parameter stored: 400 at creation."""
    answer = _post_json(site, "author", f"{site.url}/data_operation_module/newContentFromJSON", {
        "reference": "fft-code-r4", "script_id": "DataArray_computeFFT",
        "parameter_dict": {"python_expression": EVIL_CODE}})
    assert answer.status_code == 400, answer.text[:500]
    assert "python_expression" in answer.text


def test_author_cannot_edit_an_operation_to_the_code_runner(site) -> None:
    """edit() of a stored operation (the setter path after creation) refuses the script."""
    made = site.create("data_operation_module", role="author", reference="r4-edit",
                       script_id="DataArray_computeFFT")
    out = site.run(
        "from Products.Wendelin.errors import InvalidInputError\n"
        f"_o = context.getPortalObject().data_operation_module[{made['id']!r}]\n"
        "try:\n"
        "    _o.edit(script_id='Base_executeJupyter')\n"
        "except InvalidInputError as _e:\n"
        "    print('refused', _o.getScriptId())\n"
    )
    assert out.strip() == "refused DataArray_computeFFT"


def test_already_stored_code_operation_does_not_run_as_the_manager(site, targets) -> None:
    """An operation stored before the fix (attributes set directly): the Manager's and the
    Developer's Run answer 400 and the stored code never ran."""
    url = site.run(
        "_m = context.getPortalObject().data_operation_module\n"
        "_o = _m.newContent(reference='r4-stored', script_id='DataArray_computeFFT')\n"
        "_o.script_id = 'Base_executeJupyter'\n"
        f"_o.parameter_dict = {{'python_expression': {EVIL_CODE!r}, 'reference': 'x'}}\n"
        "_p = _m.newContent(reference='r4-stored-params', script_id='DataArray_computeFFT')\n"
        f"_p.parameter_dict = {{'python_expression': {EVIL_CODE!r}}}\n"
        "import transaction; transaction.commit()\n"
        "print(_o.absolute_url(), _p.absolute_url())"
    ).split()
    for operation in url:
        for role in ("manager", "developer"):
            answer = site.request(site.basic(role), "POST", f"{operation}/DataOperation_run",
                                  data={"input": f"data_array_module/{targets['array_id']}",
                                        "parameters": "{}"},
                                  headers={"Accept": "application/json"})
            assert answer.status_code == 400, (operation, role, answer.status_code,
                                               answer.text[:500])
    assert "Base_executeJupyter" in answer.text or "python_expression" in answer.text
    assert not _user_exists(site, "evil4")
    TALLY.tries += 1


def test_base_edit_cannot_give_a_notebook_a_taken_reference(site, targets) -> None:
    """Base_edit of notebook B with notebook A's reference: 409, B keeps its reference;
    newContentFromJSON with a taken reference is a 409 too."""
    mine = site.create("data_notebook_module", role="author", reference="r4-notebook-b",
                       title="B")
    answer = site.request(site.basic("author"), "POST", f"{mine['url']}/Base_edit",
                          data={"title": "B", "reference": targets["notebook_ref"],
                                "description": ""})
    assert answer.status_code == 409, (answer.status_code, answer.text[:500])
    assert targets["notebook_ref"] in answer.text
    kept = site.run("print(context.getPortalObject().data_notebook_module"
                    f"[{mine['id']!r}].getReference())")
    assert kept.strip() == "r4-notebook-b"
    again = _post_json(site, "author", f"{site.url}/data_notebook_module/newContentFromJSON",
                       {"reference": targets["notebook_ref"], "title": "dup"})
    assert again.status_code == 409, (again.status_code, again.text[:500])
    same = site.request(site.basic("author"), "POST", f"{mine['url']}/Base_edit",
                        data={"title": "B2", "reference": "r4-notebook-b", "description": ""})
    assert same.status_code == 303, same.status_code  # keeping its own reference is fine


def test_a_renamed_code_runner_is_refused_by_its_body(site, targets) -> None:
    """A skin script under another name that calls the notebook endpoints (found by its
    body, not its id): refused at store time and at run time."""
    url = site.run(
        "_p = context.getPortalObject()\n"
        "from Products.PythonScripts.PythonScript import manage_addPythonScript\n"
        "manage_addPythonScript(_p, 'DataArray_runAnything')\n"
        "_p.DataArray_runAnything.ZPythonScript_edit(\n"
        "    'python_expression=None, reference=None',\n"
        "    'from Products.Wendelin.jupyter.endpoint import execute_jupyter\\n'\n"
        "    'return execute_jupyter(context, python_expression=python_expression, '\n"
        "    'reference=reference)\\n')\n"
        "_o = _p.data_operation_module.newContent(reference='r4-renamed')\n"
        "_o.script_id = 'DataArray_runAnything'\n"
        "import transaction; transaction.commit()\n"
        "print(_o.absolute_url())"
    ).strip()
    try:
        stored = _post_json(site, "author",
                            f"{site.url}/data_operation_module/newContentFromJSON",
                            {"reference": "r4-renamed-2", "script_id": "DataArray_runAnything"})
        assert stored.status_code == 400, stored.text[:300]
        assert "DataArray_runAnything" in stored.text
        answer = site.request(site.basic("manager"), "POST", f"{url}/DataOperation_run",
                              data={"input": f"data_array_module/{targets['array_id']}",
                                    "parameters": json.dumps({"reference": "x"})},
                              headers={"Accept": "application/json"})
        assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    finally:  # the suite shares one server: leave no extra script in the portal
        site.run("context.getPortalObject().manage_delObjects(['DataArray_runAnything'])\n"
                 "import transaction; transaction.commit()\nprint('ok')")

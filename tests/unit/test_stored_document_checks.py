"""In-process checks of what a stored document may hold: no code-running script or code
parameter in an operation, and one Data Notebook per reference, on every setter path."""

from __future__ import annotations

import pytest
from Products.Wendelin.document.scripts import skin_script
from Products.Wendelin.errors import InvalidInputError, StateConflictError


@pytest.mark.parametrize("script_id", ["Base_executeJupyter", "Base_interruptJupyter"])
def test_an_operation_never_stores_a_code_runner(portal, script_id: str) -> None:
    """newContent and edit refuse the script, naming it; the stored value is unchanged."""
    module = portal.data_operation_module
    with pytest.raises(InvalidInputError, match=script_id):
        module.newContent(portal_type="Data Operation", script_id=script_id)
    operation = module.newContent(portal_type="Data Operation",
                                  script_id="DataArray_computeFFT")
    with pytest.raises(InvalidInputError, match=script_id):
        operation.edit(script_id=script_id)
    assert operation.getScriptId() == "DataArray_computeFFT"


def test_the_notebook_endpoints_are_no_skin_scripts_for_documents(portal) -> None:
    """Resolving a document's script refuses every notebook endpoint (they run or change
    code), by id and by the package their body imports."""
    for name in ("Base_executeJupyter", "DataNotebookModule_saveNotebook",
                 "DataNotebookModule_deleteNotebook"):
        with pytest.raises(InvalidInputError, match="runs notebook code"):
            skin_script(portal, name)
    assert skin_script(portal.data_array_module, "DataArray_computeFFT") is not None


def test_an_operation_stores_no_code_parameter(portal) -> None:
    """``python_expression`` in parameter_dict: refused when stored and when run."""
    module = portal.data_operation_module
    with pytest.raises(InvalidInputError, match="python_expression"):
        module.newContent(portal_type="Data Operation", script_id="DataArray_computeFFT",
                          parameter_dict={"python_expression": "1"})
    operation = module.newContent(portal_type="Data Operation",
                                  script_id="DataArray_computeFFT")
    operation.parameter_dict = {"python_expression": "1"}  # stored before the check
    array = portal.data_array_module.newContent(portal_type="Data Array")
    with pytest.raises(InvalidInputError, match="python_expression"):
        operation.execute(array)


def test_a_notebook_reference_is_unique_on_every_setter(portal) -> None:
    """newContent, edit and setReference with another notebook's reference: 409 naming it,
    nothing changed; keeping its own reference is fine."""
    module = portal.data_notebook_module
    module.newContent(portal_type="Data Notebook", reference="unique-a")
    other = module.newContent(portal_type="Data Notebook", reference="unique-b")
    with pytest.raises(StateConflictError, match="unique-a"):
        module.newContent(portal_type="Data Notebook", reference="unique-a")
    for change in (lambda: other.edit(reference="unique-a", title="changed"),
                   lambda: other.setReference("unique-a")):
        with pytest.raises(StateConflictError, match="unique-a"):
            change()
        assert (other.getReference(), other.getTitle()) == ("unique-b", "")
    other.edit(reference="unique-b", title="kept")
    assert other.getTitle() == "kept"

"""After product start numpy's own types are not declared to restricted Python: a numpy
value reaches a skin script usable only when Wendelin's objects hand it over."""

import numpy as np
import pytest
from AccessControl import Unauthorized
from AccessControl.SimpleObjectPolicies import ContainerAssertions


def _script(portal, name, parameters, body):
    from Products.PythonScripts.PythonScript import manage_addPythonScript

    manage_addPythonScript(portal, name)
    script = portal[name]
    script.ZPythonScript_edit(parameters, body)
    assert not script.errors, script.errors
    return script


def test_product_start_declares_no_numpy_type(portal):
    from Products.Wendelin.restricted_data import ScriptArray

    assert ScriptArray in ContainerAssertions
    found = [kind for kind in ContainerAssertions
             if getattr(kind, "__module__", "").split(".")[0] == "numpy"
             or (isinstance(kind, type) and issubclass(kind, (np.generic, np.dtype)))]
    assert found == []


@pytest.mark.parametrize("body", [
    "return values.sum()", "return values.tolist()", "return values.dtype",
    "return values[0].item()", "return values.shape",
])
def test_a_numpy_parameter_gives_a_script_nothing(portal, body):
    script = _script(portal, "Numpy_parameter", "values", body)
    with pytest.raises(Unauthorized):
        script(np.arange(3.0))


def test_the_same_array_from_a_data_array_is_readable(portal):
    document = portal.data_array_module.newContent(reference="restricted-numpy")
    document.initArray((3,), "float64")[:] = np.arange(3.0)
    _script(portal, "Numpy_from_document", "",
                     "a = context.getArraySlice(0, 3)\n"
                     "return a.sum(), a.tolist(), a.dtype.name, a.shape, a[0]")
    assert document.Numpy_from_document() == (3.0, [0.0, 1.0, 2.0], "float64", (3,), 0.0)
    passed_in = _script(portal, "Numpy_parameter_again", "values", "return values.sum()")
    with pytest.raises(Unauthorized):  # the trusted caller's plain array, as a parameter
        passed_in(document.getArraySlice(0, 3))


@pytest.mark.parametrize("body", [
    "return a.astype('O').tobytes()",
    "return a.astype('object')",
    "return a.astype([('x', 'f8'), ('o', 'O')]).tobytes()",
])
def test_a_script_gets_no_array_of_python_objects(portal, body):
    """Their bytes are heap addresses: a script could read where objects live."""
    document = portal.data_array_module.newContent(reference="restricted-objects")
    document.initArray((3,), "float64")[:] = np.arange(3.0)
    _script(portal, "Numpy_objects", "", "a = context.getArraySlice(0, 3)\n" + body)
    with pytest.raises(Unauthorized, match="Python objects"):
        document.Numpy_objects()
    _script(portal, "Numpy_numbers", "", "a = context.getArraySlice(0, 3)\n"
                                         "return a.astype('i2').tobytes()")
    assert document.Numpy_numbers() == np.arange(3, dtype="i2").tobytes()

"""Restricted Python (skin scripts) only ever reads through live views: issue 16 made views
writable for trusted code, and a script with the View permission must not write data."""

import numpy as np
import pytest
import transaction
from AccessControl import Unauthorized
from AccessControl.ZopeGuards import get_safe_globals
from Products.Wendelin.bigdata import ZBigArray, mapping
from Products.Wendelin.restricted_data import declare_restricted_access
from RestrictedPython import compile_restricted

SCRIPT = """
views["item"] = A[0:10]
views["whole"] = A[...]
views["blocks"] = [view for start, stop, view in A.iterblocks()]
views["through_trusted_code"] = trusted_slice(A)
"""


def trusted_slice(array):
    """Stands for a document method (``getArraySlice``) a script calls."""
    return array[0:10]


def run_restricted(source: str, **names):
    declare_restricted_access()
    code = compile_restricted(source, "<script>", "exec")
    namespace = get_safe_globals()
    namespace.update(names)
    exec(code, namespace)
    return namespace


@pytest.fixture
def array(root):
    root["a"] = ZBigArray((4 * mapping.PAGESIZE,), "f8", blksize=mapping.PAGESIZE)
    transaction.commit()
    return root["a"]


def test_scripts_get_read_only_views_trusted_code_writable_ones(array):
    views = {}
    run_restricted(SCRIPT, A=array, views=views, trusted_slice=trusted_slice)
    assert set(views) == {"item", "whole", "blocks", "through_trusted_code"}
    for name, view in views.items():
        for one in view if isinstance(view, list) else [view]:
            assert not one.flags.writeable, name
    assert array[0:10].flags.writeable and trusted_slice(array).flags.writeable
    assert float(views["whole"].sum()) == 0.0  # reading works


def test_scripts_cannot_make_views_writable_or_write_through_them(array):
    with pytest.raises(Unauthorized):
        run_restricted("A[0:10].setflags(write=True)", A=array)
    with pytest.raises(ValueError):
        run_restricted("A[0:10].fill(1.0)", A=array)
    with pytest.raises(ValueError):
        run_restricted("v = A[0:10]\nv.sum(out=trusted_slice(A)[0:1].reshape(()))",
                       A=array, trusted_slice=trusted_slice)
    transaction.commit()
    assert not np.any(array[:])


TYPES = """
views["doubled"] = A[0:10] * 2
views["total"] = A[0:10].sum()
views["item"] = A[3]
views["mean_by_row"] = A[0:8].reshape(2, 4).mean(axis=1)
views["dtype_name"] = A.dtype.name
views["view_dtype"] = A[0:2].dtype
views["indexed"] = A[0:10][2]
views["fancy"] = A[[1, 2]]
views["iterated"] = [x for x in A[0:3]]
"""


def test_scripts_get_wendelin_types_and_results_stay_them(array):
    from Products.Wendelin.restricted_data import ScriptArray, ScriptDtype

    array[:10] = np.arange(10.0)
    views = {}
    run_restricted(TYPES, A=array, views=views)
    for name in ("doubled", "mean_by_row", "fancy"):
        assert type(views[name]) is ScriptArray, name
    np.testing.assert_array_equal(views["doubled"], np.arange(10.0) * 2)
    np.testing.assert_array_equal(views["mean_by_row"], [1.5, 5.5])
    assert views["total"] == 45.0 and type(views["total"]) is float
    assert views["item"] == 3.0 and type(views["item"]) is float
    assert views["indexed"] == 2.0 and type(views["indexed"]) is float
    assert views["iterated"] == [0.0, 1.0, 2.0] and {type(x) for x in views["iterated"]} == {float}
    assert views["dtype_name"] == "float64"
    assert type(views["view_dtype"]) is ScriptDtype and views["view_dtype"] == "float64"
    assert np.dtype(views["view_dtype"]) == np.float64  # numpy takes it back as a dtype
    assert type(array[3]) is np.float64 and type(array[0:10]) is np.ndarray  # trusted code


@pytest.mark.parametrize("source", [
    "arr.sum()", "arr.tolist()", "arr.dtype", "arr.T", "scalar.item()", "dtype.name",
    "list(arr.flat)",
])
def test_numpy_values_from_elsewhere_give_scripts_nothing(root, source):
    """A numpy array, scalar or dtype not handed over by Wendelin's objects (a script's
    parameter, say) has no attribute scripts may use: numpy's types are not declared."""
    with pytest.raises(Unauthorized):
        run_restricted(source, arr=np.arange(3.0), scalar=np.float64(1.5),
                       dtype=np.dtype("f8"))


def test_container_assertions_hold_no_numpy_type(root):
    from AccessControl.SimpleObjectPolicies import ContainerAssertions
    from Products.Wendelin.restricted_data import ScriptArray, ScriptDtype

    declare_restricted_access()
    numpy_types = [kind for kind in ContainerAssertions
                   if getattr(kind, "__module__", "").split(".")[0] == "numpy"]
    assert numpy_types == []
    assert ScriptArray in ContainerAssertions and ScriptDtype in ContainerAssertions
    assert not any(isinstance(kind, type) and issubclass(kind, (np.generic, np.dtype))
                   for kind in ContainerAssertions)


def test_records_fields_and_dtypes_as_scripts_get_them(root):
    from Products.Wendelin.restricted_data import ScriptArray

    dtype = np.dtype([("t", "<i8"), ("x", "<f4"), ("tag", "S3")])
    root["r"] = records = ZBigArray((3 * mapping.PAGESIZE,), dtype, blksize=mapping.PAGESIZE)
    transaction.commit()
    records[5:6] = np.array([(7, 1.5, b"abc")], dtype)
    got = {}
    run_restricted(
        "r = R[5]\n"
        "got['fields'] = (r['t'], r['x'], r['tag'])\n"
        "got['column'] = R[4:7]['t']\n"
        "got['names'] = R.dtype.names\n"
        "got['field_dtype'] = R.dtype.fields['x'][0].name\n"
        "got['none'] = R.dtype == None\n", R=records, got=got)
    assert got["fields"] == (7, 1.5, b"abc")
    assert [type(x) for x in got["fields"]] == [int, float, bytes]
    assert type(got["column"]) is ScriptArray and got["column"].tolist() == [0, 7, 0]
    assert not got["column"].flags.writeable
    assert got["names"] == ("t", "x", "tag") and got["field_dtype"] == "float32"
    assert got["none"] is False


@pytest.mark.parametrize("name", ["tofile", "dump", "ctypes", "base", "data", "setflags"])
@pytest.mark.parametrize("source", ["A[0:10]", "(A[0:10] * 2)", "A[0:10].T.copy()"])
def test_views_and_their_results_refuse_files_and_raw_memory(array, source, name):
    """What a script computes stays a ScriptArray, so the denied names stay denied
    (``ctypes`` is refused even earlier: numpy imports a helper the script may not)."""
    from zExceptions import Unauthorized as RefusedImport  # AccessControl's derives from it

    with pytest.raises(RefusedImport):
        run_restricted(f"{source}.{name}", A=array)
    assert run_restricted(f"x = {source}.sum()", A=array)["x"] == 0.0

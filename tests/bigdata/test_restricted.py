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

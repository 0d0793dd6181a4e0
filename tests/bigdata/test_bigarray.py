"""ZBigArray against numpy semantics: indexing, assignment, append, resize, persistence."""

import math

import numpy as np
import pytest
import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from Products.Wendelin.bigdata import (
    BigArrayError,
    OutOfCoreError,
    ZBigArray,
    mapping,
    memory_budget,
)

PAGE = mapping.PAGESIZE
SETTINGS = settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9)


def filled(root, shape, dtype="f8", order="C", blksize=PAGE):
    reference = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape, order=order)
    array = ZBigArray(shape, dtype, order=order, blksize=blksize)
    root["array"] = array
    array[...] = reference
    return array, reference


@pytest.fixture(params=[True, False], ids=["mapped", "copied"])
def mapping_mode(request, monkeypatch):
    monkeypatch.setattr(mapping, "mapping_enabled", request.param)
    return request.param


@SETTINGS
@given(data=st.data(), shape=shapes, order=st.sampled_from("CF"))
def test_basic_indexing_matches_numpy(root, data, shape, order):
    array, reference = filled(root, shape, order=order, blksize=PAGE)
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    expected = reference[key]
    got = array[key]
    np.testing.assert_array_equal(got, expected)
    assert np.shape(got) == np.shape(expected)
    if isinstance(got, np.ndarray):
        assert not got.flags.writeable
    transaction.abort()


@SETTINGS
@given(data=st.data(), shape=shapes, order=st.sampled_from("CF"))
def test_assignment_matches_numpy(root, data, shape, order):
    array, reference = filled(root, shape, order=order, blksize=PAGE)
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    target = reference[key]
    value_shape = data.draw(hnp.broadcastable_shapes(np.shape(target), min_side=0, max_dims=2))
    value = data.draw(hnp.arrays("f8", value_shape, elements=st.floats(-1e6, 1e6)))
    try:
        reference[key] = value
    except ValueError:
        with pytest.raises(ValueError):
            array[key] = value
        return
    array[key] = value
    np.testing.assert_array_equal(array[...], reference)
    transaction.abort()


@SETTINGS
@given(
    rows=st.lists(st.integers(0, 700), min_size=1, max_size=5),
    trailing=st.sampled_from([(), (3,), (2, 2)]),
)
def test_append_and_resize_match_numpy(root, rows, trailing):
    array = ZBigArray((0, *trailing), "i4", blksize=PAGE)
    root["array"] = array
    reference = np.zeros((0, *trailing), "i4")
    for n in rows:
        values = np.random.default_rng(n).integers(-1000, 1000, (n, *trailing), dtype="i4")
        array.append(values)
        reference = np.concatenate([reference, values])
        assert array.shape == reference.shape
    np.testing.assert_array_equal(array[:], reference)
    half = len(reference) // 2
    array.resize((half, *trailing))
    np.testing.assert_array_equal(array[:], reference[:half])
    array.resize((half + 5, *trailing))
    np.testing.assert_array_equal(array[half:], np.zeros((5, *trailing), "i4"))
    transaction.abort()


DTYPES = st.sampled_from(["i1", "<u2", ">i4", "f4", "<f8", "c8", [("t", "<f8"), ("x", "i2")]])


@SETTINGS
@given(
    data=st.data(),
    dtype=DTYPES,
    order=st.sampled_from("CF"),
    trailing=st.sampled_from([(), (3,), (2, 2)]),
    ops=st.lists(
        st.tuples(st.sampled_from(["append", "resize", "commit", "abort"]), st.integers(0, 900)),
        max_size=8,
    ),
)
def test_append_and_resize_sequences_match_numpy(root, data, dtype, order, trailing, ops):
    """Any sequence of appends, resizes (grow: zeros; shrink), commits and aborts along
    the major axis (first for C order, last for F order) matches a numpy model."""
    dtype = np.dtype(dtype)
    major = 0 if order == "C" or not trailing else len(trailing)
    def shape(n):
        return (n, *trailing) if major == 0 else (*trailing, n)
    array = ZBigArray(shape(0), dtype, order=order, blksize=PAGE)
    root["array"] = array
    transaction.commit()
    model = committed = np.zeros(shape(0), dtype)
    for op, n in ops:
        if op == "append":
            raw = data.draw(st.binary(min_size=n * math.prod(trailing) * dtype.itemsize,
                                      max_size=n * math.prod(trailing) * dtype.itemsize))
            values = np.frombuffer(raw, dtype).reshape(shape(n))
            array.append(values)
            model = np.concatenate([model, values], axis=major)
        elif op == "resize":
            array.resize(shape(n))
            kept = np.take(model, range(min(n, model.shape[major])), axis=major)
            grown = np.zeros(shape(n - kept.shape[major]), dtype)
            model = np.concatenate([kept, grown], axis=major)
        elif op == "commit":
            transaction.commit()
            committed = model
        else:
            transaction.abort()
            model = committed
        assert array.shape == model.shape
        # Bitwise, so NaNs made of random bytes compare equal (also inside records).
        # (numpy's concatenate turns the model native-endian: compare in the array's dtype.)
        got, expected = (np.ascontiguousarray(x, dtype).tobytes() for x in (array[...], model))
        assert got == expected
    transaction.abort()


def test_structured_dtype(root, mapping_mode):
    dtype = np.dtype([("t", "<f8"), ("x", "<i2"), ("tag", "S3")])
    array = ZBigArray((100,), dtype, blksize=PAGE)
    root["s"] = array
    values = np.zeros(100, dtype)
    values["t"] = np.arange(100) / 10
    values["x"] = np.arange(100)
    values["tag"] = b"abc"
    array[:] = values
    np.testing.assert_array_equal(array[10:20]["x"], np.arange(10, 20))
    assert array[5]["tag"] == b"abc"


def test_views_are_lazy_and_readonly(root):
    array = ZBigArray((1 << 20,), "f8", blksize=PAGE)
    root["a"] = array
    view = array[:]
    assert view.shape == (1 << 20,) and not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 1.0
    with pytest.raises(ValueError):
        view.setflags(write=True)
    assert view[12345] == 0.0


def test_persistence_across_restart_and_abort(root, database, mapping_mode):
    array, reference = filled(root, (5000, 3), blksize=PAGE)
    transaction.commit()
    array[0] = -1
    transaction.abort()
    np.testing.assert_array_equal(array[0], reference[0])
    database.restart()
    connection = database.db.open()
    try:
        again = connection.root()["array"]
        assert (again.shape, again.dtype) == ((5000, 3), np.dtype("f8"))
        np.testing.assert_array_equal(again[:], reference)
    finally:
        connection.close()


def test_iterblocks_and_dask(root):
    array, reference = filled(root, (3000, 4), blksize=PAGE)
    runs = list(array.iterblocks())
    assert runs[0][0] == 0 and runs[-1][1] == 3000
    assert all(stop - start == array.rows_per_block() for start, stop, _ in runs[:-1])
    np.testing.assert_array_equal(np.concatenate([v for _, _, v in runs]), reference)
    lazy = array.to_dask()
    assert lazy.chunks[0][0] == array.rows_per_block()
    assert float(lazy.sum().compute()) == float(reference.sum())


def test_bad_inputs_are_clear(root):
    with pytest.raises(BigArrayError, match="-3"):
        ZBigArray((-3,), "f8")
    with pytest.raises(BigArrayError, match="object"):
        ZBigArray((3,), object)
    with pytest.raises(BigArrayError, match="not a numpy dtype"):
        ZBigArray((3,), "no-such-dtype")
    with pytest.raises(BigArrayError, match="'K'"):
        ZBigArray((3,), "f8", order="K")
    array = ZBigArray((4, 3), "f8", blksize=PAGE)
    with pytest.raises(BigArrayError, match=r"\(2, 2\)"):
        array.append(np.zeros((2, 2)))
    with pytest.raises(BigArrayError, match="only axis 0"):
        array.resize((4, 5))
    with pytest.raises(IndexError):
        array[4]
    with pytest.raises(BigArrayError, match="broadcast"):
        array[:2] = np.zeros(5)
    with pytest.raises(BigArrayError, match=r"\(3, -2\)"):
        ZBigArray((3, -2), "f8")
    with pytest.raises(BigArrayError, match="'12'"):
        ZBigArray("12", "f8")  # not (1, 2)
    with pytest.raises(BigArrayError, match="V0|no size"):
        ZBigArray((3,), "V0")
    with pytest.raises(BigArrayError, match=r"\(4, 5\)"):
        array.resize((4, 5))
    with pytest.raises(BigArrayError, match=r"-1"):
        array.resize((-1, 3))


def test_values_of_a_wrong_dtype_name_it_and_change_nothing(root):
    array = ZBigArray((4,), "f8", blksize=PAGE)
    root["a"] = array
    array[:] = [1, 2, 3, 4]
    with pytest.raises(BigArrayError, match=r"<U3.*float64.*'abc'"):
        array[:2] = ["abc", "d"]
    with pytest.raises(BigArrayError, match=r"float64.*'zz'"):
        array.append(np.array(["1.5", "zz"]))
    assert array.shape == (4,)  # a failed append leaves the shape as it was
    with pytest.raises(BigArrayError, match="object"):
        array[:] = [object()] * 4
    np.testing.assert_array_equal(array[:], [1, 2, 3, 4])
    array.append(np.array(["5", "6.5"]))  # what numpy converts, is converted
    np.testing.assert_array_equal(array[4:], [5, 6.5])


def test_copy_fallback_over_budget_raises_out_of_core(root, monkeypatch):
    monkeypatch.setattr(mapping, "mapping_enabled", False)
    array = ZBigArray((1 << 16,), "f8", blksize=PAGE)
    root["big"] = array
    with memory_budget(64 * 1024):
        assert array[:100].shape == (100,)
        with pytest.raises(OutOfCoreError, match="memory budget"):
            array[:]


def test_advanced_indexing_copies(root):
    array, reference = filled(root, (50, 2))
    np.testing.assert_array_equal(array[[3, 1, 49]], reference[[3, 1, 49]])
    np.testing.assert_array_equal(array[reference[:, 0] > 90], reference[reference[:, 0] > 90])
    array[[0, 2]] = -7
    reference[[0, 2]] = -7
    np.testing.assert_array_equal(array[:], reference)

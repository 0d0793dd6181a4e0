"""Live views (issue 16), how Wendelin's ZBigArray implements them: the blocks a commit
stores, savepoints, claims of augmented assignments, fused in-place operations. What any
implementation must do with writable views is in the shipped suite (test_bigarray.py).

Every test runs on FileStorage and on a real ZEO server (see conftest.py).
"""

import pickle

import numpy as np
import pytest
import transaction
from Products.Wendelin.bigdata import (
    OutOfCoreError,
    ZBigArray,
    live,
    mapping,
)
from Products.Wendelin.bigdata import bigfile as bigfile_module

PAGE = mapping.PAGESIZE
BLK = 4 * PAGE  # small blocks: many blocks in a small array


@pytest.fixture(params=["pagemap-scan", "pagemap-read"])
def scan_mode(request, monkeypatch):
    """Both ways of finding written pages: the PAGEMAP_SCAN ioctl and reading entries."""
    if request.param == "pagemap-read":
        monkeypatch.setattr(live, "_scan_supported", False)
    return request.param


def committed(root, shape=(40 * BLK,), dtype="u1", order="C", blksize=BLK, name="a"):
    """A new array stored and committed under ``root[name]``."""
    root[name] = ZBigArray(shape, dtype, order=order, blksize=blksize)
    transaction.commit()
    return root[name]


def block_paths(array):
    """Blob file (and offset) holding each stored block of an array."""
    bigfile = array._file
    last = -(-bigfile.size // bigfile.blksize) - 1
    return {index: (path, offset) for index, path, offset, _ in bigfile.block_files(0, last)}


def reopen(database, name="a"):
    """The array as a fresh client sees it after a restart."""
    connection = database.restart().open()
    return connection, connection.root()[name]


def test_commit_stores_exactly_the_written_blocks(root, database, scan_mode):
    array = committed(root)
    array[:] = 7  # every block stored
    transaction.commit()
    before = block_paths(array)
    view = array[:]
    view[3 * BLK + 5] = 1
    view[17 * BLK : 19 * BLK] = 2  # blocks 17 and 18
    transaction.commit()
    after = block_paths(array)
    changed = {index for index in before if before[index] != after[index]}
    assert changed == {3, 17, 18}
    connection, again = reopen(database)
    data = again[:]
    assert data[3 * BLK + 5] == 1 and data[3 * BLK + 4] == 7
    assert (data[17 * BLK : 19 * BLK] == 2).all() and data[19 * BLK] == 7
    assert int(data.sum()) == 7 * (40 * BLK - 1 - 2 * BLK) + 1 + 2 * 2 * BLK
    connection.close()


def test_savepoints_write_out_and_rollback_reverts_views(root, scan_mode):
    array = committed(root)
    view = array[:]
    view[0] = 1
    first = transaction.savepoint()
    assert array._region().dirty_blocks() == []  # written out, memory given back
    view[BLK] = 2
    array[2 * BLK] = 3
    second = transaction.savepoint()
    view[3 * BLK] = 4
    second.rollback()
    assert (view[0], view[BLK], view[2 * BLK], view[3 * BLK]) == (1, 2, 3, 0)
    view[4 * BLK] = 5
    first.rollback()
    assert (view[0], view[BLK], view[2 * BLK], view[4 * BLK]) == (1, 0, 0, 0)
    transaction.commit()
    assert int(array[:].sum()) == 1


class Claims:
    """Records the claims the live views make: ``(how, first block, last block)`` per
    claim (``rewrite``: fused, written by chunks; ``shared``: fused, the new extents
    mapped shared; ``filled``: the new extents filled first), and at each assignment
    that ends one the blocks holding anonymous pages."""

    def __init__(self, monkeypatch):
        self.made, self.anonymous = [], []
        rewrite, claim, finish = live.Region.rewrite, live.Region.claim, live.Region.finish_claims

        def span(region, start, nbytes):
            return start // region.blksize, (start + nbytes - 1) // region.blksize

        def recording_rewrite(region, start, nbytes, compute):
            done = rewrite(region, start, nbytes, compute)
            self.made.append(("rewrite", *span(region, start, nbytes)))
            return done

        def recording_claim(region, start, nbytes, fused=False):
            self.made.append(("shared" if fused else "filled", *span(region, start, nbytes)))
            return claim(region, start, nbytes, fused)

        def recording_finish(region, first, last):
            self.anonymous.append(region.dirty_blocks())
            return finish(region, first, last)

        monkeypatch.setattr(live.Region, "rewrite", recording_rewrite)
        monkeypatch.setattr(live.Region, "claim", recording_claim)
        monkeypatch.setattr(live.Region, "finish_claims", recording_finish)


def test_augmented_assignment_claims_exactly_its_blocks(root, database, scan_mode, monkeypatch):
    """``A[i:j] op= v`` over a contiguous view writes new extents in one pass: exactly
    the blocks it spans change, with exact bytes, and no page turns anonymous."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)  # small test blocks
    array = committed(root, shape=(40 * BLK,), dtype="u2")
    array[:] = np.arange(40 * BLK) % 1009
    transaction.commit()
    before = block_paths(array)
    region = array._region()
    claims = Claims(monkeypatch)
    # Items [3 BLK + 7, 9 BLK - 5) of u2: bytes of blocks 6..17, partial at both ends.
    array[3 * BLK + 7 : 9 * BLK - 5] += 3
    assert claims.made == [("rewrite", 6, 17)] and claims.anonymous == [[]]
    assert region.claims == []
    expected = (np.arange(40 * BLK) % 1009).astype("u2")
    expected[3 * BLK + 7 : 9 * BLK - 5] += 3
    np.testing.assert_array_equal(array[:], expected)
    transaction.commit()
    after = block_paths(array)
    assert {index for index in before if before[index] != after[index]} == set(range(6, 18))
    connection, again = reopen(database)
    np.testing.assert_array_equal(again[:], expected)
    connection.close()


def test_claims_survive_the_interpreters_specialisation(root, monkeypatch):
    """Run often, the subscript read is specialised (it then reports another offset):
    every run still claims."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    array = committed(root, shape=(8 * BLK,), dtype="i8")
    claims = Claims(monkeypatch)
    for round_ in range(40):
        array[BLK : 7 * BLK] += 1
        assert claims.made[-1:] == [("rewrite", 8, 55)] and len(claims.made) == round_ + 1
    transaction.commit()
    assert int(array[:].sum()) == 40 * 6 * BLK and array[0] == 0


def test_a_right_hand_side_that_raises_claims_nothing(root, monkeypatch):
    """The right-hand side raises before the in-place operation: nothing is claimed,
    blocks keep their blobs; one written meanwhile through another view is stored."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    array = committed(root)
    array[:] = 7
    transaction.commit()
    before = block_paths(array)
    other = array[:]
    claims = Claims(monkeypatch)

    def failing():
        other[12 * BLK + 1] = 9  # inside the blocks the operation would claim
        raise RuntimeError("right-hand side failed")

    with pytest.raises(RuntimeError):
        array[10 * BLK : 20 * BLK] *= failing()
    assert claims.made == [] and array._region().claims == []
    transaction.commit()
    after = block_paths(array)
    assert {index for index in before if before[index] != after[index]} == {12}
    assert array[12 * BLK + 1] == 9 and int(array[:].sum()) == 7 * 40 * BLK + 2


def test_a_claim_reverts_on_abort_and_rollback(root, monkeypatch):
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    array = committed(root, shape=(20 * BLK,), dtype="i4")
    array[:] = 1
    transaction.commit()
    before = block_paths(array)
    view = array[:]
    array[:] *= 5
    assert (view == 5).all()
    transaction.abort()
    assert (view == 1).all() and block_paths(array) == before
    savepoint = transaction.savepoint()
    array[2 * BLK :] += 1
    assert view[2 * BLK] == 2 and view[0] == 1
    savepoint.rollback()
    assert (view == 1).all()
    array[: 4 * BLK] -= 1
    transaction.commit()
    assert int(array[:].sum()) == 16 * BLK


def augment(array, key, op, value):
    """``array[key] op= value`` as the statement itself (what claims look for)."""
    if op == "+=":
        array[key] += value
    elif op == "*=":
        array[key] *= value
    elif op == "-=":
        array[key] -= value
    else:
        array[key] //= value


@pytest.mark.parametrize("dtype", ["i2", "f8"])
def test_fused_in_place_operations_store_exact_bytes(root, database, dtype, monkeypatch):
    """+=, *=, -=, //= with a scalar, a full operand and operands broadcast along either
    axis, over rows whose first and last blocks are partly outside: numpy's bytes, taken
    by the fused path, in chunks not aligned on blocks and over several extents."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    monkeypatch.setattr(live, "REWRITE_CHUNK", 3 * BLK + 8 * 24)
    monkeypatch.setattr(bigfile_module, "MAX_EXTENT", 5 * BLK)
    cols = 24
    rows = 40 * BLK // (cols * np.dtype(dtype).itemsize)
    array = committed(root, shape=(rows, cols), dtype=dtype)
    reference = (np.arange(rows * cols) % 251 + 1).astype(dtype).reshape(rows, cols)
    array[:] = reference
    transaction.commit()
    before = block_paths(array)
    claims = Claims(monkeypatch)
    key = slice(5, rows - 7)
    count = rows - 12
    operands = [3, np.arange(1, cols + 1, dtype=dtype), reference[key][::-1] % 7 + 1,
                (np.arange(count, dtype=dtype) % 5 + 1)[:, None]]
    for op in ("+=", "*=", "-=", "//="):
        for value in operands:
            augment(array, key, op, value)
            augment(reference, key, op, value)
            assert array[:].tobytes() == reference.tobytes(), (op, value)
            assert claims.made[-1][0] == "rewrite" and claims.anonymous[-1] == []
    assert type(array[0:10]) is np.ndarray and type(array[:]) is np.ndarray
    transaction.commit()
    blksize = array._file.blksize
    spanned = set(range(5 * cols * reference.itemsize // blksize,
                        ((rows - 7) * cols * reference.itemsize - 1) // blksize + 1))
    after = block_paths(array)
    assert {index for index in before if before[index] != after[index]} == spanned
    connection, again = reopen(database)
    assert again[:].tobytes() == reference.tobytes()
    connection.close()


def test_fused_operations_in_order_f_write_shared_extents(root, monkeypatch):
    """Order F views (the major axis is the last) take the shared fused path: the new
    extents are the ufunc's output; a call numpy refuses leaves bytes and blobs as they were."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    rows = 12
    cols = 40 * BLK // (rows * 2)
    array = committed(root, shape=(rows, cols), dtype="i2", order="F")
    reference = np.asfortranarray((np.arange(rows * cols) % 997).astype("i2").reshape(rows, cols))
    array[:] = reference
    transaction.commit()
    claims = Claims(monkeypatch)
    key = (slice(None), slice(3, cols - 5))
    for op, value in (("+=", 3), ("*=", np.arange(rows, dtype="i2")[:, None]), ("-=", 1)):
        augment(array, key, op, value)
        augment(reference, key, op, value)
        assert claims.made[-1][0] == "shared"
    assert array[:].tobytes(order="F") == reference.tobytes(order="F")
    transaction.commit()
    before = block_paths(array)
    with pytest.raises(TypeError):  # numpy: cannot cast float64 to int16 in place
        augment(array, key, "+=", 1.5)
    assert claims.made[-1][0] == "shared"
    assert array[:].tobytes(order="F") == reference.tobytes(order="F")
    transaction.commit()
    assert block_paths(array) == before
    assert array[:].tobytes(order="F") == reference.tobytes(order="F")


def test_a_fused_operation_numpy_refuses_changes_nothing(root):
    """``A[i:j] += 1.5`` on int16 raises numpy's casting error: no byte, no blob changed."""
    array = committed(root, shape=(40 * BLK,), dtype="i2")
    array[:] = 4
    transaction.commit()
    before = block_paths(array)
    with pytest.raises(TypeError):
        array[3 : 30 * BLK] += 1.5
    assert (array[:] == 4).all() and array._region().dirty_blocks() == []
    transaction.commit()
    assert block_paths(array) == before


class OwnUfuncs:
    """An operand with its own ``__array_ufunc__`` that ignores ``out`` and returns a new
    array (numpy's in-place operator then stores that); it keeps the array it was given."""

    def __init__(self):
        self.kept = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self.kept = next(x for x in inputs if x is not self)
        return getattr(ufunc, method)(*[5 if x is self else x for x in inputs])


def test_a_claimed_view_used_otherwise_stays_a_plain_array(root, monkeypatch):
    """An operand numpy hands the in-place call to: it gets a plain ndarray (the claim
    filled first), the array it returns is what is stored; kept beyond the statement and
    used in place later, that array still stores exact bytes."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    array = committed(root, shape=(40 * BLK,), dtype="i4")
    array[:] = np.arange(40 * BLK)
    transaction.commit()
    claims = Claims(monkeypatch)
    right = OwnUfuncs()
    array[BLK : 20 * BLK] += right
    expected = np.arange(40 * BLK, dtype="i4")
    expected[BLK : 20 * BLK] += 5
    assert claims.made == [("filled", 4, 79)] and array[:].tobytes() == expected.tobytes()
    kept = right.kept
    assert type(kept) is np.ndarray
    kept *= 2  # the same memory as array[BLK : 20 * BLK]
    expected[BLK : 20 * BLK] *= 2
    assert claims.made == [("filled", 4, 79)]
    transaction.commit()
    assert array[:].tobytes() == expected.tobytes()


@pytest.mark.parametrize("order", ["C", "F"])
def test_an_operand_reading_the_claimed_blocks(root, monkeypatch, order):
    """``A[i:j] += A[k:l]`` overlapping and ``A[i:j] -= A[m]`` (i <= m < j): numpy's rule
    for overlap (as if the operand were copied first) gives the bytes. Order C rewrites
    (the region keeps the old bytes until the end); order F, whose fused path maps the
    new extents at once, fills them first."""
    monkeypatch.setattr(live, "CLAIM_MIN", 1)
    rows, cols = 8, 5 * BLK
    array = committed(root, shape=(rows, cols) if order == "C" else (cols, rows),
                      dtype="i4", order=order)
    reference = np.arange(rows * cols, dtype="i4").reshape(rows, cols) * 3
    if order == "F":
        reference = reference.T  # order F: the major axis is the last
    array[:] = reference
    transaction.commit()
    claims = Claims(monkeypatch)
    first, other = (slice(0, 4), slice(2, 6)) if order == "C" else (
        (slice(None), slice(0, 4)), (slice(None), slice(2, 6)))
    row = 2 if order == "C" else (slice(None), slice(2, 3))  # inside the claimed blocks
    array[first] += array[other]
    reference[first] += reference[other]
    array[first] -= array[row]
    reference[first] -= reference[row]
    how = "rewrite" if order == "C" else "filled"
    assert [made[0] for made in claims.made] == [how, how]
    held = array[:]  # not an augmented assignment: no claim, a plain ndarray
    np.multiply(held, 2, out=held)
    reference *= 2
    assert type(held) is np.ndarray and len(claims.made) == 2
    transaction.commit()
    assert array[:].tobytes(order="A") == reference.tobytes(order="A")


def test_asarray_of_huge_arrays(root):
    root["tera"] = tera = ZBigArray((1 << 40,), "u1")
    transaction.commit()
    whole = np.asarray(tera)
    assert whole.nbytes == 1 << 40 and whole[(1 << 40) - 1] == 0
    del whole
    root["huge"] = huge = ZBigArray(((1 << 48) - 1,), "u1")
    transaction.commit()
    with pytest.raises(MemoryError) as info:
        np.asarray(huge)
    assert isinstance(info.value, OutOfCoreError)


def test_pickle_without_order_loads_as_c(root, database):
    array = ZBigArray((4, 2), "f8")
    del array.__dict__["_order"]  # what an array pickled before orders existed holds
    root["old"] = array
    transaction.commit()
    connection = database.restart().open()
    old = connection.root()["old"]
    assert old.order == "C" and old[:].flags.c_contiguous and len(old) == 4
    connection.close()
    assert "_order" not in pickle.loads(pickle.dumps({"_shape": (1,)}))  # plain state


def test_wendelin_import_paths():
    from Products.Wendelin.bigdata import ZBigFile
    from wendelin.bigarray import BigArray
    from wendelin.bigarray.array_zodb import ZBigArray as ShimArray
    from wendelin.bigfile.file_zodb import ZBigFile as ShimFile

    assert ShimArray is ZBigArray and ShimFile is ZBigFile and BigArray is ZBigArray

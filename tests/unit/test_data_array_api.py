"""Real Wendelin's Data Array API in the portal: field names, getArrayIndex, temporary
Data Arrays in RAM, and Data Array Lines (sub-arrays by a parsed index expression)."""

import io

import numpy as np
import pytest
import transaction
from Products.Wendelin.bigdata import OutOfCoreError, memory_budget
from Products.Wendelin.document.array import RAMArray
from Products.Wendelin.document.array_line import parse_index_expression
from Products.Wendelin.errors import InvalidInputError, PortalTypeError

RECORD = [("start", "<f8"), ("value", "<i4"), ("flag", "u1")]


def _filled(portal, shape=(100, 3), reference=None):
    array = portal.data_array_module.newContent(reference=reference or "")
    data = np.arange(np.prod(shape), dtype="float64").reshape(shape)
    array.initArray(shape, "float64")[:] = data
    transaction.commit()
    return array, data


def test_dtype_names_of_structured_arrays_are_read_renamed_and_stored(portal):
    doc = portal.data_array_module.newContent(reference="api-struct")
    assert doc.getArrayDtypeNames() is None  # no array yet
    array = doc.initArray((10,), RECORD)
    array["value"] = np.arange(10)
    transaction.commit()
    assert doc.getArrayDtypeNames() == ("start", "value", "flag")
    doc.setArrayDtypeNames(["t", "v", "f"])
    transaction.commit()
    transaction.begin()
    assert portal.data_array_module[doc.getId()].getArrayDtypeNames() == ("t", "v", "f")
    np.testing.assert_array_equal(doc.getArray()[:]["v"], np.arange(10))  # same layout
    for bad in (["t", "v"], ["a", "a", "b"], "tvf", ["t", "", "f"], [1, 2, 3]):
        with pytest.raises(InvalidInputError):
            doc.setArrayDtypeNames(bad)
    assert doc.getArrayDtypeNames() == ("t", "v", "f")
    plain, _ = _filled(portal)
    assert plain.getArrayDtypeNames() is None
    with pytest.raises(InvalidInputError, match="no fields"):
        plain.setArrayDtypeNames(["x"])


def test_get_array_index_and_slice_are_live_views_for_trusted_code(portal):
    doc, data = _filled(portal)
    assert doc.getArrayIndex(5).tolist() == data[5].tolist()
    assert doc.getArrayIndex((5, 2)) == data[5, 2]
    row = doc.getArrayIndex(7)
    row[:] = -1  # a view: the write joins the transaction
    part = doc.getArraySlice(10, 12)
    part *= 2
    transaction.commit()
    transaction.begin()
    stored = portal.data_array_module[doc.getId()].getArray()
    assert stored[7].tolist() == [-1, -1, -1]
    np.testing.assert_array_equal(stored[10:12], data[10:12] * 2)


def test_temporary_data_array_lives_in_ram_and_is_never_stored(portal):
    module = portal.data_array_module
    before = set(module.objectIds())
    temp = module.newContent(temp_object=True, reference="scratch", title="Scratch")
    assert temp.isTempObject() and temp.getReference() == "scratch"
    array = temp.initArray((4, 2), "int32")
    assert isinstance(array, RAMArray)
    array[:] = [[1, 2], [3, 4], [5, 6], [7, 8]]
    temp.appendArray(np.array([[9, 10]], dtype="int32"))
    assert temp.getArrayShape() == (5, 2) and temp.getSize() == 40
    assert temp.getArraySlice(3, 5).tolist() == [[7, 8], [9, 10]]
    temp.setArraySlice(0, 1, 0)
    assert temp.getArrayIndex(0).tolist() == [0, 0]
    transaction.commit()
    assert set(module.objectIds()) == before  # nothing stored, no id taken
    assert not portal.portal_catalog(reference="scratch")
    assert temp.absolute_url().startswith(module.absolute_url())  # wrapped in the module
    structured = module.newContent(temp_object=True)
    structured.initArray((3,), RECORD)
    structured.setArrayDtypeNames(["a", "b", "c"])
    assert structured.getArrayDtypeNames() == ("a", "b", "c")
    with memory_budget(1000), pytest.raises(OutOfCoreError):
        module.newContent(temp_object=True).initArray((1000,), "float64")
    with pytest.raises(PortalTypeError, match="temporary"):
        portal.data_stream_module.newContent(temp_object=True)


def test_index_expressions_are_parsed_not_evaluated():
    assert parse_index_expression("0:100") == (slice(0, 100),)
    assert parse_index_expression("[:, 2]") == (slice(None), 2)
    assert parse_index_expression(" ..., ::-2 ") == (Ellipsis, slice(None, None, -2))
    assert parse_index_expression("5,") == (5,)
    assert parse_index_expression("None, -3:") == (None, slice(-3, None))
    assert parse_index_expression("") == (Ellipsis,)
    assert parse_index_expression("'value'") == "value"
    assert parse_index_expression("['start', \"flag\"]") == ["start", "flag"]
    for bad in ("__import__('os').system('id')", "1+1", "a", "[0][1]", "1:2:0", "...,...",
                "0:1:2:3", "x" * 2000, ",".join(["0"] * 40), "['a', 'a']", "{}", "0 1"):
        with pytest.raises(InvalidInputError):
            parse_index_expression(bad)


def test_data_array_line_is_a_view_of_its_parent(portal):
    doc, data = _filled(portal, reference="api-parent")
    assert doc.getAllowedPortalTypeList() == ["Data Array Line"]
    column = doc.newContent(portal_type="Data Array Line", reference="col-2",
                            index_expression="[:, 2]")
    rows = doc.newContent(portal_type="Data Array Line", reference="rows",
                          index_expression="10:20")
    transaction.commit()
    assert column.getArrayShape() == (100,) and column.getArrayDtype() == np.float64
    assert column.getSize() == 800
    np.testing.assert_array_equal(column.getArray(), data[:, 2])
    np.testing.assert_array_equal(rows.getArraySlice(0, 2), data[10:12])
    np.testing.assert_array_equal(np.asarray(rows.getArrayIndex(-1)), data[19])
    # a live view: writes go to the parent in the transaction, other lines see them
    column.getArray()[10:12] = -5
    assert rows.getArray()[0, 2] == -5 and doc.getArray()[11, 2] == -5
    rows.setArraySlice(5, 6, 7)
    transaction.commit()
    transaction.begin()
    stored = portal.data_array_module[doc.getId()]
    assert stored.getArray()[15].tolist() == [7, 7, 7]
    assert stored.getArray()[10, 2] == -5
    # lines are found in the catalog by type, not in the module's listing types
    assert [b.getObject().getReference() for b in
            portal.portal_catalog(portal_type="Data Array Line", reference="col-2")] == ["col-2"]
    with pytest.raises(InvalidInputError, match="initArray"):
        column.initArray((3,), "f8")
    with pytest.raises(InvalidInputError):
        doc.newContent(portal_type="Data Array Line", index_expression="os.system('x')")
    portal.data_array_module.manage_delObjects([doc.getId()])  # its lines go with it
    transaction.commit()
    assert not portal.portal_catalog(portal_type="Data Array Line", reference="col-2")


def test_data_array_line_selects_fields_and_views_dtype_and_names(portal):
    doc = portal.data_array_module.newContent(reference="api-records")
    array = doc.initArray((50,), RECORD)
    array["start"] = np.arange(50) * 0.5
    array["value"] = -np.arange(50)
    transaction.commit()
    value = doc.newContent(portal_type="Data Array Line", index_expression="'value'")
    np.testing.assert_array_equal(value.getArray(), -np.arange(50))
    pair = doc.newContent(portal_type="Data Array Line", index_expression="['start', 'flag']",
                          name_list=["t", "f"])
    assert pair.getArrayDtypeNames() == ("t", "f")
    np.testing.assert_array_equal(pair.getArray()["t"], np.arange(50) * 0.5)
    as_bytes = doc.newContent(portal_type="Data Array Line", index_expression="'value'",
                              dtype="(4,)u1")
    assert as_bytes.getArrayShape() == (50, 4)
    assert as_bytes.getArray()[1].tolist() == list((-1).to_bytes(4, "little", signed=True))
    with pytest.raises(InvalidInputError):
        doc.newContent(portal_type="Data Array Line", dtype="no-such-dtype")
    with pytest.raises(InvalidInputError):
        doc.newContent(portal_type="Data Array Line", name_list=["a", "a"])
    missing = doc.newContent(portal_type="Data Array Line", index_expression="'nope'")
    with pytest.raises(InvalidInputError, match="nope"):
        missing.getArray()


def test_line_whose_index_no_longer_fits_raises_an_index_error(portal):
    doc, _ = _filled(portal, shape=(10,))
    line = doc.newContent(portal_type="Data Array Line", index_expression="3, 4")
    with pytest.raises(IndexError):
        line.getArray()
    with pytest.raises(InvalidInputError):  # the same error is a 400 over HTTP
        line.getArrayShape()
    empty = portal.data_array_module.newContent()
    orphan = empty.newContent(portal_type="Data Array Line", index_expression="0:2")
    assert orphan.getArray() is None and orphan.getSize() == 0
    assert orphan.getArrayShape() is None


def test_restricted_scripts_get_read_only_line_views(portal):
    from Products.PythonScripts.PythonScript import manage_addPythonScript

    doc, data = _filled(portal, reference="api-restricted")
    doc.newContent(portal_type="Data Array Line", id="firsts", index_expression="0:3")
    transaction.commit()
    manage_addPythonScript(portal, "try_line_write")
    script = portal.try_line_write
    script.ZPythonScript_edit("", (
        f"line = context.data_array_module[{doc.getId()!r}].firsts\n"
        "refused = []\n"
        "for view in (line.getArray(), line.getArraySlice(0, 2), line.getArrayIndex(1)):\n"
        "    try:\n"
        "        view.fill(1.0)\n"
        "    except ValueError:\n"
        "        refused.append(True)\n"
        "return refused, line.getArrayShape(), line.getArrayDtypeNames()\n"
    ))
    assert script() == ([True, True, True], (3, 3), None)
    assert doc.firsts.getArray().flags.writeable  # trusted code keeps writable views
    np.testing.assert_array_equal(doc.getArray()[:3], data[:3])


def _get(document, environ=None, **form):
    """Call the document's index_html as the publisher does; return (response, body)."""
    from Acquisition import aq_base
    from Testing.makerequest import makerequest

    request = makerequest(aq_base(document.getPhysicalRoot()), environ={
        "REQUEST_METHOD": "GET", "HTTP_ACCEPT": "*/*", **(environ or {})}).REQUEST
    request.form.update(form)
    response = request.RESPONSE
    body = document.index_html(request, response)
    return response, body if isinstance(body, bytes) else list(body)


def test_download_holds_view_writes_made_earlier_in_the_same_transaction(portal):
    doc, data = _filled(portal, shape=(200_000,))  # 1.6 MB: a block of 2 MiB, live views
    view = doc.getArray()[:]
    view[5] = 42.0  # not committed, not written out: only the mapping holds it
    _response, body = _get(doc)
    stored = np.load(io.BytesIO(b"".join(body)))
    assert stored[5] == 42.0 and stored[6] == data[6]
    _response, body = _get(doc, format="raw")
    assert np.frombuffer(b"".join(body), "<f8")[5] == 42.0


def test_streamed_answers_stay_in_blocks_within_the_budget(portal):
    from Products.Wendelin.document import array as array_module

    doc, data = _filled(portal, shape=(400_000, 3))  # 9.6 MB
    line = doc.newContent(portal_type="Data Array Line", index_expression="::-1, 1:")
    transaction.commit()
    with memory_budget(1 << 20):
        for target, params, expected in (
            (doc, {"format": "raw"}, data),
            (line, {}, None),
            (line, {"format": "raw"}, data[::-1, 1:]),
        ):
            _response, chunks = _get(target, **params)
            assert max(len(chunk) for chunk in chunks) <= (1 << 20) // 8
            content = b"".join(chunks)
            if expected is None:
                np.testing.assert_array_equal(np.load(io.BytesIO(content)), data[::-1, 1:])
            else:
                assert content == np.ascontiguousarray(expected).tobytes()
    assert array_module.STREAM_BLOCK <= 8 << 20

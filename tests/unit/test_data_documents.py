"""Data Stream and Data Array documents over the storage core, inside the portal."""

import io
import wave

import numpy as np
import pytest
import transaction
from Products.Wendelin.bigdata import OutOfCoreError, memory_budget


def _wav(frames=8000, rate=8000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.arange(frames) % 100).astype("<i2").tobytes())
    return out.getvalue()


def test_stream_erp5_api(portal):
    stream = portal.data_stream_module.newContent(reference="doc-stream")
    assert stream.getSize() == 0 and stream.getData() == b""
    data = _wav()
    for start in range(0, len(data), 1000):
        stream.appendData(data[start : start + 1000])
    assert stream.getSize() == len(data)
    assert stream.getData() == data
    assert b"".join(stream.iterate()) == data
    assert b"".join(stream.iterate(10, 30)) == data[10:30]
    assert b"".join(stream.readChunkList(0, 100)) == data[:100]
    assert stream.DataStream_getSize() == len(data)
    with wave.open(stream.open()) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 8000)
    samples = stream.getArrayView("<i2", offset=44)
    np.testing.assert_array_equal(samples[:200], np.arange(200) % 100)
    assert not samples.flags.writeable


def test_stream_open_is_read_by_soundfile_and_scipy_without_get_data(portal):
    import soundfile
    from scipy.io import wavfile

    stream = portal.data_stream_module.newContent(reference="doc-sound")
    data = _wav(frames=40000)
    for start in range(0, len(data), 4096):
        stream.appendData(data[start : start + 4096])
    transaction.commit()
    expected = (np.arange(40000) % 100).astype("<i2")
    with memory_budget(len(data) // 4):  # getData() would refuse: the file is read piecewise
        with pytest.raises(OutOfCoreError):
            stream.getData()
        samples, rate = soundfile.read(stream.open(), dtype="int16")
        assert rate == 8000
        np.testing.assert_array_equal(samples, expected)
        rate, samples = wavfile.read(stream.open())
        np.testing.assert_array_equal(samples, expected)


def test_stream_bad_inputs_name_the_value(portal):
    from Products.Wendelin.bigdata import BigArrayError, BigFileError

    stream = portal.data_stream_module.newContent()
    stream.appendData(b"0123456789")
    with pytest.raises(BigFileError, match="-1"):
        stream.getArrayView("u1", offset=-1)
    with pytest.raises(BigFileError, match="11"):
        stream.getArrayView("u1", offset=11)
    with pytest.raises(BigFileError, match="'2'"):
        stream.getArrayView("u1", offset="2")
    with pytest.raises(BigArrayError, match="'no-such'"):
        stream.getArrayView("no-such")
    with pytest.raises(BigArrayError, match="object"):
        stream.getArrayView(object)
    with pytest.raises(BigFileError, match="-3"):
        list(stream.iterate(-3))
    with pytest.raises(BigFileError, match="int"):
        stream.appendData(12)
    with pytest.raises(ValueError, match="initArray"):
        portal.data_array_module.newContent().getArraySlice(0, 1)
    assert stream.getData() == b"0123456789"


def test_get_data_over_the_budget_names_iterate(portal):
    stream = portal.data_stream_module.newContent()
    stream.appendData(b"x" * 10000)
    with memory_budget(1000), pytest.raises(OutOfCoreError, match="iterate"):
        stream.getData()


def test_failed_transaction_leaves_no_trace(portal):
    stream = portal.data_stream_module.newContent(reference="doc-abort")
    stream.appendData(b"kept")
    transaction.commit()
    stream.appendData(b" lost")
    transaction.abort()
    assert stream.getData() == b"kept"


def test_data_array_erp5_api(portal):
    document = portal.data_array_module.newContent(reference="doc-array")
    assert document.getArray() is None and document.getSize() == 0
    array = document.initArray((100, 2), "float32")
    array[:] = np.arange(200, dtype="float32").reshape(100, 2)
    assert document.getArrayShape() == (100, 2)
    assert document.getArrayDtype() == np.dtype("float32")
    assert document.getSize() == 800
    np.testing.assert_array_equal(document.getArraySlice(10, 12), [[20, 21], [22, 23]])
    document.getArray().append(np.ones((3, 2), "float32"))
    transaction.commit()
    again = portal.portal_catalog.getResultValue(reference="doc-array")
    assert again.getArrayShape() == (103, 2)
    assert float(again.getArray()[:].sum()) == float(np.arange(200).sum() + 6)


def _brain(portal, reference):
    (brain,) = portal.portal_catalog(reference=reference)
    return brain


def test_catalog_follows_size_and_date_of_stream_writes(portal):
    stream = portal.data_stream_module.newContent(reference="doc-catalog-stream")
    transaction.commit()
    created = _brain(portal, "doc-catalog-stream").modification_date
    assert _brain(portal, "doc-catalog-stream").getSize == 0
    stream.appendData(b"x" * 1000)
    assert _brain(portal, "doc-catalog-stream").getSize == 1000  # same transaction, no commit
    stream.appendData(b"y" * 24)
    transaction.commit()
    brain = _brain(portal, "doc-catalog-stream")
    assert brain.getSize == 1024 and brain.modification_date > created
    stream.setData(b"short")
    transaction.commit()
    assert _brain(portal, "doc-catalog-stream").getSize == 5
    assert portal.portal_catalog(
        reference="doc-catalog-stream",
        modification_date={"query": brain.modification_date, "range": "min"},
    )


def test_catalog_follows_size_and_date_of_array_writes(portal):
    document = portal.data_array_module.newContent(reference="doc-catalog-array")
    transaction.commit()
    created = _brain(portal, "doc-catalog-array").modification_date
    document.initArray((10, 2), "float64")
    assert _brain(portal, "doc-catalog-array").getSize == 160
    transaction.commit()
    initialised = _brain(portal, "doc-catalog-array").modification_date
    assert initialised > created
    document.setArraySlice(2, 4, 7.0)
    transaction.commit()
    written = _brain(portal, "doc-catalog-array").modification_date
    assert written > initialised
    np.testing.assert_array_equal(document.getArraySlice(1, 5)[:, 0], [0, 7, 7, 0])
    assert document.appendArray(np.ones((5, 2))) == (15, 2)
    transaction.commit()
    brain = _brain(portal, "doc-catalog-array")
    assert brain.getSize == 240 and brain.modification_date > written


def _script(portal, name, body):
    from Products.PythonScripts.PythonScript import manage_addPythonScript

    manage_addPythonScript(portal, name)
    script = portal[name]
    script.ZPythonScript_edit("", body)
    assert not script.errors, script.errors
    return script


RESTRICTED_READS = {
    "Array_sum": ("return context.getArray()[:].sum()", 28.0),
    "Array_tolist": ("return context.getArraySlice(0, 2).tolist()", [[0.0, 1.0], [2.0, 3.0]]),
    "Array_describe": (
        "a = context.getArray()\n"
        "return a.shape, a.dtype.name, len(a), a.nbytes, a[1, 0], float(a[0:2].mean())",
        ((4, 2), "float64", 4, 64, 2.0, 1.5),
    ),
    "Array_blocks": (
        "return [(start, stop, float(view.sum())) for start, stop, view"
        " in context.getArray().iterblocks()]",
        [(0, 4, 28.0)],
    ),
    "Array_dtype": ("return str(context.getArrayDtype()), context.getArrayShape()",
                    ("float64", (4, 2))),
}
RESTRICTED_DENIALS = {
    "Array_append": "return context.getArray().append",
    "Array_resize": "return context.getArray().resize",
    "Array_tofile": "return context.getArray()[:].tofile",
    "Array_buffer": "return context.getArray()[:].base",
    "Numpy_save": "import numpy\nreturn numpy.save",
}


def test_skin_scripts_use_what_data_documents_return(portal, site_users, login):
    document = portal.data_array_module.newContent(reference="doc-restricted")
    document.initArray((4, 2), "float64")[:] = np.arange(8.0).reshape(4, 2)
    stream = portal.data_stream_module.newContent(reference="doc-restricted-stream")
    stream.appendData(b"abcdefgh")
    for name, (body, _) in RESTRICTED_READS.items():
        _script(portal, name, body)
    for name, body in RESTRICTED_DENIALS.items():
        _script(portal, name, body)
    _script(portal, "Stream_read", (
        "reader = context.open()\nreader.seek(2)\n"
        "return reader.read(3), reader.tell(), context.getArrayView('uint8')[:4].tolist()"
    ))
    login("auditor")  # View only
    for name, (_, expected) in RESTRICTED_READS.items():
        assert getattr(document, name)() == expected, name
    assert stream.Stream_read() == (b"cde", 5, [97, 98, 99, 100])
    from AccessControl import Unauthorized

    for name in RESTRICTED_DENIALS:
        with pytest.raises(Unauthorized):
            getattr(document, name)()
    _script(portal, "Array_setitem", "a = context.getArray()\na[0] = 1")
    with pytest.raises(TypeError, match="assignment"):  # restricted Python's write guard
        document.Array_setitem()
    np.testing.assert_array_equal(document.getArraySlice(0, 1), [[0.0, 1.0]])

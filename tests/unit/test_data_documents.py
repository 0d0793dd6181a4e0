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

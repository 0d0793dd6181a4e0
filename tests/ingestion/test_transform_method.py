"""DataStream_appendCsvToArray refuses itself outside a POST and validates its arguments,
whatever the publisher's own rules: in-process Zope, the real skin script."""

from __future__ import annotations

import pytest
from Products.Wendelin.errors import InvalidInputError, MethodNotAllowedError
from zope.globalrequest import clearRequest, setRequest


@pytest.fixture
def csv_stream(portal):
    stream = portal.data_stream_module.newContent(reference="method-csv")
    stream.appendData(b"1,2\n3,4\n")
    return stream


def arrays(portal) -> list:
    return portal.portal_catalog(portal_type="Data Array", reference="method-csv.csv-array")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_a_request_other_than_post_is_refused_before_anything_is_appended(
        portal, csv_stream, method):
    request = portal.REQUEST
    request.environ["REQUEST_METHOD"] = method
    setRequest(request)
    try:
        with pytest.raises(MethodNotAllowedError, match="POST only"):
            csv_stream.DataStream_appendCsvToArray()
    finally:
        clearRequest()
    assert len(arrays(portal)) == 0


@pytest.mark.parametrize("arguments", [{"start": "abc"}, {"start": -1}, {"end": "x"},
                                       {"reference": ["a"]}])
def test_bad_arguments_are_input_errors(portal, csv_stream, arguments):
    with pytest.raises(InvalidInputError):
        csv_stream.DataStream_appendCsvToArray(**arguments)
    assert len(arrays(portal)) == 0


def test_a_post_or_no_request_appends(portal, csv_stream):
    request = portal.REQUEST
    request.environ["REQUEST_METHOD"] = "POST"
    setRequest(request)
    try:
        assert csv_stream.DataStream_appendCsvToArray(start="0") == 8
    finally:
        clearRequest()
    csv_stream.appendData(b"5,6\n")
    assert csv_stream.DataStream_appendCsvToArray(start=8) == 4  # code outside a request
    assert arrays(portal)[0].getObject().getArray()[:].tolist() == [[1, 2], [3, 4], [5, 6]]

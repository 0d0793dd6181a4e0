"""Data Operation runs: a ZODB conflict or an interrupt inside the script is not a failed run.

A conflict must reach the publisher, which retries the whole request; recording it as a
failed run would lose the retry and keep a bogus failure in the history.
"""

from __future__ import annotations

import pytest
from Products.PythonScripts.PythonScript import PythonScript
from ZODB.POSException import ConflictError, ReadConflictError


class RaisingScript(PythonScript):
    """A real (through-the-web) Python script, as operations require, that raises on call
    what the test needs (restricted code could not raise a ZODB conflict itself)."""

    __roles__ = None  # public, as a skin script's default

    def __init__(self, error: BaseException) -> None:
        super().__init__("DataStream_raiseForTest")
        self.error = error

    def __call__(self, *_args: object, **_parameters: object) -> None:
        raise self.error


@pytest.fixture
def operation(portal):
    return portal.data_operation_module.newContent(
        portal_type="Data Operation",
        reference="raises",
        script_id="DataStream_raiseForTest",
        input_portal_type="Data Stream",
    )


@pytest.mark.parametrize(
    "error",
    [ConflictError("write conflict"), ReadConflictError("read conflict"), KeyboardInterrupt()],
    ids=["conflict", "read-conflict", "keyboard-interrupt"],
)
def test_transient_errors_and_interrupts_propagate_unrecorded(portal, operation, error):
    stream = portal.data_stream_module.newContent(reference="conflicting")
    stream.DataStream_raiseForTest = RaisingScript(error)
    with pytest.raises(type(error)):
        operation.execute(stream)
    assert operation.getRunList() == []


def test_an_ordinary_error_is_still_a_recorded_failed_run(portal, operation):
    stream = portal.data_stream_module.newContent(reference="failing")
    stream.DataStream_raiseForTest = RaisingScript(RuntimeError("boom"))
    run = operation.execute(stream)
    assert run.status == "failed" and run.error == "RuntimeError: boom"
    assert [entry["status"] for entry in operation.getRunList()] == ["failed"]

"""What the pipeline skin scripts call (restricted code may import these functions only).

Each works on documents the script already reached and checks the permission it needs
before writing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from AccessControl import Unauthorized
from AccessControl.SecurityManagement import getSecurityManager

from ..document.base import find_by_reference
from ..errors import InvalidInputError
from ..ingestion.supply import add_ingestion_policy
from ..permissions import AddPortalContent, ModifyPortalContent, require_permission

__all__ = ["add_ingestion_policy", "convert_csv_increment", "copy_csv_to_data_array",
           "create_data_analysis_list", "execute_data_analysis_list"]


def _numbers(data: bytes) -> np.ndarray:
    """The comma/newline separated numbers of ``data`` as float64."""
    try:
        return np.array(data.replace(b",", b" ").split(), dtype=np.float64)
    except ValueError as error:
        raise InvalidInputError(f"not CSV numbers: {error}") from None


def _append(array_document: Any, values: np.ndarray) -> None:
    if not getSecurityManager().checkPermission(ModifyPortalContent, array_document):
        raise Unauthorized(f"you may not change Data Array {array_document.getId()!r}")
    if array_document.getArray() is None:
        array_document.initArray((0,), np.float64)
    if len(values):
        array_document.getArray().append(values)
    array_document.reindexData()


def copy_csv_to_data_array(data_stream: Any, chunk_list: list, start: int, end: int,
                           data_array_reference: str | None = None) -> int:
    """``DataStream_copyCSVToDataArray``: append a chunk's numbers to the 1-D Data Array
    of that reference (made if missing); returns how many numbers."""
    portal = data_stream.getPortalObject()
    reference = data_array_reference or f"{data_stream.getReference() or data_stream.getId()}"
    document = find_by_reference(portal, reference, "Data Array")
    if document is None:
        document = portal.data_array_module.newContent(portal_type="Data Array",
                                                       reference=reference)
    values = _numbers(b"".join(bytes(chunk) for chunk in chunk_list))
    _append(document, values)
    return len(values)


def convert_csv_increment(in_stream: dict | None = None, out_array: dict | None = None,
                          chunk_length: int = 1048576) -> int:
    """The shipped analysis operation: from the Progress Indicator, the complete CSV lines
    of at most ``chunk_length`` bytes become numbers appended to the Data Array; 1 when
    more complete data remains (queue again), else 0."""
    if not in_stream or not out_array:
        return 0
    stream, progress = in_stream.get("Data Stream"), in_stream.get("Progress Indicator")
    array_document = out_array.get("Data Array")
    if stream is None or progress is None or array_document is None:
        return 0
    start, size = progress.getIntOffsetIndex(), stream.getSize()
    if start >= size:
        return 0
    block = b"".join(stream.readChunkList(start, min(size, start + int(chunk_length))))
    cut = block.rfind(b"\n")
    if cut < 0:
        return 0  # no complete line yet
    require_permission(ModifyPortalContent, progress, "advance")
    _append(array_document, _numbers(block[: cut + 1]))
    progress.setIntOffsetIndex(start + cut + 1)
    return 1 if len(block) == int(chunk_length) and start + cut + 1 < size else 0


def create_data_analysis_list(portal: Any) -> list[str]:
    """``ERP5Site_createDataAnalysisList``: the analyses missing for started ingestions."""
    from .analysis import create_data_analysis_list as create

    require_permission(AddPortalContent, portal.data_analysis_module, "create analyses in")
    return create(portal)


def execute_data_analysis_list(portal: Any) -> int:
    """``ERP5Site_executeDataAnalysisList``: queue the execution of started analyses."""
    from .analysis import execute_data_analysis_list as execute

    require_permission(ModifyPortalContent, portal.data_analysis_module, "run the analyses of")
    return execute(portal)


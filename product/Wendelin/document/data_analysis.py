"""Data Analysis, its lines and the Progress Indicator: a transformation applied to data.

``causality`` is the ingestion read, ``specialise`` the supply and the transformation;
started analyses are executed by activities (``executeDataOperation``), serialised per
analysis: the operation line's Data Operation script is called with each line's items
keyed by the line's reference (``in_stream={"Data Stream": ..., "Progress Indicator":
...}``, ``out_array={"Data Array": ...}``); a script returning 1 is queued again at once.
"""

from __future__ import annotations

import logging
from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from ZPublisher import zpublish

from ..errors import InvalidInputError
from ..permissions import ModifyPortalContent, View
from .pipeline_base import PIPELINE_PROPERTIES, PipelineDocument, PipelineFolder
from .scripts import run_skin_script

logger = logging.getLogger("Wendelin.analysis")


class DataAnalysis(PipelineFolder):
    """One transformation applied to one ingestion (or to several, when shared)."""

    meta_type = "Wendelin Data Analysis"
    portal_type = "Data Analysis"
    security = ClassSecurityInfo()
    has_simulation_state = True
    property_types = {**PIPELINE_PROPERTIES, "causality_list": list}
    causality_list: tuple = ()  # a shared analysis reads several ingestions

    @security.protected(View)
    def getCausalityList(self) -> list[str]:
        """The ingestions read (the first is ``causality``)."""
        return list(self.causality_list) or ([self.causality] if self.causality else [])

    @security.protected(View)
    def getOperationLine(self) -> Any:
        """The line whose resource is a Data Operation, or None."""
        for line in self.getLineList():
            resource = line.getResourceValue()
            if resource is not None and resource.getPortalType() == "Data Operation":
                return line
        return None

    @security.protected(View)
    def getParameterDictList(self) -> list[dict[str, Any]]:
        """The operation's keyword arguments, one dict per input (shared analyses have
        several): each line's items by portal type, under the line's reference."""
        operation_line = self.getOperationLine()
        per_line = []
        count = 1
        for line in self.getLineList():
            if operation_line is not None and line.getId() == operation_line.getId():
                continue
            items: dict[str, list[Any]] = {}
            for item in line.getAggregateValueList():
                items.setdefault(item.getPortalType(), []).append(item)
            if not line.getReference() or not items:
                continue
            count = max([count] + [len(found) for found in items.values()])
            per_line.append((line.getReference(), items))
        calls = []
        for index in range(count):
            arguments = {}
            for reference, items in per_line:
                arguments[reference] = {
                    kind: found[index] if index < len(found) else found[-1]
                    for kind, found in items.items()
                }
            calls.append(arguments)
        return calls

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def executeDataOperation(self) -> int:
        """Run the operation script once per input; queue again if one returned 1.

        Returns how many calls asked to go on. Runs as an activity, one at a time per
        analysis (``serialization_tag``), so a script never races itself.
        """
        if self.simulation_state != "started":
            return 0
        line = self.getOperationLine()
        if line is None:
            return 0
        operation = line.getResourceValue()
        script_id = operation.getScriptId()
        if not script_id:
            raise InvalidInputError(f"Data Operation {operation.getId()!r} names no script")
        parameters = operation.getParameterDict()
        again = 0
        for arguments in self.getParameterDictList():
            # a skin script only, checked as the user (an Author for the alarm's runs)
            if run_skin_script(line, script_id, **parameters, **arguments) == 1:
                again += 1
        if again:
            self.queueExecution()
        return again

    security.declarePrivate("queueExecution")

    def queueExecution(self) -> None:
        """Queue ``executeDataOperation``, serialised on this analysis."""
        tag = f"analysis:{self.getRelativeUrl()}"
        self.activate(serialization_tag=tag, tag=tag).executeDataOperation()

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def refresh(self) -> None:
        """Clear the outputs and the progress, then process everything again from scratch."""
        for line in self.getLineList():
            for item in line.getAggregateValueList():
                if item.getPortalType() == "Progress Indicator":
                    item.setIntOffsetIndex(0)
                elif item.getPortalType() == "Data Array" and line.quantity >= 0:
                    item._array = None
                    item.reindexData()
        self.queueExecution()

    @security.protected(View)
    def getExtraInfo(self) -> str:
        """Progress of the inputs, for the page."""
        offsets = []
        for line in self.getLineList():
            for item in line.getAggregateValueList(portal_type="Progress Indicator"):
                offsets.append(str(item.getIntOffsetIndex()))
        return f"progress: {', '.join(offsets)} bytes" if offsets else ""


InitializeClass(DataAnalysis)


class DataAnalysisLine(PipelineDocument):
    """A line of an analysis: a product or the operation, and the items it works on."""

    meta_type = "Wendelin Data Analysis Line"
    portal_type = "Data Analysis Line"
    security = ClassSecurityInfo()

    @security.protected(View)
    def getDataAnalysis(self) -> Any:
        """The analysis holding this line."""
        from Acquisition import aq_inner, aq_parent

        return aq_parent(aq_inner(self))


InitializeClass(DataAnalysisLine)


class ProgressIndicator(PipelineDocument):
    """How far an analysis has read its input (``int_offset_index``: bytes done)."""

    meta_type = "Wendelin Progress Indicator"
    portal_type = "Progress Indicator"
    security = ClassSecurityInfo()
    property_types = {**PIPELINE_PROPERTIES, "int_offset_index": int}
    int_offset_index = 0

    @security.protected(View)
    def getIntOffsetIndex(self) -> int:
        """The offset processed so far."""
        return self.int_offset_index

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setIntOffsetIndex(self, value: int) -> None:
        """Record the offset processed so far (committed with the work that reached it)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"int_offset_index must be an integer >= 0, got {value!r}")
        if value != self.int_offset_index:
            self.int_offset_index = value

    @security.protected(View)
    def getExtraInfo(self) -> str:
        """The offset, for the page."""
        return f"offset {self.int_offset_index}"


InitializeClass(ProgressIndicator)

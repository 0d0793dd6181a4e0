"""The Wendelin alarm's work (``Alarm_handleAnalysis``): create Data Analyses, run them.

For each validated Data Transformation, each started Data Ingestion (or Data Analysis)
with a stream line (``use`` big_data/ingestion/stream, or reference ``out_stream``) of
the transformation's product gets a Data Analysis: ``causality`` the ingestion,
``specialise`` its supply and the transformation, the transformation's lines copied
(inputs aggregate the ingested streams and a new Progress Indicator each, outputs a new
Data Array), started. With ``analysis_grouping = shared`` one analysis takes every
ingestion. Then each started analysis's execution is queued, unless already queued.
"""

from __future__ import annotations

from typing import Any

STREAM_USE = "big_data/ingestion/stream"


def _stream_lines(source: Any) -> list[Any]:
    return [line for line in source.getLineList()
            if str(getattr(line, "use", "")).endswith(STREAM_USE)
            or line.getReference() == "out_stream"]


def _inputs(source: Any, resource: str) -> list[Any]:
    """The items (streams, arrays) of the source's stream lines of ``resource``."""
    found = []
    for line in _stream_lines(source):
        if not resource or line.getResource() == resource:
            found.extend(line.getAggregateValueList())
    return found


def _new_progress(portal: Any, title: str) -> Any:
    return portal.progress_indicator_module.newContent(
        portal_type="Progress Indicator", title=title, int_offset_index=0)


def _create(portal: Any, transformation: Any, source: Any) -> Any:
    supply = source.getSpecialiseValue(portal_type="Data Supply")
    reference = f"{transformation.getReference() or transformation.getId()}." \
                f"{source.getReference() or source.getId()}"
    analysis = portal.data_analysis_module.newContent(
        portal_type="Data Analysis", title=transformation.getTitle(), reference=reference,
        causality=source.getRelativeUrl(), causality_list=[source.getRelativeUrl()],
        specialise_value_list=[v for v in (supply, transformation) if v is not None],
        resource=transformation.getResource())
    for line in transformation.getLineList():
        aggregates: list[Any] = []
        is_operation = line.getPortalType() == "Data Transformation Operation Line"
        if not is_operation and (line.quantity < 0 or line.getReference().startswith("in")):
            for item in _inputs(source, line.getResource() or transformation.getResource()):
                aggregates += [item, _new_progress(portal, f"{reference}: {item.getId()}")]
        elif not is_operation:
            aggregates.append(portal.data_array_module.newContent(
                portal_type="Data Array", reference=f"{reference}.{line.getReference()}",
                title=f"{transformation.getTitle()}: {line.getReference()}"))
        analysis.newContent(
            portal_type="Data Analysis Line", reference=line.getReference(),
            title=line.getTitle(), resource=line.getResource(), quantity=line.quantity,
            use=line.use, int_index=line.int_index,
            variation_category_list=list(line.variation_category_list),
            aggregate_value_list=aggregates)
    analysis.start()
    return analysis


def _extend_shared(portal: Any, analysis: Any, transformation: Any, source: Any) -> None:
    """Add a further ingestion's streams to a shared analysis."""
    url = source.getRelativeUrl()
    analysis.edit(causality_list=analysis.getCausalityList() + [url])
    for line in analysis.getLineList():
        if line.quantity < 0 or line.getReference().startswith("in"):
            items = list(line.getAggregateList())
            for item in _inputs(source, line.getResource() or transformation.getResource()):
                progress = _new_progress(portal, f"{analysis.getReference()}: {item.getId()}")
                items += [item.getRelativeUrl(), progress.getRelativeUrl()]
            line.edit(aggregate_list=items)
    analysis.reindexObject()


def create_data_analysis_list(portal: Any) -> list[str]:
    """Create the missing analyses; returns their relative URLs."""
    catalog = portal.portal_catalog
    transformations = [brain.getObject() for brain in catalog(
        portal_type="Data Transformation", validation_state="validated")]
    if not transformations:
        return []
    sources = [brain.getObject() for brain in catalog(
        portal_type=("Data Ingestion", "Data Analysis"), simulation_state="started")]
    created = []
    for transformation in transformations:
        t_url = transformation.getRelativeUrl()
        resource = transformation.getResource()
        existing = [brain.getObject() for brain in catalog(
            portal_type="Data Analysis", getSpecialiseList=t_url)]
        read = {url for analysis in existing for url in analysis.getCausalityList()}
        shared = transformation.getAnalysisGrouping() == "shared"
        for source in sources:
            url = source.getRelativeUrl()
            if url in read:
                continue
            if source.getPortalType() == "Data Analysis" and source.getCausality() and (
                    t_url in source.getSpecialiseList()):
                continue  # made from this transformation: never feed it to itself
            lines = _stream_lines(source)
            if not any(line.getResource() == resource for line in lines):
                continue
            started = [a for a in existing if a.getSimulationState() == "started"]
            if shared and started:
                _extend_shared(portal, started[0], transformation, source)
            else:
                analysis = _create(portal, transformation, source)
                existing.append(analysis)
                created.append(analysis.getRelativeUrl())
            read.add(url)
    return created


def execute_data_analysis_list(portal: Any) -> int:
    """Queue ``executeDataOperation`` of each started analysis not already queued."""
    tool = portal.portal_activities
    pending = {message["serialization_tag"] for message in tool.getMessageList(limit=100000)}
    queued = 0
    for brain in portal.portal_catalog(portal_type="Data Analysis", simulation_state="started"):
        analysis = brain.getObject()
        if f"analysis:{analysis.getRelativeUrl()}" in pending:
            continue
        if analysis.getOperationLine() is None:
            continue
        analysis.queueExecution()
        queued += 1
    return queued


def handle_analysis(portal: Any) -> dict[str, Any]:
    """ERP5's ``Alarm_handleAnalysis``: create the missing analyses, queue their runs."""
    created = create_data_analysis_list(portal)
    return {"created": created, "queued": execute_data_analysis_list(portal)}

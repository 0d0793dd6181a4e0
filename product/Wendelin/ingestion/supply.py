"""Ingestion as real Wendelin does it: a policy feeds a Data Supply, each tag a Data Ingestion.

``add_ingestion_policy`` (``IngestionPolicyTool_addIngestionPolicy``) creates a Data
Product, a Data Supply with an ``out_stream`` line and an Ingestion Policy linked to the
supply. Such a policy appends to the ``out_stream`` Data Stream of the supply's started
Data Ingestion for the tag, creating ingestion and stream on first use (the policy class
is :class:`.policy.IngestionPolicy`, whose ``data_supply`` names the supply). A supply
whose ``tag_format`` is ``sensor.product`` (the shipped ``default``) reads the product from
the tag ``<sensor>.<product>``, found or created by reference; a tag without a dot is
stored the same way, with no product (no transformation picks it up).
"""

from __future__ import annotations

from typing import Any

from ..document.base import find_by_reference
from ..document.container import ID_RE
from ..errors import InvalidInputError
from .policy import IngestionPolicy

SUPPLY_MODULE = "data_supply_module"
#: The policy class was once a subclass of its own; the name stays for stored objects.
SupplyIngestionPolicy = IngestionPolicy


def _product_for(supply: Any, tag: str) -> Any:
    """The Data Product a tag brings: the supply's ``out_stream`` line's, or from the tag."""
    portal = supply.getPortalObject()
    if getattr(supply, "tag_format", "") == "sensor.product" or supply.getId() == "default":
        sensor, dot, name = tag.rpartition(".")
        if not dot or not sensor or not name:
            return None  # stored all the same, under no product
        product = find_by_reference(portal, name, "Data Product")
        if product is None:
            product = portal.data_product_module.newContent(
                portal_type="Data Product", reference=name, title=name)
            product.validate()
        return product
    for line in supply.getLineList(reference="out_stream"):
        product = line.getResourceValue()
        if product is not None:
            return product
    return None


def find_ingestion(supply: Any, tag: str) -> Any:
    """The supply's started Data Ingestion for ``tag``, or None."""
    catalog = supply.getPortalObject().portal_catalog
    for brain in catalog(portal_type="Data Ingestion", reference=tag,
                         getSpecialiseList=supply.getRelativeUrl(), simulation_state="started"):
        return brain.getObject()
    return None


def ingestion_stream(supply: Any, tag: str) -> Any:
    """The ``out_stream`` Data Stream of the supply's ingestion for ``tag`` (made if new)."""
    ingestion = find_ingestion(supply, tag)
    if ingestion is not None:
        stream = ingestion.getOutStreamValue()
        if stream is not None:
            return stream
    portal = supply.getPortalObject()
    product = _product_for(supply, tag)
    stream = portal.data_stream_module.newContent(
        portal_type="Data Stream", reference=tag, title=f"Ingested: {tag}")
    if ingestion is None:
        ingestion = portal.data_ingestion_module.newContent(
            portal_type="Data Ingestion", reference=tag, title=f"{supply.getTitle()}: {tag}",
            specialise_value_list=[supply])
        ingestion.newContent(portal_type="Data Ingestion Line", reference="ingestion_operation",
                             title="Ingest data", int_index=1)
        ingestion.start()
    ingestion.newContent(
        portal_type="Data Ingestion Line", reference="out_stream", title=tag,
        resource=product.getRelativeUrl() if product is not None else "",
        aggregate_value_list=[stream], use="big_data/ingestion/stream", quantity=1.0,
        int_index=2)
    ingestion.reindexObject()
    return stream


def add_ingestion_policy(tool: Any, reference: Any, title: Any = None,
                         batch_mode: Any = 0) -> tuple[Any, Any, Any]:
    """ERP5's ``IngestionPolicyTool_addIngestionPolicy``: ``(policy, supply, product)``.

    The policy decodes fluentd entries (their data is appended) into the ``out_stream``
    of the supply's ingestion for each tag. ``batch_mode`` is accepted as in ERP5.
    """
    if not isinstance(reference, str) or not reference or len(reference) > 200:
        raise InvalidInputError("reference must be a text of 1 to 200 characters")
    title = title if isinstance(title, str) and title else reference
    portal = tool.getPortalObject()
    product = portal.data_product_module.newContent(
        portal_type="Data Product", reference=reference, title=title)
    product.validate()
    supply = portal.data_supply_module.newContent(
        portal_type="Data Supply", reference=reference, title=title)
    supply.newContent(portal_type="Data Supply Line", reference="out_stream", title=title,
                      resource_value=product)
    supply.validate()
    # Its id is the reference when that makes a free, valid id (so its URL reads well).
    policy_id = reference if ID_RE.fullmatch(reference) and tool._getOb(
        reference, None) is None else None
    policy = tool.newContent(portal_type="Ingestion Policy", id=policy_id,
                             reference=reference, title=title, data_format="fluentd")
    if not isinstance(policy, IngestionPolicy):
        raise InvalidInputError("the Ingestion Policy portal type does not support supplies")
    policy.edit(data_supply=supply.getRelativeUrl())
    return policy, supply, product

"""The common document API of every portal type."""

import pytest
from DateTime import DateTime
from Products.Wendelin.errors import UnknownPropertyError

MODULE_OF = {
    "Data Stream": "data_stream_module",
    "Data Array": "data_array_module",
    "Data Notebook": "data_notebook_module",
    "Data Operation": "data_operation_module",
    "Image": "image_module",
}


@pytest.mark.parametrize("portal_type", sorted(MODULE_OF))
def test_common_api(portal, portal_type):
    module = portal[MODULE_OF[portal_type]]
    before = DateTime()
    document = module.newContent(
        portal_type=portal_type, title="T", reference=f"ref-{portal_type}", description="D"
    )
    assert document.getPortalType() == portal_type
    assert (document.getTitle(), document.getReference(), document.getDescription()) == (
        "T", f"ref-{portal_type}", "D",
    )
    assert document.getCreationDate() >= before
    assert document.getRelativeUrl() == f"{module.getId()}/{document.getId()}"
    assert document.absolute_url().endswith(f"/erp5/{module.getId()}/{document.getId()}")
    assert document.Creator() == "zope"
    document.setTitle("T2")
    document.setReference("R2")
    document.setDescription("D2")
    assert (document.getTitle(), document.getReference(), document.getDescription()) == (
        "T2", "R2", "D2",
    )
    assert document.getModificationDate() >= document.getCreationDate()


def test_edit_with_an_unknown_property_changes_nothing(portal):
    document = portal.data_stream_module.newContent(title="before", reference="edit-unknown")
    with pytest.raises(UnknownPropertyError, match="'sample_rate'"):
        document.edit(title="after", sample_rate=44100)
    assert document.getTitle() == "before"


def test_edit_with_a_wrong_type_changes_nothing(portal):
    document = portal.data_stream_module.newContent(title="before")
    with pytest.raises(UnknownPropertyError, match="expects str"):
        document.edit(title="after", reference=42)
    assert document.getTitle() == "before"


def test_type_specific_properties(portal):
    operation = portal.data_operation_module.newContent(
        script_id="DataArray_computeFFT", parameter_dict={"real": True}
    )
    assert operation.getScriptId() == "DataArray_computeFFT"
    assert operation.getParameterDict() == {"real": True}
    stream = portal.data_stream_module.newContent(content_type="audio/wav")
    assert stream.content_type == "audio/wav"
    assert stream.getSize() == 0

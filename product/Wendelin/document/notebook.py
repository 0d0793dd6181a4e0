"""Data Notebook and Data Notebook Line: notebooks stored in the portal.

A Data Notebook holds what its cells keep between executions (definitions and
variables, see :mod:`Products.Wendelin.jupyter.state`), the notebook's ``.ipynb``
content as saved from Jupyter (in a blob: notebooks with images grow large), and,
with ``store_history``, one Data Notebook Line per executed cell.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_base
from BTrees.OOBTree import OOBTree
from Products.CMFCore.CMFBTreeFolder import CMFBTreeFolder
from Products.CMFCore.CMFCatalogAware import CMFCatalogAware
from Products.CMFCore.interfaces import IContentish
from ZODB.blob import Blob
from zope.interface import implementer
from ZPublisher import zpublish

from ..errors import StateConflictError
from ..permissions import ModifyPortalContent, View
from .base import DocumentMixin, WendelinDocument, find_by_reference
from .container import ContentContainerMixin


@implementer(IContentish)
class DataNotebook(DocumentMixin, ContentContainerMixin, CMFCatalogAware, CMFBTreeFolder):
    """A notebook found by reference; its executed cells are Data Notebook Lines."""

    meta_type = "Wendelin Data Notebook"
    portal_type = "Data Notebook"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    _ipynb: Blob | None = None
    _definitions: tuple = ()
    _variables: OOBTree | None = None
    _module_name = ""

    def __init__(self, id: str, **properties) -> None:
        CMFBTreeFolder.__init__(self, id)
        self._initDocument(properties)

    _getCatalogTool = DocumentMixin._getCatalogTool

    def _checkProperties(self, properties: dict[str, Any]) -> None:
        """A reference names one notebook: 409 if another Data Notebook has it, on every
        path that sets it (edit, Base_edit, setReference, newContent, JSON)."""
        reference = properties.get("reference")
        if not reference or reference == self.reference:
            return
        if getattr(self, "aq_parent", None) is None:
            return  # not placed yet: nothing to look the reference up in
        other = find_by_reference(self, reference, self.portal_type, unrestricted=True)
        if other is not None and aq_base(other) is not aq_base(self):
            raise StateConflictError(f"The notebook reference {reference!r} is already taken")
    manage_options = CMFBTreeFolder.manage_options

    # -- .ipynb content -------------------------------------------------------------
    @security.protected(View)
    def hasIpynb(self) -> bool:
        """Whether the notebook's content was saved from Jupyter."""
        return self._ipynb is not None

    @security.protected(View)
    def getIpynb(self) -> dict[str, Any]:
        """The notebook as an nbformat-4 dict (built from its lines if never saved)."""
        from .ipynb import notebook_from_lines

        if self._ipynb is None:
            return notebook_from_lines(self)
        with self._ipynb.open("r") as file:
            return json.load(file)

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setIpynb(self, content: dict[str, Any]) -> None:
        """Store validated nbformat-4 content (raises NotebookFormatError otherwise)."""
        from .ipynb import normalise

        text = json.dumps(normalise(content, self.getReference()), ensure_ascii=False)
        if self._ipynb is None:
            self._ipynb = Blob()
        with self._ipynb.open("w") as file:
            file.write(text.encode("utf-8"))
        self.reindexObject()

    # -- execution state ------------------------------------------------------------
    @security.protected(View)
    def getNotebookModuleName(self) -> str:
        """The name of the Python module its cells run in (stable across processes)."""
        if not self._module_name:
            self._module_name = f"wendelin_notebook_{uuid.uuid4().hex}"
        return self._module_name

    def _getVariableStore(self) -> OOBTree:
        if self._variables is None:
            self._variables = OOBTree()
        return self._variables

    def _getDefinitionList(self) -> list:
        return list(self._definitions)

    def _setDefinitionList(self, definitions: list) -> None:
        if tuple(definitions) != self._definitions:
            self._definitions = tuple(definitions)

    @security.protected(View)
    def getVariableNameList(self) -> list[str]:
        """Names of the variables kept for the next cells."""
        return list(self._variables.keys()) if self._variables is not None else []

    @security.protected(View)
    def getDefinitionNameList(self) -> list[str]:
        """Names bound by the kept imports, functions and classes."""
        return [name for definition in self._definitions for name in definition.names]

    @security.protected(View)
    def getNotebookLineList(self) -> list[DataNotebookLine]:
        """The executed cells, oldest first."""
        lines = self.objectValues("Wendelin Data Notebook Line")
        return sorted(lines, key=lambda line: int(line.getId()) if line.getId().isdigit() else 0)


InitializeClass(DataNotebook)


class DataNotebookLine(WendelinDocument):
    """One executed cell: its code, its result and the result's mime type."""

    meta_type = "Wendelin Data Notebook Line"
    portal_type = "Data Notebook Line"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "notebook_code": str,
        "notebook_code_result": str,
        "mime_type": str,
    }
    notebook_code = ""
    notebook_code_result = ""
    mime_type = "text/plain"
    _outputs: tuple = ()

    @security.protected(View)
    def getOutputList(self) -> list[dict[str, Any]]:
        """The cell's outputs as nbformat-4 output dicts (stream, display_data, error...)."""
        return [dict(output) for output in self._outputs]

    def _setOutputList(self, outputs: list[dict[str, Any]]) -> None:
        self._outputs = tuple(outputs)

    @security.protected(View)
    def getNotebookCode(self) -> str:
        return self.notebook_code

    @security.protected(View)
    def getNotebookCodeResult(self) -> str:
        return self.notebook_code_result

    @security.protected(View)
    def getMimeType(self) -> str:
        return self.mime_type


InitializeClass(DataNotebookLine)

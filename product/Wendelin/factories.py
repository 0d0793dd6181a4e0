"""Factories named by the portal type definitions in ``bt5/*/portal_types/*.json``."""

from zope.component.factory import Factory

from .document.array import DataArray
from .document.image import Image
from .document.notebook import DataNotebook, DataNotebookLine
from .document.operation import DataOperation
from .document.stream import DataStream
from .ingestion.policy import IngestionPolicy
from .site.module import DataModule

DataStreamFactory = Factory(DataStream, title="Data Stream")
DataArrayFactory = Factory(DataArray, title="Data Array")
DataNotebookFactory = Factory(DataNotebook, title="Data Notebook")
DataNotebookLineFactory = Factory(DataNotebookLine, title="Data Notebook Line")
DataOperationFactory = Factory(DataOperation, title="Data Operation")
ImageFactory = Factory(Image, title="Image")
DataModuleFactory = Factory(DataModule, title="Module")
IngestionPolicyFactory = Factory(IngestionPolicy, title="Ingestion Policy")

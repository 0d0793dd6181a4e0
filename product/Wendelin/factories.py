"""Factories named by the portal type definitions in ``bt5/*/portal_types/*.json``."""

from zope.component.factory import Factory

from .document.array import DataArray
from .document.array_line import DataArrayLine
from .document.data_analysis import DataAnalysis, DataAnalysisLine, ProgressIndicator
from .document.data_ingestion import DataIngestion, DataIngestionLine
from .document.data_product import DataProduct
from .document.data_supply import DataSupply, DataSupplyLine
from .document.data_transformation import (
    DataTransformation,
    DataTransformationOperationLine,
    DataTransformationResourceLine,
)
from .document.image import Image
from .document.notebook import DataNotebook, DataNotebookLine
from .document.operation import DataOperation
from .document.stream import DataStream
from .ingestion.policy import IngestionPolicy
from .ingestion.supply import SupplyIngestionPolicy
from .site.module import DataModule

DataStreamFactory = Factory(DataStream, title="Data Stream")
DataArrayFactory = Factory(DataArray, title="Data Array")
DataArrayLineFactory = Factory(DataArrayLine, title="Data Array Line")
DataNotebookFactory = Factory(DataNotebook, title="Data Notebook")
DataNotebookLineFactory = Factory(DataNotebookLine, title="Data Notebook Line")
DataOperationFactory = Factory(DataOperation, title="Data Operation")
ImageFactory = Factory(Image, title="Image")
DataModuleFactory = Factory(DataModule, title="Module")
IngestionPolicyFactory = Factory(IngestionPolicy, title="Ingestion Policy")

# Pipelines (issue 17): ERP5's processing model.
DataProductFactory = Factory(DataProduct, title="Data Product")
DataSupplyFactory = Factory(DataSupply, title="Data Supply")
DataSupplyLineFactory = Factory(DataSupplyLine, title="Data Supply Line")
DataIngestionFactory = Factory(DataIngestion, title="Data Ingestion")
DataIngestionLineFactory = Factory(DataIngestionLine, title="Data Ingestion Line")
DataTransformationFactory = Factory(DataTransformation, title="Data Transformation")
DataTransformationResourceLineFactory = Factory(
    DataTransformationResourceLine, title="Data Transformation Resource Line"
)
DataTransformationOperationLineFactory = Factory(
    DataTransformationOperationLine, title="Data Transformation Operation Line"
)
DataAnalysisFactory = Factory(DataAnalysis, title="Data Analysis")
DataAnalysisLineFactory = Factory(DataAnalysisLine, title="Data Analysis Line")
ProgressIndicatorFactory = Factory(ProgressIndicator, title="Progress Indicator")
SupplyIngestionPolicyFactory = Factory(SupplyIngestionPolicy, title="Ingestion Policy")

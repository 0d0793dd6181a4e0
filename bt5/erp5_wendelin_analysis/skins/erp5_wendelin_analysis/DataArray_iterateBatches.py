## Script (Python) "DataArray_iterateBatches"
##bind container=container
##bind context=context
##bind script=script
##parameters=rows
##title=In-memory batches of rows, for scikit-learn
from Products.Wendelin.analysis.documents import batches
return batches(context, rows)

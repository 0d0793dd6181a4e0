## Script (Python) "DataStream_appendCsvToArray"
##bind container=container
##bind context=context
##bind script=script
##parameters=start=0, end=None, reference=None
##title=Append the complete CSV lines of a stream range to a Data Array; returns bytes consumed
from Products.Wendelin.ingestion.transform import append_csv_to_array
if end is None:
    end = context.getSize()
return append_csv_to_array(context, int(start), int(end), reference=reference)

## Script (Python) "DataStream_appendCsvToArray"
##bind container=container
##bind context=context
##bind script=script
##parameters=start=0, end=None, reference=None
##title=Append the complete CSV lines of a stream range to a Data Array; returns bytes consumed
from Products.Wendelin.ingestion.transform import append_csv_to_array
# start and end are validated there (400 for start=abc); a request other than POST is a 405
return append_csv_to_array(context, start, end, reference=reference)

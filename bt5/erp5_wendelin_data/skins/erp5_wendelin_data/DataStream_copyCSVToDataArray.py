## Script (Python) "DataStream_copyCSVToDataArray"
##bind container=container
##bind context=context
##bind script=script
##parameters=data_stream, chunk_list, start, end, data_array_reference=None
##title=Append the numbers of a CSV chunk to the 1-D Data Array of that reference
from Products.Wendelin.activity.scripts import copy_csv_to_data_array
return copy_csv_to_data_array(data_stream, chunk_list, start, end, data_array_reference)

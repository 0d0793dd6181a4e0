## Script (Python) "DataAnalysisLine_convertCSVToDataArray"
##bind container=container
##bind context=context
##bind script=script
##parameters=in_stream=None, out_array=None, chunk_length=1048576
##title=Analysis operation: CSV lines since the Progress Indicator to the Data Array; 1 to go on
from Products.Wendelin.activity.scripts import convert_csv_increment
return convert_csv_increment(in_stream, out_array, chunk_length)

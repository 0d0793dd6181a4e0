## Script (Python) "DataStream_transform"
##bind container=container
##bind context=context
##bind script=script
##parameters=chunk_length=1048576, transform_script_id=None, data_array_reference=None, parallelize=0
##title=Transform the stream chunk by chunk in background activities; returns at once
return context.transformInActivities(chunk_length, transform_script_id, data_array_reference, parallelize)

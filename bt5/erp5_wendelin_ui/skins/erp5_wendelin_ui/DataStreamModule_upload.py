## Script (Python) "DataStreamModule_upload"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Upload files as Data Streams (JSON 201 for scripts, 303 for browsers)
return context.Base_getView().upload()

## Script (Python) "DataStream_getSize"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Size of the Data Stream in bytes
return context.getSize()

## Script (Python) "Module_deleteSelected"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Delete the selected documents after a confirmation page
return context.Base_getView().deleteSelected()

## Script (Python) "Base_edit"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Save title, reference and description from the edit form
return context.Base_getView().edit()

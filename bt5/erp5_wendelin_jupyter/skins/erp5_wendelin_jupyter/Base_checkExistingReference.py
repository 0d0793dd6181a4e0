## Script (Python) "Base_checkExistingReference"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None
##title=Empty when no Data Notebook has this reference, the reference otherwise
from Products.Wendelin.jupyter.endpoint import check_existing_reference
return check_existing_reference(context, reference)

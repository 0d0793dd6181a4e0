## Script (Python) "Base_getView"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The UI view of this object (logic in Products.Wendelin.ui.views)
from Products.Wendelin.ui.views import getView
return getView(context, context.REQUEST)

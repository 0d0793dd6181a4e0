## Script (Python) "ERP5Site_getModuleInfoList"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The portal's modules with their document counts (front page)
from Products.Wendelin.ui.views import moduleInfoList
return moduleInfoList(context)

## Script (Python) "ERP5Site_logout"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=End the session
from Products.Wendelin.ui.views import logout
return logout(script)

## Script (Python) "ERP5Site_getChrome"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Who is logged in, the CSRF token and the navigation of every page
from Products.Wendelin.ui.views import getChrome
return getChrome(script)

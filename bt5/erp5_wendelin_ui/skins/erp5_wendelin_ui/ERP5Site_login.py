## Script (Python) "ERP5Site_login"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Check the login form and open a session
from Products.Wendelin.ui.views import login
return login(script)

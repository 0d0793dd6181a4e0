## Script (Python) "login_form"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The login page (anonymous: the script passes itself, not its context)
from Products.Wendelin.ui.views import renderLoginForm
return renderLoginForm(script)

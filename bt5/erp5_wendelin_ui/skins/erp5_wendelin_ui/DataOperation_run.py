## Script (Python) "DataOperation_run"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Run the operation on the input named in the Run form (POST, CSRF token)
return context.Base_getView().run()

## Script (Python) "DataOperation_run"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Run the operation on the input named in the Run form (POST, CSRF token)
# The view resolves the input (a document of the operation's input type that the user
# may reach) and the bounded JSON parameters; both are refused with a 4xx before anything runs.
return context.Base_getView().run()

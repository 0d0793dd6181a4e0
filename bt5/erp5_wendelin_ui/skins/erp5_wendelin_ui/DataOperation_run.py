## Script (Python) "DataOperation_run"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Run the operation on the input named in the Run form (POST, CSRF token)
# The input must be a document of the operation's input type that the user may reach,
# and the parameters a bounded JSON object: both refused with a 4xx before anything runs.
form = container.REQUEST.form
context.resolveRunInput(form.get('input', ''))
context.parseRunParameters(form.get('parameters', ''))
return context.Base_getView().run()

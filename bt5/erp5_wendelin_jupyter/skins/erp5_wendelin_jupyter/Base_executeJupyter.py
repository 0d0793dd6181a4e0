## Script (Python) "Base_executeJupyter"
##bind container=container
##bind context=context
##bind script=script
##parameters=python_expression=None, reference=None, title=None, store_history=None, request_reference=None
##title=Run one notebook cell for ERP5's Jupyter kernel (JSON reply)
from Products.Wendelin.jupyter.endpoint import execute_jupyter
return execute_jupyter(context, python_expression=python_expression, reference=reference,
                       title=title, store_history=store_history,
                       request_reference=request_reference)

## Script (Python) "DataNotebookModule_deleteNotebook"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None
##title=Delete a notebook by reference
from Products.Wendelin.jupyter.notebooks import delete_notebook
return delete_notebook(context, reference=reference)

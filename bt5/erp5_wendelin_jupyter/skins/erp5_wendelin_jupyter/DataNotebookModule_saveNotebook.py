## Script (Python) "DataNotebookModule_saveNotebook"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Create or update a notebook from a JSON body
from Products.Wendelin.jupyter.notebooks import save_notebook
return save_notebook(context)

## Script (Python) "DataNotebookModule_renameNotebook"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None, new_reference=None
##title=Give a notebook a new reference
from Products.Wendelin.jupyter.notebooks import rename_notebook
return rename_notebook(context, reference=reference, new_reference=new_reference)

## Script (Python) "DataNotebookModule_getNotebook"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None
##title=One notebook and its ipynb content (JSON)
from Products.Wendelin.jupyter.notebooks import get_notebook
return get_notebook(context, reference=reference)

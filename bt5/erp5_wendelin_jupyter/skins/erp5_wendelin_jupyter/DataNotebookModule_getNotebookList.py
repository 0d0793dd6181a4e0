## Script (Python) "DataNotebookModule_getNotebookList"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=List the notebooks (JSON)
from Products.Wendelin.jupyter.notebooks import list_notebooks
return list_notebooks(context)

## Script (Python) "DataArray_plot"
##bind container=container
##bind context=context
##bind script=script
##parameters=kind='line', **options
##title=A matplotlib Figure of the array (min/max decimated)
from Products.Wendelin.analysis.documents import plot
return plot(context, kind=kind, **options)

## Script (Python) "DataArray_plotToImage"
##bind container=container
##bind context=context
##bind script=script
##parameters=kind='line', reference=None
##title=Plot the array and save the figure as an Image
from Products.Wendelin.analysis.documents import plot_to_image
return plot_to_image(context, kind=kind, reference=reference)

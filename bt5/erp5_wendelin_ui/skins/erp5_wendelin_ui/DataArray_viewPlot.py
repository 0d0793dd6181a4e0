## Script (Python) "DataArray_viewPlot"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The cached plot PNG of a Data Array
return context.Base_getView().plot()

## Script (Python) "DataArray_fitIncremental"
##bind container=container
##bind context=context
##bind script=script
##parameters=estimator, rows, **fit_params
##title=Fit an incremental scikit-learn estimator batch by batch
from Products.Wendelin.analysis.documents import fit
return fit(context, estimator, rows, **fit_params)

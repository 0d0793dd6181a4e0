## Script (Python) "DataArray_getFrequencyList"
##bind container=container
##bind context=context
##bind script=script
##parameters=sample_rate=None
##title=Frequencies in Hz of the bins of a spectrum
from Products.Wendelin.analysis.documents import frequencies
return frequencies(context, sample_rate=sample_rate)

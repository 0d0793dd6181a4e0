## Script (Python) "DataArray_getFrequencyList"
##bind container=container
##bind context=context
##bind script=script
##parameters=sample_rate=None
##title=Frequencies in Hz of the bins of a spectrum
from Products.Wendelin.analysis.documents import frequencies
result = frequencies(context, sample_rate=sample_rate)
published = container.REQUEST.get('PUBLISHED', None)
if getattr(published, 'getId', None) is not None and published.getId() == script.getId():
    return result.tolist()  # by URL the answer is text (Zope cannot publish an ndarray)
return result

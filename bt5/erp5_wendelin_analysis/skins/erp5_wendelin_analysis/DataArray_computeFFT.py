## Script (Python) "DataArray_computeFFT"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None, real=True
##title=A new Data Array with the spectrum (out of core above the memory budget)
from Products.Wendelin.analysis.documents import compute_fft
return compute_fft(context, reference=reference, real=real)

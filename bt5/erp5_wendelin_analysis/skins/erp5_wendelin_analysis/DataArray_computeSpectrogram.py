## Script (Python) "DataArray_computeSpectrogram"
##bind container=container
##bind context=context
##bind script=script
##parameters=nperseg=1024, noverlap=None, window='hann', sample_rate=None, reference=None
##title=A new 2-D Data Array (frames x frequencies), computed in bounded memory
from Products.Wendelin.analysis.documents import compute_spectrogram
return compute_spectrogram(context, nperseg=nperseg, noverlap=noverlap, window=window,
                           sample_rate=sample_rate, reference=reference)

## Script (Python) "DataStream_extractChannel"
##bind container=container
##bind context=context
##bind script=script
##parameters=channel=0, reference=None, dtype=None
##title=A new 1-D Data Array with one channel of the recording
from Products.Wendelin.analysis.documents import extract_channel
return extract_channel(context, channel=channel, reference=reference, dtype=dtype)

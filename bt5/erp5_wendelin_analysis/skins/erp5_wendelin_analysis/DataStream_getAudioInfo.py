## Script (Python) "DataStream_getAudioInfo"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Format, channels, sample rate, frames and duration, from the header only
from Products.Wendelin.analysis.documents import describe_audio
return describe_audio(context)

## Script (Python) "DataStream_viewWaveform"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The cached waveform PNG of an audio Data Stream
return context.Base_getView().waveform()

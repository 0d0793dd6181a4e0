## Script (Python) "DataArray_clusterFrames"
##bind container=container
##bind context=context
##bind script=script
##parameters=n_clusters=4, rows=4096, reference=None
##title=A new Data Array with a k-means label for each frame of a spectrogram
from Products.Wendelin.analysis.documents import cluster_frames
return cluster_frames(context, n_clusters=n_clusters, rows=rows, reference=reference)

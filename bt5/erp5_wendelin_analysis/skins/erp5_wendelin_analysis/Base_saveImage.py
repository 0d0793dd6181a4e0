## Script (Python) "Base_saveImage"
##bind container=container
##bind context=context
##bind script=script
##parameters=figure, reference, title=None
##title=Render a figure to PNG and store it as an Image in image_module
from Products.Wendelin.analysis.documents import save_image
return save_image(context, figure, reference, title=title)

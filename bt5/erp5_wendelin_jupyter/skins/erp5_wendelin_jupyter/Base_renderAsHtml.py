## Script (Python) "Base_renderAsHtml"
##bind container=container
##bind context=context
##bind script=script
##parameters=obj
##title=HTML for a figure, an Image, an object with _repr_html_, or escaped text
from Products.Wendelin.jupyter.display import render_as_html
return render_as_html(obj)

## Script (Python) "Base_interruptJupyter"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference=None
##title=Interrupt the running cell of a notebook (KeyboardInterrupt in its output)
from Products.Wendelin.jupyter.endpoint import interrupt_jupyter
return interrupt_jupyter(context, reference)

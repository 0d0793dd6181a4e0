## Script (Python) "IngestionPolicyTool_addIngestionPolicy"
##bind container=container
##bind context=context
##bind script=script
##parameters=reference, title=None, batch_mode=0
##title=Create an Ingestion Policy with its Data Supply and Data Product; returns (policy, supply, product)
from Products.Wendelin.activity.scripts import add_ingestion_policy
return add_ingestion_policy(context, reference, title, batch_mode)

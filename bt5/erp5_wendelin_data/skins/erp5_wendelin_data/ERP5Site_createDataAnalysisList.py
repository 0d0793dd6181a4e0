## Script (Python) "ERP5Site_createDataAnalysisList"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Create the Data Analyses missing for started Data Ingestions
from Products.Wendelin.activity.scripts import create_data_analysis_list
return create_data_analysis_list(context.getPortalObject())

## Script (Python) "ERP5Site_executeDataAnalysisList"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=Queue the execution of every started Data Analysis
from Products.Wendelin.activity.scripts import execute_data_analysis_list
return execute_data_analysis_list(context.getPortalObject())

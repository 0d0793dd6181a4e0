## Script (Python) "Alarm_handleAnalysis"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The Wendelin alarm's work now: create the missing Data Analyses and queue their execution
return context.getPortalObject().portal_activities.runAlarm('wendelin_handle_analysis')

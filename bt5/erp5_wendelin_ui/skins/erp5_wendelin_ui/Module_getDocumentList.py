## Script (Python) "Module_getDocumentList"
##bind container=container
##bind context=context
##bind script=script
##parameters=limit=50
##title=Catalog brains of the module's documents, newest first
path = '/'.join(context.getPhysicalPath())
return context.portal_catalog(
    path=path,
    portal_type=context.getAllowedPortalTypeList(),
    sort_on='creation_date',
    sort_order='descending',
    limit=limit,
)

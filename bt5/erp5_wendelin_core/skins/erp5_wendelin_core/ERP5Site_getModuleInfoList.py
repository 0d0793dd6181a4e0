## Script (Python) "ERP5Site_getModuleInfoList"
##bind container=container
##bind context=context
##bind script=script
##parameters=
##title=The portal's modules with their document counts (front page)
return [
    {
        'id': module.getId(),
        'title': module.getTitle(),
        'url': module.absolute_url(),
        'count': module.getDocumentCount(),
    }
    for module in context.getPortalObject().getModuleList()
]

"""Wendelin: out-of-core data analytics on Zope and ZODB.

``initialize`` runs once per process at product start (ZCML ``registerPackage``):
it registers the business templates' filesystem skin folders, so every process
can resolve the portal's skins, whichever classes it happened to import.
"""

_initialized = False


def register_skin_directories() -> list[str]:
    """Register every skin folder of the installed business templates; return their keys."""
    from Products.CMFCore.DirectoryView import _dirreg

    from .site.business_template import load_templates

    keys = []
    for template in load_templates():
        for _folder_id, path, reg_key in template.skin_folders:
            _dirreg.registerDirectoryByKey(str(path), reg_key)
            keys.append(reg_key)
    return keys


#: CMF's catalog maintenance methods: callable by code with Modify portal content, never
#: by URL (a POST to ``reindexObject`` changed a document's modification date).
UNPUBLISHED_CMF_METHODS = ("indexObject", "unindexObject", "reindexObject",
                           "reindexObjectSecurity")


def unpublish_cmf_maintenance() -> None:
    """Mark CMF's catalog maintenance methods as not publishable (registration time)."""
    from Products.CMFCore.CMFCatalogAware import CatalogAware
    from ZPublisher import zpublish

    for name in UNPUBLISHED_CMF_METHODS:
        zpublish(False)(getattr(CatalogAware, name))


def initialize(context) -> None:
    """Zope product hook."""
    global _initialized
    if _initialized:
        return
    _initialized = True
    from . import permissions  # noqa: F401  (declares the Wendelin permissions)
    from .restricted import declare_public_api
    from .restricted_data import declare_restricted_access

    declare_public_api()
    declare_restricted_access()
    register_skin_directories()
    unpublish_cmf_maintenance()
    from .jupyter import install_process_hooks

    install_process_hooks()  # once per process, never from request code
    from .zeoclient import forget_prefetched_oids_on_reconnect

    forget_prefetched_oids_on_reconnect()

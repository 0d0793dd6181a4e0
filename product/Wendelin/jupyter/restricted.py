"""What skin scripts (restricted Python) may import from the notebook package.

Only the edge functions are public; each checks the permissions it needs itself.
Called once from the product's ``initialize``.
"""

from __future__ import annotations

from AccessControl.SecurityInfo import ModuleSecurityInfo

PUBLIC_API = {
    "Products.Wendelin.jupyter.endpoint": ("execute_jupyter", "check_existing_reference"),
    "Products.Wendelin.jupyter.notebooks": (
        "list_notebooks",
        "get_notebook",
        "save_notebook",
        "delete_notebook",
        "rename_notebook",
    ),
    "Products.Wendelin.jupyter.display": ("render_as_html",),
}


def declare_public_api() -> None:
    """Declare the public functions to Zope's security machinery."""
    for module, names in PUBLIC_API.items():
        ModuleSecurityInfo(module).declarePublic(*names)

"""What skin scripts (restricted Python) may import from Wendelin's packages.

The one visible place for it. Only edge functions are public; each works on
documents the script already reached, and those that change state or run code check
the permissions they need. Called once from the product's ``initialize``.
"""

from __future__ import annotations

from AccessControl.SecurityInfo import ModuleSecurityInfo

PUBLIC_API = {
    "Products.Wendelin": ("ui",),
    "Products.Wendelin.ui": ("views",),
    "Products.Wendelin.ui.views": (
        "getView",
        "getChrome",
        "renderLoginForm",
        "login",
        "logout",
        "moduleInfoList",
        "quoteUrl",
    ),
    "Products.Wendelin.jupyter.endpoint": (
        "execute_jupyter", "check_existing_reference", "interrupt_jupyter",
    ),
    "Products.Wendelin.jupyter.notebooks": (
        "list_notebooks",
        "get_notebook",
        "save_notebook",
        "delete_notebook",
        "rename_notebook",
    ),
    "Products.Wendelin.jupyter.display": ("render_as_html",),
    "Products.Wendelin.ingestion.transform": ("append_csv_to_array",),
    "Products.Wendelin.activity.scripts": (
        "add_ingestion_policy", "convert_csv_increment", "copy_csv_to_data_array",
        "create_data_analysis_list", "execute_data_analysis_list",
    ),
    "Products.Wendelin.analysis.documents": (
        "describe_audio",
        "extract_channel",
        "compute_fft",
        "frequencies",
        "compute_spectrogram",
        "plot",
        "plot_to_image",
        "save_image",
        "batches",
        "fit",
        "cluster_frames",
    ),
}


def declare_public_api() -> None:
    """Declare the public functions to Zope's security machinery."""
    for module, names in PUBLIC_API.items():
        ModuleSecurityInfo(module).declarePublic(*names)

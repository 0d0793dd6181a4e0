"""The web UI's Python side: views, sessions, listings and previews behind the skins.

The page templates and thin scripts live in the ``erp5_wendelin_ui`` business
template; the scripts may import only the names declared public below.
"""

from AccessControl.SecurityInfo import ModuleSecurityInfo

ModuleSecurityInfo("Products.Wendelin").declarePublic("ui")
ModuleSecurityInfo("Products.Wendelin.ui").declarePublic("views")
ModuleSecurityInfo("Products.Wendelin.ui.views").declarePublic(
    "getView", "getChrome", "renderLoginForm", "login", "logout", "moduleInfoList", "quoteUrl"
)

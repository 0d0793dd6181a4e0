"""The user folder's old module: sites created before it moved to :mod:`..site.users`
have ``Products.Wendelin.ui.auth.WendelinUserFolder`` in their pickles."""

from ..site.users import WendelinUserFolder

__all__ = ["WendelinUserFolder"]

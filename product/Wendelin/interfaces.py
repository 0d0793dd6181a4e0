"""Contracts the lower layers name and the edges fulfil, registered in configure.zcml.

The portal (site layer) must show an error page that the UI (edge layer) renders; it
asks for the registered :class:`IErrorPage` utility instead of importing the UI.
"""

from __future__ import annotations

from zope.interface import Interface


class IErrorPage(Interface):
    """Renders the site's error page for a failed request."""

    def __call__(portal, request, error_type, error_value):  # noqa: N805  (zope.interface)
        """The page's HTML: what went wrong in words, never a traceback."""

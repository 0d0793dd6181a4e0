"""Contracts the lower layers name and the edges fulfil, registered in configure.zcml.

The portal (site layer) must show an error page that the UI (edge layer) renders; it
asks for the registered :class:`IErrorPage` utility instead of importing the UI.
Documents answer GET and HEAD of their own URL through an :class:`IHTTPAnswer`
registered by the HTTP edge (``http/configure.zcml``): Range, statuses and headers
live there, the documents give bytes and facts.
"""

from __future__ import annotations

from zope.interface import Interface


class IErrorPage(Interface):
    """Renders the site's error page for a failed request."""

    def __call__(portal, request, error_type, error_value):  # noqa: N805  (zope.interface)
        """The page's HTML: what went wrong in words, never a traceback."""


class IHTTPAnswer(Interface):
    """The answer to GET or HEAD of a document's own URL: a multi-adapter of
    (document, request) whose call sets the response's status and headers and returns
    the body."""

    def __call__():  # type: ignore[misc]  # zope.interface methods take no self
        """The body (bytes, a stream iterator, or ``""``)."""

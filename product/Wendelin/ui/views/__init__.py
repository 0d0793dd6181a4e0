"""The views behind the pages, one module per document kind, found by registration.

Skin scripts call :func:`getView`; it asks the component registry for the
``IDocumentView`` multi-adapter of (document, request) registered in
``ui/configure.zcml`` (by class, so every portal type of a class gets its page), and
falls back to the common :class:`~.base.BaseView`. Page templates read plain dicts
from the view's methods; every method is protected by a Wendelin permission, checked
in the context of the document, so a page shows only what the visitor may see and a
form does only what the visitor may do. State changes need POST and a CSRF token.
"""

from __future__ import annotations

from typing import Any

from Acquisition import aq_inner
from zope.component import queryMultiAdapter
from zope.interface import Interface

from ..chrome import error_page, getChrome, moduleInfoList, quoteUrl
from ..session import login, logout, renderLoginForm
from .base import BaseView


class IDocumentView(Interface):
    """The view of a document's page (the adapters are registered in ui/configure.zcml)."""


def getView(context: Any, request: Any) -> BaseView:
    """The view for ``context`` (portal, module or document), wrapped in its context."""
    view = queryMultiAdapter((aq_inner(context), request), IDocumentView)
    if view is None:
        view = BaseView(context, request)
    return view.__of__(context)


__all__ = ["BaseView", "IDocumentView", "error_page", "getChrome", "getView", "login",
           "logout", "moduleInfoList", "quoteUrl", "renderLoginForm"]

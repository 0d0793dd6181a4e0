"""HTTP handlers at the edge: what GET and HEAD of a document's own URL answer.

Each handler adapts (document, request) to :class:`~..interfaces.IHTTPAnswer` and is
registered in ``http/configure.zcml``; the document's published ``index_html`` and
``HEAD`` only ask for it (``document.base.http_answer``). Range, status codes, headers and
the parsing of query parameters live here; the documents give bytes and facts.
"""

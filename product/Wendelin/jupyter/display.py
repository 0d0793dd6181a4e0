"""Rich display: objects to Jupyter mime bundles, ``display()``, and ``Base_renderAsHtml``.

A bundle is what Jupyter's ``display_data``/``execute_result`` carry:
``{"data": {mime: value}, "metadata": {}}``; binary images are base64 text.
"""

from __future__ import annotations

import base64
import html
import sys
from typing import Any

from ..analysis.figures import figure_png
from .capture import Bundle, current_capture

#: ``_repr_*_`` methods IPython knows, in order of preference, and their mime types.
REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
)
BINARY_TYPES = {"image/png", "image/jpeg"}
TEXT_LIMIT = 1_000_000


class HTMLString(str):
    """Text that is HTML: still a ``str``, displayed as ``text/html`` in a notebook."""

    def _repr_html_(self) -> str:
        return str(self)


def _is_figure(obj: Any) -> bool:
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(obj, figure_module.Figure)


def _is_pyplot(obj: Any) -> bool:
    return obj is sys.modules.get("matplotlib.pyplot")


def _encode(mime: str, value: Any) -> Any:
    if mime in BINARY_TYPES and isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value


def _plain(obj: Any) -> str:
    text = repr(obj)
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT] + f"... ({len(text) - TEXT_LIMIT} characters more)"
    return text


def mime_data(obj: Any) -> dict[str, Any]:
    """Every representation of ``obj`` Jupyter can show, always with ``text/plain``."""
    if _is_pyplot(obj):
        obj = obj.gcf()
    if _is_figure(obj):
        png = figure_png(obj)
        return {"image/png": _encode("image/png", png), "text/plain": _plain(obj)}
    data: dict[str, Any] = {}
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(mimebundle) and not isinstance(obj, type):
        result = mimebundle(include=None, exclude=None)
        if isinstance(result, tuple):
            result = result[0]
        data.update({mime: _encode(mime, value) for mime, value in (result or {}).items()})
    for method_name, mime in REPR_METHODS:
        method = getattr(obj, method_name, None)
        if mime in data or not callable(method) or isinstance(obj, type):
            continue
        value = method()
        if value is not None:
            data[mime] = _encode(mime, value)
    data.setdefault("text/plain", _plain(obj))
    return data


def bundle(obj: Any) -> Bundle:
    """The Jupyter bundle of one object."""
    return {"data": mime_data(obj), "metadata": {}}


def display(*objects: Any) -> None:
    """Show objects in the output of the running cell (like IPython's ``display``)."""
    capture = current_capture()
    for obj in objects:
        if capture is None:
            print(_plain(obj))
        else:
            capture.add_display(bundle(obj))


def _image_document_html(document: Any) -> str | None:
    """Inline an Image document as a data URI when it has bytes, else link to it."""
    content_type = getattr(document, "content_type", "") or "image/png"
    get_data = getattr(document, "getData", None)
    data = get_data() if callable(get_data) else None
    title = html.escape(getattr(document, "title", "") or document.getId(), quote=True)
    if data:
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        return f'<img src="data:{html.escape(content_type)};base64,{encoded}" alt="{title}"/>'
    return f'<img src="{html.escape(document.absolute_url(), quote=True)}" alt="{title}"/>'


def render_as_html(obj: Any) -> HTMLString:
    """HTML for a figure (inline PNG), an Image document, a ``_repr_html_`` object, or text."""
    if _is_pyplot(obj):
        obj = obj.gcf()
    if _is_figure(obj):
        encoded = base64.b64encode(figure_png(obj)).decode("ascii")
        return HTMLString(f'<img src="data:image/png;base64,{encoded}"/>')
    if getattr(obj, "portal_type", None) == "Image":
        rendered = _image_document_html(obj)
        if rendered is not None:
            return HTMLString(rendered)
    repr_html = getattr(obj, "_repr_html_", None)
    if callable(repr_html) and not isinstance(obj, type):
        value = repr_html()
        if value is not None:
            return HTMLString(value)
    return HTMLString(f"<pre>{html.escape(str(obj))}</pre>")

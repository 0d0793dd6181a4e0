"""Data Notebook pages: cells and their outputs as safe HTML, and the Jupyter link.

Outputs come from whoever ran the notebook, so nothing is trusted: text is escaped,
HTML goes through an allow-list sanitiser (no scripts, no event handlers), whose URL
rule is: links may be http, https, mailto or relative; image sources may also be
``data:image/...``. The scheme is read as a browser reads it: after entity decoding,
case-insensitively, with whitespace and control characters removed, so ``DATA:``,
``&#100;ata:``, ``java&#9;script:`` and the like are dropped. Images of outputs must be
valid base64 and are shown as data URIs (an SVG in an ``<img>`` cannot run scripts).
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

import bleach

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd",
        "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
        "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
    }
)
ALLOWED_ATTRIBUTES = {
    "*": ["class", "title"],
    "a": ["href", "title", "class"],
    "img": ["src", "alt", "width", "height", "title", "class"],
    "td": ["colspan", "rowspan", "class"],
    "th": ["colspan", "rowspan", "class", "scope"],
    "ol": ["start", "class"],
}
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Script and style elements are dropped with their content (bleach would keep the text).
_SCRIPTS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
#: Schemes a link may use; a URL without a scheme (relative) is allowed too.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
#: Image sources may also be inline images (``data:image/png;base64,...``).
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|svg\+xml|webp)[;,]", re.I)
#: What browsers ignore in a URL's scheme: ASCII whitespace and control characters.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f-\x9f\s]+")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):", re.I)


def _decoded_url(value: str) -> str:
    """``value`` entity-decoded (repeatedly: never less decoded than a browser would)
    with whitespace and control characters removed."""
    for _ in range(4):
        decoded = html.unescape(value)
        if decoded == value:
            break
        value = decoded
    return _IGNORED_IN_SCHEME.sub("", value)


def url_scheme(value: str) -> str:
    """The lower-case scheme of a URL attribute as a browser reads it; "" when relative."""
    found = _SCHEME.match(_decoded_url(value))
    return found.group(1).lower() if found else ""


def safe_link(value: str) -> bool:
    """Whether an ``href`` is http, https, mailto or relative."""
    scheme = url_scheme(value)
    return not scheme or scheme in LINK_SCHEMES


def safe_image_source(value: str) -> bool:
    """Whether an ``src`` is a safe link or an inline image (``data:image/...``)."""
    return safe_link(value) or bool(_DATA_IMAGE.match(_decoded_url(value)))


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """bleach's attribute filter: allow-listed names, and only safe URLs."""
    if name not in ALLOWED_ATTRIBUTES.get(tag, ()) and name not in ALLOWED_ATTRIBUTES["*"]:
        return False
    if name == "href":
        return safe_link(value)
    if name == "src":
        return safe_image_source(value)
    return True


_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_allowed_attribute,
    # a second check after ours: bleach also drops URLs of other protocols
    protocols=["http", "https", "mailto", "data"],
    strip=True,
    strip_comments=True,
)


def sanitize_html(markup: str) -> str:
    """``markup`` with only allow-listed tags and attributes and safe URLs."""
    return _cleaner.clean(_SCRIPTS.sub("", markup))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def _pre(text: str, css: str) -> str:
    return f'<pre class="{css}">{html.escape(_ANSI.sub("", text))}</pre>'


def image_html(mime: str, data: Any) -> str:
    """An ``<img>`` with a data URI, or an escaped note when the data is not base64."""
    payload = re.sub(r"\s+", "", _text(data))
    if mime == "image/svg+xml" and payload.lstrip().startswith("<"):
        payload = base64.b64encode(_text(data).encode()).decode()
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return _pre(f"[{mime} output that is not valid base64]", "out-note")
    return f'<img class="out-image" alt="cell output" src="data:{mime};base64,{payload}">'


def bundle_html(data: dict[str, Any]) -> str:
    """The richest safe rendering of a mime bundle (``{"text/plain": ..., ...}``)."""
    for mime in _IMAGE_TYPES:
        if mime in data:
            return image_html(mime, data[mime])
    if "text/html" in data:
        return f'<div class="out-html">{sanitize_html(_text(data["text/html"]))}</div>'
    if "text/markdown" in data:
        return f'<div class="out-html">{markdown_html(_text(data["text/markdown"]))}</div>'
    if "application/json" in data:
        return _pre(repr(data["application/json"]), "out-text")
    if "text/plain" in data:
        return _pre(_text(data["text/plain"]), "out-text")
    return _pre("[output of type " + ", ".join(sorted(data)) + "]", "out-note")


def markdown_html(text: str) -> str:
    """Markdown rendered to HTML, then sanitised (raw HTML inside it included)."""
    import mistune

    return sanitize_html(cast(str, mistune.html(text)))  # the HTML renderer gives text


def output_html(output: dict[str, Any]) -> str:
    """One nbformat output as safe HTML."""
    kind = output.get("output_type")
    if kind == "stream":
        css = "out-stderr" if output.get("name") == "stderr" else "out-stream"
        return _pre(_text(output.get("text")), css)
    if kind == "error":
        lines = output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]
        return _pre("\n".join(_text(line) for line in lines), "out-error")
    if kind in ("display_data", "execute_result"):
        return bundle_html(output.get("data") or {})
    return _pre(f"[unknown output type {kind!r}]", "out-note")


def cells_from_ipynb(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """Cells of an nbformat-4 notebook as ``{kind, source, outputs_html, count}``."""
    cells = []
    for cell in notebook.get("cells", []):
        kind = cell.get("cell_type", "code")
        source = _text(cell.get("source"))
        outputs = [output_html(o) for o in cell.get("outputs", []) if isinstance(o, dict)]
        cells.append(
            {
                "kind": kind,
                "source": source,
                "source_html": markdown_html(source) if kind == "markdown" else "",
                "outputs_html": "".join(outputs),
                "count": cell.get("execution_count") or "",
            }
        )
    return cells


def cells_from_lines(notebook: Any) -> list[dict[str, Any]]:
    """Cells of a Data Notebook stored as Data Notebook Lines: the same ``.ipynb`` that
    Jupyter opens (:func:`~..document.ipynb.notebook_from_lines`), rendered as above."""
    from ..document.ipynb import notebook_from_lines

    return cells_from_ipynb(notebook_from_lines(notebook))


def notebook_cells(notebook: Any) -> list[dict[str, Any]]:
    """The notebook's cells: from its stored ``.ipynb`` when it has one, else its lines."""
    get_ipynb = getattr(notebook, "getIpynb", None)
    if callable(get_ipynb):
        stored = get_ipynb()
        if isinstance(stored, dict) and stored.get("cells"):
            return cells_from_ipynb(stored)
    return cells_from_lines(notebook)


def jupyter_url(
    reference: str, request_url: str, environ: dict[str, str] | None = None,
    var: Path | None = None,
) -> str:
    """Where the notebook opens in Jupyter.

    ``WENDELIN_JUPYTER_URL`` if set, else the URL ``wendelin run`` wrote to
    ``var/jupyter-url`` when it started Jupyter, else this host at ``WENDELIN_JUPYTER_PORT``.
    """
    env = os.environ if environ is None else environ
    name = quote(f"{reference}.ipynb")
    base = (env.get("WENDELIN_JUPYTER_URL") or "").rstrip("/")
    if not base:
        base = _announced_jupyter(env, var)
    if not base:
        host = urlsplit(request_url).hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        port = env.get("WENDELIN_JUPYTER_PORT") or "8888"
        base = f"http://{host}:{port}"
    return f"{base}/notebooks/{name}"


def _announced_jupyter(env: Any, var: Path | None) -> str:
    """The base URL in ``var/jupyter-url`` (written by ``wendelin run``), or ``""``."""
    from erp5_kernel.launcher import URL_FILE

    from ..errors import ConfigurationError
    from ..settings import Settings

    if var is None:
        try:
            var = Settings.from_environ(dict(env)).var
        except ConfigurationError:
            return ""
    try:
        text = (var / URL_FILE).read_text(errors="replace").strip()
    except OSError:
        return ""
    return text.rstrip("/") if text.startswith(("http://", "https://")) else ""

"""Business templates: the portal's definition as data files under ``bt5/``.

A template is a folder with a ``bt.json`` (title, modules, tools (folders like modules
but not listed as modules), documents created once if missing, found by module and
reference), ``portal_types/*.json``
(one type information each), an optional ``catalog.json`` and ``skins/<folder>/``
(filesystem skin folders). ``bt5/bt5list`` names the templates to install, in order.
This module only reads and validates; :mod:`.setup` applies them to a site.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BusinessTemplateError
from ..settings import shipped_path

SKIN_KEY_PREFIX = "Products.Wendelin:bt5"


def bt5_root() -> Path:
    """Where business templates live: ``WENDELIN_BT5``, else the checkout's or wheel's ``bt5/``."""
    return Path(os.environ.get("WENDELIN_BT5") or shipped_path("bt5")).resolve()


@dataclass(frozen=True)
class Module:
    id: str
    portal_type: str
    title: str


@dataclass(frozen=True)
class BusinessTemplate:
    """One template read from disk."""

    name: str
    path: Path
    title: str
    modules: tuple[Module, ...] = ()
    tools: tuple[Module, ...] = ()
    portal_types: tuple[dict[str, Any], ...] = ()
    catalog: dict[str, Any] = field(default_factory=dict)
    documents: tuple[dict[str, Any], ...] = ()

    @property
    def skin_folders(self) -> list[tuple[str, Path, str]]:
        """``(folder id, folder path, registry key)`` for each skin folder."""
        skins = self.path / "skins"
        if not skins.is_dir():
            return []
        return [
            (entry.name, entry, f"{SKIN_KEY_PREFIX}/{self.name}/skins/{entry.name}")
            for entry in sorted(skins.iterdir())
            if entry.is_dir() and not entry.name.startswith((".", "_"))
        ]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BusinessTemplateError(f"cannot read {path}: {exc}") from exc


def _check_type_info(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BusinessTemplateError(f"{path}: a portal type must be a JSON object")
    for key in ("id", "factory", "content_meta_type"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise BusinessTemplateError(f"{path}: portal type needs a non-empty {key!r}")
    return data


def load_template(path: Path) -> BusinessTemplate:
    """Read and validate the template in ``path``."""
    meta = _read_json(path / "bt.json")
    if not isinstance(meta, dict) or "title" not in meta:
        raise BusinessTemplateError(f"{path / 'bt.json'}: needs at least a 'title'")
    modules: list[Module] = []
    tools: list[Module] = []
    for key, found in (("modules", modules), ("tools", tools)):
        for entry in meta.get(key, []):
            try:
                found.append(Module(entry["id"], entry["portal_type"], entry.get("title", "")))
            except (KeyError, TypeError) as exc:
                raise BusinessTemplateError(f"{path / 'bt.json'}: bad {key} {entry!r}") from exc
    documents = tuple(meta.get("documents", []))
    for entry in documents:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("module"), str)
            and isinstance(entry.get("portal_type"), str)
            and entry.get("reference")
        ):
            raise BusinessTemplateError(
                f"{path / 'bt.json'}: a document needs 'module', 'portal_type' and "
                f"'reference': {entry!r}"
            )
    types_dir = path / "portal_types"
    portal_types = tuple(
        _check_type_info(p, _read_json(p)) for p in sorted(types_dir.glob("*.json"))
    ) if types_dir.is_dir() else ()
    catalog_file = path / "catalog.json"
    catalog = _read_json(catalog_file) if catalog_file.exists() else {}
    return BusinessTemplate(
        name=path.name,
        path=path,
        title=meta["title"],
        modules=tuple(modules),
        tools=tuple(tools),
        portal_types=portal_types,
        catalog=catalog,
        documents=documents,
    )


def load_templates(root: Path | None = None) -> list[BusinessTemplate]:
    """The templates named in ``bt5list``, in install order."""
    root = root or bt5_root()
    listing = root / "bt5list"
    if not listing.exists():
        raise BusinessTemplateError(f"no bt5list in {root}")
    names = [line.strip() for line in listing.read_text().splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    missing = [name for name in names if not (root / name / "bt.json").exists()]
    if missing:
        raise BusinessTemplateError(f"bt5list names missing template(s): {', '.join(missing)}")
    return [load_template(root / name) for name in names]


def templates_digest(templates: list[BusinessTemplate], code: bytes = b"") -> str:
    """A hash of everything the templates install (and of the ``code`` applying them)."""
    digest = hashlib.sha256(code)
    for template in templates:
        for path in sorted(template.path.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(template.path.parent)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()

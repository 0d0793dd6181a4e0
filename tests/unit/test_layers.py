"""The product's layers import one way: core <- documents <- site <- services <- edges.

Every ``import`` of ``Products.Wendelin`` code, at module level or inside a function, is
read from the source (no import side effects) and checked against the order drawn in
the README. A module may import its own unit and any unit of a lower layer; inside the
services and edges layers the units are ordered too (``analysis`` is below ``jupyter``,
``ui`` below ``edge``), so siblings never import each other both ways.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "product" / "Wendelin"

#: Units (a package or a top-level module of Products.Wendelin), lowest first.
LAYERS: dict[str, list[str]] = {
    "core": ["bigdata", "errors", "interfaces", "inputs", "humanize", "locks", "processes",
             "permissions", "restricted", "restricted_data", "conflicts", "settings",
             "cmfprivate"],
    "documents": ["document"],
    "site": ["site"],
    "services": ["analysis", "ingestion", "jupyter", "activity"],
    "edges": ["zeoclient", "zeoserver", "uploads_wsgi", "http", "ui", "edge", "factories",
              "cluster", "server", "__init__"],
}
LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}
LAYER_RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
#: Within services and edges, a unit may import only those listed before it.
ORDERED = {"services", "edges"}


def _unit(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0]


def _imported(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of product code in ``path``."""
    package = ["Products", "Wendelin", *path.relative_to(ROOT).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    found.append((node.lineno, ".".join([*base, node.module])))
                else:
                    found += [(node.lineno, ".".join([*base, alias.name])) for alias in node.names]
            elif node.module:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("Products.Wendelin.")]


def _allowed(source: str, target: str) -> bool:
    if source == target:
        return True
    source_layer, target_layer = LAYER_OF[source], LAYER_OF[target]
    if source_layer != target_layer:
        return LAYER_RANK[target_layer] < LAYER_RANK[source_layer]
    if source_layer in ORDERED:
        units = LAYERS[source_layer]
        return units.index(target) < units.index(source)
    return True  # core modules are independent helpers


def _violations() -> list[str]:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        source = _unit(path)
        for line, module in _imported(path):
            target = module.split(".")[2]
            if not _allowed(source, target):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({source}, "
                             f"{LAYER_OF[source]}) imports {module} ({LAYER_OF[target]})")
    return wrong


def test_every_unit_has_a_layer():
    units = {_unit(path) for path in ROOT.rglob("*.py")}
    assert units - set(LAYER_OF) == set(), "add the new unit to LAYERS and to the README"


def test_imports_point_down_the_layers():
    assert _violations() == []


def test_the_storage_core_imports_neither_zope_nor_the_rest_of_the_product():
    zope_roots = {"Zope2", "OFS", "AccessControl", "Acquisition", "Products", "ZPublisher",
                  "zope", "five", "App", "Shared"}
    for path in sorted((ROOT / "bigdata").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            for name in names:
                assert name.split(".")[0] not in zope_roots, f"{path.name} imports {name}"


@pytest.mark.parametrize(("source", "target", "allowed"), [
    ("document", "site", False),  # the cycle this test was written against
    ("site", "document", True),
    ("analysis", "jupyter", False),
    ("jupyter", "analysis", True),
    ("cluster", "server", False),
    ("bigdata", "errors", True),
])
def test_the_rule_itself(source, target, allowed):
    assert _allowed(source, target) is allowed


def test_sites_created_before_the_user_folder_moved_still_load():
    """Old pickles name Products.Wendelin.ui.auth.WendelinUserFolder."""
    from Products.Wendelin.site.users import WendelinUserFolder
    from Products.Wendelin.ui import auth

    assert auth.WendelinUserFolder is WendelinUserFolder


#: Private members of ZCatalog and CMF the product relies on (attribute names).
PRIVATE_MEMBERS = ("_catalog", "_listAllowedRolesAndUsers", "_setPortalTypeName", "SKINDATA",
                   "_wordinfo", "_index_factory", "_sorted_search_indexes", "_search_index")


def test_zcatalog_and_cmf_private_members_are_used_in_one_module_only():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "cmfprivate.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = (node.attr if isinstance(node, ast.Attribute)  # x._catalog
                    else node.id if isinstance(node, ast.Name) and node.id == "SKINDATA"
                    else None)
            if name in PRIVATE_MEMBERS:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert offenders == []


def test_the_zcatalog_and_cmf_releases_are_those_cmfprivate_was_checked_against():
    from importlib.metadata import version

    from Products.Wendelin.cmfprivate import CHECKED_AGAINST

    for distribution, checked in CHECKED_AGAINST.items():
        assert (version(distribution) + ".").startswith(checked + "."), (
            f"{distribution} {version(distribution)} installed: read cmfprivate.py again, "
            f"then update CHECKED_AGAINST and the pin in pyproject.toml")

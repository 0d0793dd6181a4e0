"""Every published name is declared: each public method of every class Zope can reach by
URL carries an explicit security declaration (``<name>__roles__``).

A method without one is guarded only by its object's default (View on documents), so an
Auditor could call mutators such as ``reindexData`` over HTTP; this test keeps that closed
for every class of the product, including methods inherited from our own mixins.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import Products.Wendelin as product

PREFIX = product.__name__ + "."


def product_modules() -> list[str]:
    """Names of every module of the product (all are importable: a failure is a bug)."""
    names = [product.__name__]
    for info in pkgutil.walk_packages(product.__path__, PREFIX):
        names.append(info.name)
    return names


def _publishable_bases() -> tuple[type, ...]:
    """Bases of what URL traversal reaches: acquisition-aware objects and OFS items.

    Plain persistent helpers (ZBigFile, ZBigArray) are stored under ``_``-names that
    traversal refuses; restricted code reaches them through restricted_data.py instead.
    """
    import Acquisition
    import OFS.SimpleItem

    return (Acquisition.Implicit, Acquisition.Explicit, OFS.SimpleItem.Item)


def publishable_classes() -> list[type]:
    """The product's classes that Zope can publish (documents, modules, tools, portal...)."""
    bases = _publishable_bases()
    found: dict[str, type] = {}
    for name in product_modules():
        module = importlib.import_module(name)
        for _attr, value in vars(module).items():
            if (inspect.isclass(value) and value.__module__ == name
                    and issubclass(value, bases)):
                found[f"{name}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


def _is_method(value: object) -> bool:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return callable(value) and not inspect.isclass(value)


def undeclared(cls: type) -> Iterator[str]:
    """``Class.method`` for each public, documented method of our own code in ``cls``'s MRO
    (its own and inherited from our mixins) that has no ``method__roles__`` on ``cls``."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith(PREFIX):
            continue
        for name, value in vars(klass).items():
            if name in seen or name.startswith("_") or name.endswith("__roles__"):
                continue
            seen.add(name)
            if not _is_method(value) or not getattr(value, "__doc__", None):
                continue
            owner = next(k for k in cls.__mro__ if name in vars(k))
            if owner is not klass:
                continue  # overridden by a class outside the product: not our method
            if not hasattr(cls, name + "__roles__"):
                yield f"{cls.__module__}.{cls.__qualname__}.{name} (from {klass.__qualname__})"


def test_the_walk_finds_the_published_classes() -> None:
    """Guard against a walk that silently checks nothing: the known classes are in it."""
    names = {cls.__qualname__ for cls in publishable_classes()}
    for expected in ("DataStream", "DataArray", "Image", "DataModule", "WendelinSite",
                     "WendelinCatalogTool", "DataNotebook", "DataOperation"):
        assert expected in names


def test_every_public_method_is_declared() -> None:
    """Fails naming each public documented method that lacks a security declaration."""
    missing = [entry for cls in publishable_classes() for entry in undeclared(cls)]
    assert not missing, "methods without a security declaration:\n" + "\n".join(missing)


def test_data_mutators_need_modify_and_are_not_published() -> None:
    """The methods of item 4 need Modify portal content and are not published by URL."""
    from Products.Wendelin.document.array import DataArray
    from Products.Wendelin.document.image import Image
    from Products.Wendelin.document.stream import DataStream
    from Products.Wendelin.permissions import ModifyPortalContent
    from ZPublisher import zpublish_mark

    for cls in (DataStream, DataArray, Image):
        for name in ("reindexData", "reindexMetadata", "notifyModified"):
            roles = getattr(cls, name + "__roles__")
            assert getattr(roles, "__name__", None) == ModifyPortalContent, name
            assert zpublish_mark(getattr(cls, name)) is False, name

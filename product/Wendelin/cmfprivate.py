"""ZCatalog's and CMF's private members, used here and nowhere else (a core helper).

The catalog's speed and its behaviour under concurrent commits need a few things
ZCatalog and CMF keep private: the record table and its query plan, the sort of record
ids, Okapi's word table, a field index's tree, CMF's allowed-roles filter and portal
type setter, the thread's skin. Each is reached through one function or class below,
checked against the versions in :data:`CHECKED_AGAINST` (pinned in pyproject; a test
fails when the installed ones differ, so an upgrade means reading this module again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from threading import get_ident
from typing import Any

from BTrees.IIBTree import IIBTree
from BTrees.OOBTree import OOBTree
from Products.CMFCore.Skinnable import SKINDATA
from Products.ZCTextIndex.OkapiIndex import OkapiIndex

#: The releases whose private members this module was written against.
CHECKED_AGAINST = {"Products.ZCatalog": "7.4", "Products.CMFCore": "3.9"}


# -- the record table and its queries ---------------------------------------------------------
def indexes(catalog: Any) -> Mapping[str, Any]:
    """The catalog's indexes by name."""
    return catalog._catalog.indexes


def record_count(catalog: Any) -> int:
    """How many objects the catalog holds."""
    return len(catalog._catalog)


def record_getter(catalog: Any) -> Callable[[int], Any]:
    """A function from a record id to its brain."""
    return catalog._catalog.__getitem__


def sort_records(catalog: Any, matching: Any, index: Any, reverse: bool, start: int,
                 size: int | None) -> Any:
    """ZCatalog's own sort of ``matching`` record ids on ``index``: one page of brains."""
    return catalog._catalog.sortResults(
        matching, index, reverse, None if size is None else start + size,
        actual_result_count=len(matching), b_start=start, b_size=size,
    )


def matching_records(catalog: Any, query: dict[str, Any]) -> Any:
    """The record ids matching ``query``'s index terms, unsorted (ZCatalog's own query
    plan, as ``Catalog.search`` runs it before sorting)."""
    records = catalog._catalog
    query = records.make_query(query)
    plan = records.getCatalogPlan(query)
    plan.start()
    matching = None
    for index_id in plan.plan() or records._sorted_search_indexes(query):
        if index_id in records.indexes:
            matching = records._search_index(plan, index_id, query, matching)
            if not matching:
                break
    plan.stop()
    return matching


# -- CMF ----------------------------------------------------------------------------------------
def allowed_roles_and_users(catalog: Any, user: Any) -> list[str]:
    """CMF's ``allowedRolesAndUsers`` terms for ``user`` (what a search is filtered by)."""
    return catalog._listAllowedRolesAndUsers(user)


def set_portal_type(obj: Any, portal_type: str) -> None:
    """Give a new object its portal type (CMF's ``DynamicType`` setter)."""
    obj._setPortalTypeName(portal_type)


def thread_has_skin() -> bool:
    """Whether CMF set a skin for the current thread (in a request, or by ``changeSkin``)."""
    return SKINDATA.get(get_ident()) is not None


# -- indexes laid out for concurrent commits ----------------------------------------------------
class OneDocument:
    """A word's only document and its frequency, kept in ``_wordinfo`` where Okapi keeps a
    dict. Unlike a dict it compares, which BTrees' conflict resolution needs: a bucket
    holding any dict cannot be merged, whichever of its keys two transactions changed."""

    __slots__ = ("docid", "weight")

    def __init__(self, docid: int, weight: int) -> None:
        self.docid = docid
        self.weight = weight

    def __getstate__(self) -> tuple[int, int]:
        return self.docid, self.weight

    def __setstate__(self, state: tuple[int, int]) -> None:
        self.docid, self.weight = state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OneDocument) and self.__getstate__() == other.__getstate__()

    def __lt__(self, other: object) -> bool:  # never raises: merges compare any two values
        return isinstance(other, OneDocument) and self.__getstate__() < other.__getstate__()

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return 1

    def __contains__(self, docid: int) -> bool:
        return docid == self.docid

    def get(self, docid: int, default: Any = None) -> Any:
        return self.weight if docid == self.docid else default

    def keys(self) -> list[int]:
        return [self.docid]

    def items(self) -> list[tuple[int, int]]:
        return [(self.docid, self.weight)]

    def __repr__(self) -> str:
        return f"OneDocument({self.docid}, {self.weight})"


class ConcurrentOkapiIndex(OkapiIndex):
    """ZCTextIndex's Okapi BM25 index, laid out so parallel transactions indexing
    different documents merge instead of conflicting.

    Okapi maps each word to a dict of its documents, kept inside a ``_wordinfo`` bucket
    until it holds 10 of them, and stores the word again for every document indexed:
    BTrees cannot merge buckets holding dicts (dicts do not compare), so any two
    documents whose words share a bucket conflict (a notebook line's number, a common
    title word). Here a word's only document is a :class:`OneDocument` and the second
    makes the word's own IIBTree, which concurrent inserts merge into; the bucket is not
    written again for that word. Search reads both as Okapi's mappings.
    """

    def _add_wordinfo(self, wid: int, f: int, docid: int) -> None:
        self._mass_add_wordinfo({wid: f}, docid)

    def _mass_add_wordinfo(self, wid2weight: dict[int, int], docid: int) -> None:
        wordinfo = self._wordinfo
        new_words = 0
        for wid, weight in wid2weight.items():
            docs = wordinfo.get(wid)
            if docs is None:
                wordinfo[wid] = OneDocument(docid, weight)
                new_words += 1
            elif docs.get(docid) == weight:
                continue
            elif isinstance(docs, OneDocument) and docs.docid == docid:
                wordinfo[wid] = OneDocument(docid, weight)
            elif isinstance(docs, (OneDocument, dict)):  # dict: written by Okapi itself
                tree = IIBTree(docs.items())
                tree[docid] = weight
                wordinfo[wid] = tree
            else:
                docs[docid] = weight  # its own object: the bucket stays as it is
        if new_words:
            self.length.change(new_words)

    def _del_wordinfo(self, wid: int, docid: int) -> None:
        docs = self._wordinfo[wid]
        if len(docs) <= 1:
            del self._wordinfo[wid]
            self.length.change(-1)
        elif isinstance(docs, dict):
            self._wordinfo[wid] = IIBTree((d, w) for d, w in docs.items() if d != docid)
        else:
            del docs[docid]


class TimeOOBTree(OOBTree):
    """The value -> documents tree of an index on a time: buckets of 256 keys, not 30.

    New documents' times are the newest, so every creation inserts into the tree's last
    bucket, and the transaction that splits it conflicts with every other transaction
    inserting there at the same moment (merging cannot move keys across buckets). With
    larger buckets that split comes every ~128 inserts instead of every ~15."""

    max_leaf_size = 256


#: Field indexes whose values are times (new documents add their largest keys).
TIME_INDEXES = ("getCreationTime", "getModificationTime")


def tune_for_concurrency(catalog: Any) -> list[str]:
    """Lay out the catalog's indexes so parallel commits merge (idempotent, no reindexing):
    Okapi text indexes become :class:`ConcurrentOkapiIndex` (the dicts Okapi left in
    ``_wordinfo`` converted), time indexes get a :class:`TimeOOBTree`. Returns the names
    of the indexes changed."""
    changed = []
    for name, index in catalog._catalog.indexes.items():
        inner = getattr(index, "index", None)
        if getattr(index, "_index_factory", None) is OkapiIndex:
            index._index_factory = ConcurrentOkapiIndex
        if type(inner) is OkapiIndex:
            upgraded = ConcurrentOkapiIndex.__new__(ConcurrentOkapiIndex)
            upgraded.__setstate__(inner.__getstate__())
            wordinfo = upgraded._wordinfo
            for wid, docs in list(wordinfo.items()):
                if isinstance(docs, dict):
                    wordinfo[wid] = (OneDocument(*next(iter(docs.items()))) if len(docs) == 1
                                     else IIBTree(docs))
            index.index = upgraded
            changed.append(name)
        if name in TIME_INDEXES and type(getattr(index, "_index", None)) is OOBTree:
            index._index = TimeOOBTree(index._index)
            changed.append(name)
    return changed

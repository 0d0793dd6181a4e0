"""Parallel commits that catalogue different documents merge instead of conflicting.

Each ZODB ConflictError re-runs a whole request or notebook cell, so documents created at
the same moment in different notebooks or modules must not collide in the catalog. The
two structures found colliding are tested pairwise on a FileStorage (two connections,
one commits, then the other: resolution decides), the whole portal with threads that
commit together.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
import transaction
import Zope2
from BTrees.OOBTree import OOBTree
from Products.CMFCore.indexing import processQueue
from Products.Wendelin.site.catalog import ConcurrentOkapiIndex, OneDocument, TimeOOBTree
from Products.ZCTextIndex.Lexicon import CaseNormalizer, Splitter
from Products.ZCTextIndex.OkapiIndex import OkapiIndex
from Products.ZCTextIndex.ZCTextIndex import PLexicon
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

THREADS = 4
ROUNDS = 12


class TwoWriters:
    """A FileStorage database and two connections that start from the same state."""

    def __init__(self, path: Path) -> None:
        self.db = DB(FileStorage(str(path / "Data.fs")))
        self.managers = [transaction.TransactionManager() for _ in range(2)]
        self.roots = [self.db.open(transaction_manager=tm).root() for tm in self.managers]

    def setup(self, **objects: Any) -> None:
        """Store ``objects`` in the root, committed and seen by both connections."""
        self.roots[0].update(objects)
        self.managers[0].commit()
        self.managers[1].begin()

    def commit_both(self) -> bool:
        """Commit the first connection, then the second; whether the second merged."""
        self.managers[0].commit()
        try:
            self.managers[1].commit()
        except ConflictError:
            self.managers[1].abort()
            return False
        return True

    def close(self) -> None:
        for tm in self.managers:
            tm.abort()
        self.db.close()


@pytest.fixture
def writers(tmp_path):
    pair = TwoWriters(tmp_path)
    yield pair
    pair.close()


def _new_text_index(factory: type) -> tuple[PLexicon, OkapiIndex]:
    lexicon = PLexicon("lexicon", "", Splitter(), CaseNormalizer())
    return lexicon, factory(lexicon)


@pytest.mark.parametrize("factory, merges", [(OkapiIndex, False), (ConcurrentOkapiIndex, True)])
def test_text_index_merges_documents_sharing_words(writers, factory, merges):
    """Okapi keeps a word's few documents in a dict inside a ``_wordinfo`` bucket and
    BTrees cannot merge buckets holding dicts: two documents sharing a word conflict."""
    lexicon, index = _new_text_index(factory)
    for docid in (1, 2, 3):
        index.index_doc(docid, "line notebook")
    index.index_doc(4, "once")
    writers.setup(lexicon=lexicon, index=index)
    first, second = (root["index"] for root in writers.roots)
    first.index_doc(100, "notebook line alpha")
    second.index_doc(-200, "notebook line once beta")
    assert writers.commit_both() is merges
    if not merges:
        return
    writers.managers[0].begin()
    index = writers.roots[0]["index"]
    for word, docids in (("notebook", {1, 2, 3, 100, -200}), ("alpha", {100}),
                         ("beta", {-200}), ("once", {4, -200})):
        assert set(index.search(word).keys()) == docids, word
    assert index.document_count() == 6 and index.length() == 5


def test_text_index_keeps_okapi_results_and_unindexes(writers):
    """Same hits and scores as Okapi, through single-document words and deletions."""
    texts = {1: "wave sound wave", 2: "sound level", 3: "unique words here", 4: "wave"}
    indexes = {}
    for factory in (OkapiIndex, ConcurrentOkapiIndex):
        _lexicon, index = _new_text_index(factory)
        for docid, text in texts.items():
            index.index_doc(docid, text)
        index.index_doc(3, "wave again")  # reindex
        index.unindex_doc(2)
        indexes[factory] = index
    plain, concurrent = indexes[OkapiIndex], indexes[ConcurrentOkapiIndex]
    for word in ("wave", "sound", "level", "unique", "again"):
        expected = plain.search(word)
        assert dict(concurrent.search(word).items()) == dict(
            expected.items() if expected is not None else {}
        ), word
    assert isinstance(concurrent._wordinfo[concurrent._lexicon._wids["again"]], OneDocument)
    assert concurrent.length() == plain.length()


@pytest.mark.parametrize("tree_class, merges", [(OOBTree, False), (TimeOOBTree, True)])
def test_time_index_tail_inserts_merge(writers, tree_class, merges):
    """New documents' times all go to the tree's last bucket: the transaction that
    splits it conflicts with the others; buckets of 256 keys split 8 times less often."""
    tree = tree_class()
    for second in range(100):
        tree[1e9 + second] = second
    writers.setup(times=tree)
    first, second = (root["times"] for root in writers.roots)
    last = first._firstbucket
    while last._next is not None:
        last = last._next
    for step in range(31 - len(last)):  # enough to split a 30-key bucket
        first[2e9 + step] = step
    second[3e9] = -1
    assert writers.commit_both() is merges


def _open_portal():
    """The portal in a new connection of this thread, as the system user."""
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SpecialUsers import system
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite

    root = makerequest(Zope2.DB.open().root()["Application"])
    newSecurityManager(None, system)
    setSite(root.erp5)
    return root, root.erp5


def _close(root) -> None:
    from AccessControl.SecurityManagement import noSecurityManager
    from zope.component.hooks import setSite

    transaction.abort()
    noSecurityManager()
    setSite(None)
    root._p_jar.close()


def _create(container, kind: str, tag: str):
    if kind == "line":
        return container.newContent(
            portal_type="Data Notebook Line", notebook_code="x = 1\nprint(x)",
            notebook_code_result="1",
        )
    return container.newContent(
        portal_type=container.getAllowedPortalTypeList()[0], title="sensor data",
        reference=f"{tag}-{secrets.token_hex(4)}",
    )


def _parallel_commits(kind: str, containers: list[tuple[str, ...]]) -> tuple[int, list]:
    """Each thread creates one document per round in its own container and all commit
    together (a barrier before commit); returns the conflicts and the committed paths."""
    barrier = threading.Barrier(len(containers))
    conflicts = [0] * len(containers)
    committed: list[list[str]] = [[] for _ in containers]
    errors: list[BaseException] = []
    warm = threading.Lock()

    def work(slot: int) -> None:
        root, _site = _open_portal()
        try:
            container = root.unrestrictedTraverse(containers[slot])
            with warm:  # one commit alone first, as a server's long-lived connection
                transaction.begin()  # see the other threads' commits
                _create(container, kind, f"warm{slot}")
                transaction.commit()
            for _round in range(ROUNDS):
                transaction.begin()
                document = _create(container, kind, f"t{slot}")
                path = "/".join(document.getPhysicalPath())
                processQueue()
                barrier.wait()
                try:
                    transaction.commit()
                    committed[slot].append(path)
                except ConflictError:
                    transaction.abort()
                    conflicts[slot] += 1
                barrier.wait()
        except BaseException as error:  # reported by the test, never lost in a thread
            errors.append(error)
            barrier.abort()
        finally:
            _close(root)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(len(containers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return sum(conflicts), [path for paths in committed for path in paths]


def _containers(kind: str) -> list[tuple[str, ...]]:
    root, site = _open_portal()
    try:
        if kind == "line":
            module = site.data_notebook_module
            for _warm in range(2):  # line numbers are words the catalog already knows
                notebook = module.newContent(portal_type="Data Notebook")
                for _line in range(ROUNDS + 2):
                    _create(notebook, "line", "")
            found = [module.newContent(portal_type="Data Notebook") for _ in range(THREADS)]
        else:
            found = [site[module_id] for module_id in (
                "data_stream_module", "data_array_module", "data_product_module",
                "data_analysis_module")]
        transaction.commit()
        return [container.getPhysicalPath() for container in found]
    finally:
        _close(root)


@pytest.mark.parametrize("kind", ["line", "stream"])
def test_parallel_commits_in_different_containers_rarely_conflict(zope_settings, kind):
    """Notebook lines of different notebooks, documents of different modules: measured
    2 and 3 conflicts in 10 commits (before: 7), bounded at 1 in 3 and 1 in 2 (what is
    left are bucket splits of a young catalog); the catalog exact afterwards."""
    containers = _containers(kind)
    conflicts, committed = _parallel_commits(kind, containers)
    attempts = THREADS * ROUNDS
    bound = attempts // 3 if kind == "line" else attempts // 2
    assert conflicts <= bound, f"{conflicts} conflicts in {attempts} commits"
    root, site = _open_portal()
    try:
        catalog = site.portal_catalog
        for path in containers:
            container = root.unrestrictedTraverse(path)
            inside = "/".join(path) + "/"
            brains = catalog.unrestrictedSearchResults(path=inside)
            stored = {"/".join(doc.getPhysicalPath()) for doc in container.objectValues()}
            direct = {b.getPath() for b in brains  # documents of the container itself, not
                      if b.getPath().startswith(inside)  # lines other tests put in them
                      and "/" not in b.getPath()[len(inside):]}
            assert direct == stored
        for path in committed:
            assert catalog.getrid(path) is not None
        if kind == "stream":
            found = {b.getPath() for b in catalog.unrestrictedSearchResults(
                SearchableText="sensor", path=["/".join(p) for p in containers])}
            assert set(committed) <= found
    finally:
        _close(root)

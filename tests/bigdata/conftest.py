"""The storage core's conformance suite runs on a real ZODB per test, without Zope:
a FileStorage with a blob directory, and a real ZEO server on 127.0.0.1 whose client
keeps a (non-shared) blob cache."""

import pytest
import transaction
import ZEO
import ZODB
from ZEO.ClientStorage import ClientStorage
from ZODB.FileStorage import FileStorage


class Database:
    """Opens, reopens (a 'restart' of the client) and closes one database in a directory."""

    def __init__(self, path, kind: str = "filestorage"):
        self.path = path
        self.kind = kind
        self.db = None
        self._stop_server = None
        self._clients = 0
        if kind == "zeo":
            self.address, self._stop_server = ZEO.server(
                path=str(path / "Data.fs"), blob_dir=str(path / "blobs")
            )
        self.open()

    def open(self):
        """A new ZODB.DB over the storage (a new ZEO client with its own blob cache)."""
        if self.kind == "zeo":
            self._clients += 1
            storage = ClientStorage(
                self.address, blob_dir=str(self.path / f"cache{self._clients}"),
                shared_blob_dir=False, wait_timeout=30,
            )
        else:
            storage = FileStorage(str(self.path / "Data.fs"), blob_dir=str(self.path / "blobs"))
        self.db = ZODB.DB(storage)
        return self.db

    def restart(self):
        transaction.abort()
        self.db.close()
        return self.open()

    def close(self):
        transaction.abort()
        self.db.close()
        if self._stop_server is not None:
            self._stop_server()


@pytest.fixture(params=["filestorage", "zeo"])
def database(tmp_path, request):
    database = Database(tmp_path, request.param)
    yield database
    database.close()


@pytest.fixture
def root(database):
    connection = database.db.open()
    yield connection.root()
    transaction.abort()
    connection.close()

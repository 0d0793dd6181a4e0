"""A real ZODB (FileStorage with a blob directory) per test, without Zope."""

import pytest
import transaction
import ZODB
from ZODB.FileStorage import FileStorage


class Database:
    """Opens, reopens (a 'restart') and closes a FileStorage database in a directory."""

    def __init__(self, path):
        self.path = path
        self.db = None
        self.open()

    def open(self):
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


@pytest.fixture
def database(tmp_path):
    database = Database(tmp_path)
    yield database
    database.close()


@pytest.fixture
def root(database):
    connection = database.db.open()
    yield connection.root()
    transaction.abort()
    connection.close()

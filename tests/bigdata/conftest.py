"""The storage core's conformance suite runs on a real ZODB per test, without Zope:
a FileStorage with a blob directory, and a real ZEO server on 127.0.0.1 whose client
keeps a (non-shared) blob cache."""

import pytest
import transaction
from Products.Wendelin.bigdata.testing import Database


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

"""``newContent``: sequential ids, type checks, properties, concurrency."""

import threading

import pytest
import transaction
import Zope2
from AccessControl import Unauthorized
from Products.Wendelin.errors import PortalTypeError, UnknownPropertyError
from ZODB.POSException import ConflictError


def test_sequential_string_ids(portal):
    module = portal.data_array_module
    first = module.newContent(title="a")
    second = module.newContent(title="b")
    assert int(second.getId()) == int(first.getId()) + 1
    assert isinstance(first.getId(), str)
    assert module[first.getId()].getTitle() == "a"
    assert first.getPortalType() == "Data Array"


def test_explicit_id_and_duplicate(portal):
    module = portal.data_operation_module
    document = module.newContent(id="fft", title="FFT")
    assert module["fft"] is not None and document.getId() == "fft"
    with pytest.raises(Exception, match="fft"):
        module.newContent(id="fft")


def test_wrong_portal_type_is_a_clear_value_error(portal):
    with pytest.raises(ValueError, match="'Data Array'.*allowed: Data Stream"):
        portal.data_stream_module.newContent(portal_type="Data Array")
    with pytest.raises(PortalTypeError):
        portal.image_module.newContent(portal_type="No Such Type")


def test_unknown_property_creates_nothing(portal):
    module = portal.image_module
    before = module.objectCount()
    with pytest.raises(UnknownPropertyError, match="colour"):
        module.newContent(title="x", colour="red")
    assert module.objectCount() == before


def test_notebook_holds_lines(portal):
    notebook = portal.data_notebook_module.newContent(reference="nb-lines", title="NB")
    line = notebook.newContent(notebook_code="1+1", notebook_code_result="2")
    assert line.getPortalType() == "Data Notebook Line"
    assert notebook[line.getId()].notebook_code == "1+1"
    with pytest.raises(ValueError):
        notebook.newContent(portal_type="Data Stream")


def test_auditor_cannot_create(portal, site_users, login):
    login("auditor")
    with pytest.raises(Unauthorized):
        portal.data_stream_module.newContent(title="nope")
    login("author")
    assert portal.data_stream_module.newContent(title="yes").getTitle() == "yes"


def test_concurrent_commits_never_share_an_id(zope_settings):
    """Eight threads, each with its own connection, create and commit with retries."""
    from AccessControl.SecurityManagement import newSecurityManager, noSecurityManager

    ids: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker():
        tm = transaction.TransactionManager()
        connection = Zope2.DB.open(transaction_manager=tm)
        try:
            root = connection.root()["Application"]
            newSecurityManager(None, root.acl_users.getUser("zope").__of__(root.acl_users))
            barrier.wait()
            for _attempt in range(20):
                try:
                    tm.begin()
                    document = root.erp5.data_array_module.newContent(title="concurrent")
                    new_id = document.getId()
                    tm.commit()
                    ids.append(new_id)
                    return
                except ConflictError:
                    tm.abort()
            raise AssertionError("too many conflicts")
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            noSecurityManager()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(ids) == 8 and len(set(ids)) == 8

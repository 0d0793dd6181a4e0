"""The upload's free-disk check counts the file's own size (in-process Zope, real files)."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from Products.Wendelin.analysis.documents import storage_directory
from Products.Wendelin.errors import QuotaExceededError
from Products.Wendelin.ui.upload import store_upload


def spooled(size: int):
    """A temporary file like the one Zope spools a multipart file part to."""
    upload = tempfile.TemporaryFile()
    upload.write(b"\x01" * size)
    upload.seek(0)
    return upload


def test_the_quota_refuses_the_big_file_and_lets_the_small_one_through(portal, monkeypatch):
    """32 MiB less than the free disk must stay free: 64 MiB is refused, 1 KiB is stored."""
    module = portal.data_stream_module
    big, small = spooled(64 * 1024**2), spooled(1024)

    def keep_32_mib_less_than_free() -> None:
        # measured right before each store, after the spooled files took their space:
        # other processes write to this disk too
        usage = shutil.disk_usage(storage_directory(module))
        monkeypatch.setenv("WENDELIN_MIN_FREE_DISK",
                           str((usage.free - 32 * 1024**2) / usage.total))

    keep_32_mib_less_than_free()
    with pytest.raises(QuotaExceededError, match="uploading 'quota-big'"):
        store_upload(module, big, reference="quota-big")
    assert portal.portal_catalog.getResultValue(reference="quota-big") is None
    keep_32_mib_less_than_free()
    stored = store_upload(module, small, reference="quota-small")
    assert stored.size == 1024

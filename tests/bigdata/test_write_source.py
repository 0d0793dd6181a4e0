"""Writes whose source is a file mapping: the source's pages are mapped before each
``pwrite`` piece (so the kernel copies whole pieces), and the bytes stored are exact."""

from __future__ import annotations

import numpy as np
import transaction
import ZODB
from Products.Wendelin.bigdata import ZBigArray
from Products.Wendelin.bigdata import bigfile as bigfile_module
from ZODB.FileStorage import FileStorage


def test_an_array_written_from_a_file_mapping_stores_exact_bytes(tmp_path, monkeypatch):
    source_path = tmp_path / "source.npy"
    values = np.random.default_rng(3).integers(-2**15, 2**15, (20 << 20) // 2, dtype=np.int16)
    np.save(source_path, values)
    mapped_ranges: list[int] = []
    real = bigfile_module._madvise

    def madvise(address, length, advice):
        mapped_ranges.append(length)
        return real(address, length, advice)

    monkeypatch.setattr(bigfile_module, "_madvise", madvise)
    db = ZODB.DB(FileStorage(str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs")))
    try:
        connection = db.open()
        source = np.load(source_path, mmap_mode="r")
        connection.root()["a"] = array = ZBigArray(source.shape, source.dtype)
        array[:] = source
        array.append(source[3:(9 << 20) + 3])  # a source not page-aligned
        transaction.commit()
        expected = np.concatenate([values, values[3:(9 << 20) + 3]])
        assert array[:].tobytes() == expected.tobytes()
        # every piece of at least 1 MiB had its source mapped first, none above 8 MiB
        assert mapped_ranges and max(mapped_ranges) <= (8 << 20) + 4096
        assert sum(mapped_ranges) >= values.nbytes
    finally:
        transaction.abort()
        db.close()

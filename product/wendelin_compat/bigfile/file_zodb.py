"""``wendelin.bigfile.file_zodb``: ZBigFile, blocks in ZODB blobs."""

from Products.Wendelin.bigdata.bigfile import ZBigFile

__all__ = ["ZBigFile"]

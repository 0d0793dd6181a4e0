"""ZBigArray against numpy semantics: the shipped suite (``bigdata.testing``), run on
FileStorage and on ZEO with a blob cache: indexing, assignment, append, resize, dtypes,
orders C and F, persistence, writable views joining the transaction, iterblocks."""

from Products.Wendelin.bigdata import ZBigArray
from Products.Wendelin.bigdata.testing import BigArrayConformance


class TestZBigArray(BigArrayConformance):
    def new(self, shape, dtype, order="C", blksize=None):
        return ZBigArray(shape, dtype, order=order, blksize=blksize or self.blksize)

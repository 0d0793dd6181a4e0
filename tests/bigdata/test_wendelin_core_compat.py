"""Code written for wendelin.core runs unchanged: the shipped suite's
WendelinCoreConformance (the behaviours wendelin.core's ZODB tests check), run against
the shim import paths only, on FileStorage and ZEO."""

from Products.Wendelin.bigdata.testing import WendelinCoreConformance
from wendelin.bigarray import BigArray
from wendelin.bigarray.array_zodb import ZBigArray
from wendelin.bigfile.file_zodb import ZBigFile


class TestWendelinCoreNames(WendelinCoreConformance):
    array_type = ZBigArray
    file_type = ZBigFile
    array_base = BigArray

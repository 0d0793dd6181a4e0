"""``wendelin.bigarray``: ``BigArray`` is the storage core's array class (a ZBigArray)."""

from Products.Wendelin.bigdata.bigarray import ZBigArray

#: wendelin.core's in-RAM-file BigArray has no equivalent here: every array lives in a
#: ZBigFile. The name serves ``isinstance`` checks and construction with a shape and dtype.
BigArray = ZBigArray

__all__ = ["BigArray"]

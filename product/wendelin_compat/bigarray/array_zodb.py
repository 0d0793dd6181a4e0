"""``wendelin.bigarray.array_zodb``: ZBigArray, the persistent array of the storage core."""

from Products.Wendelin.bigdata.bigarray import ZBigArray

__all__ = ["ZBigArray"]

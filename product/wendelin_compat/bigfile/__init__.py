"""``wendelin.bigfile``: ``BigFile`` is the storage core's big-file contract."""

from Products.Wendelin.bigdata.abc import BigFile

__all__ = ["BigFile"]

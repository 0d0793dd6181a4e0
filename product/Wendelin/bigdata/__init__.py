"""Wendelin's storage core: big files and big arrays on ZODB blobs.

Imports only ZODB, persistent, BTrees, transaction and numpy, so any ZODB program
can use it without Zope.
"""

from .abc import BigFile
from .bigarray import ZBigArray
from .bigfile import DEFAULT_BLKSIZE, ZBigFile
from .budget import get_memory_budget, memory_budget
from .errors import BigArrayError, BigArrayTypeError, BigDataError, BigFileError, OutOfCoreError
from .reader import BigFileReader

__all__ = [
    "DEFAULT_BLKSIZE",
    "BigArrayError",
    "BigArrayTypeError",
    "BigDataError",
    "BigFile",
    "BigFileError",
    "BigFileReader",
    "OutOfCoreError",
    "ZBigArray",
    "ZBigFile",
    "get_memory_budget",
    "memory_budget",
]

"""Errors of the storage core; each message names the bad value."""


class BigDataError(Exception):
    """Base class of the storage core's errors."""


class BigFileError(BigDataError, ValueError):
    """A bad offset, size or argument given to a big file."""


class BigArrayError(BigDataError, ValueError):
    """A bad shape, dtype, key or value given to a big array."""


class BigArrayTypeError(BigArrayError, TypeError):
    """A dtype a big array cannot hold (Python objects), or that is no dtype at all."""


class OutOfCoreError(BigDataError, MemoryError):
    """An operation would copy more into RAM than the memory budget allows."""

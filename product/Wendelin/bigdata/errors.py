"""Errors of the storage core; each message names the bad value."""


class BigDataError(Exception):
    """Base class of the storage core's errors."""


class BigFileError(BigDataError, ValueError):
    """A bad offset, size or argument given to a big file."""


class BigArrayError(BigDataError, ValueError):
    """A bad shape, dtype, key or value given to a big array."""


class OutOfCoreError(BigDataError, MemoryError):
    """An operation would copy more into RAM than the memory budget allows."""

"""``wendelin``: the import paths of wendelin.core, so code written for Wendelin runs unchanged.

``wendelin.bigarray.array_zodb.ZBigArray`` and ``wendelin.bigfile.file_zodb.ZBigFile``
are the storage core's classes (``Products.Wendelin.bigdata``), not copies of them.
"""

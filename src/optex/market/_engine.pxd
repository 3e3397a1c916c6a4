# Compiled layout of _engine.py (see _book.pxd).

from optex.market._quotes cimport Quoter

cdef class MatchingEngine(Quoter):
    cdef public dict _table

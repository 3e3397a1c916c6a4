# Compiled layout of _mmp.py (see _book.pxd).

cdef class MmpState:
    cdef public object delta_limit, frozen_ms, frozen_until_ms, interval_ms, quantity_limit
    cdef public object sum_delta, sum_quantity, window
    cdef public bint frozen

# Compiled layout of _lifecycle.py (see _book.pxd): the state table lookup as a C call.

cpdef object advance(object state, object trigger)

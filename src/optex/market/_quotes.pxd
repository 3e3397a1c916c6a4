# Compiled layout of _quotes.py (see _book.pxd).

cimport cython

from optex.market._checks cimport check_band, check_expiry, check_price, check_quantity
from optex.market._lifecycle cimport advance
from optex.market._book cimport Book, Level, Order
from optex.market._orders cimport OrderDesk

cdef class Quoter(OrderDesk):
    @cython.locals(book=Book)
    cdef _mass_quote(self, object cmd, list events)

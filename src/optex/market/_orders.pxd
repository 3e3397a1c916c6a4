# Compiled layout of _orders.py (see _book.pxd).

cimport cython

from optex.market._checks cimport check_band, check_new_order, check_price, check_quantity
from optex.market._lifecycle cimport advance
from optex.market._book cimport Book, Level, Order
from optex.market._matching cimport Matcher

cpdef bint _well_typed(tuple fields)

cdef class OrderDesk(Matcher):
    @cython.locals(book=Book, order=Order, is_buy=bint, triggered=bint, fields=tuple)
    cdef _new_order(self, object cmd, list events)

    @cython.locals(order=Order)
    cdef _lookup(self, object cmd)

    @cython.locals(order=Order)
    cdef _cancel_order(self, object cmd, list events)

    @cython.locals(order=Order, o=Order)
    cdef _mass_cancel(self, object cmd, list events)

    @cython.locals(order=Order, level=Level, book=Book, opposite=list, is_buy=bint,
                   untriggered=bint)
    cdef _amend_order(self, object cmd, list events)

    cdef _check_amend(self, object cmd, Order order, Book book)

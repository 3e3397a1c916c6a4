# Compiled layout of _matching.py (see _book.pxd).

cimport cython

from optex.market._base cimport EngineBase
from optex.market._lifecycle cimport advance
from optex.market._book cimport Book, Level, Order

cdef class Matcher(EngineBase):
    @cython.locals(keys=list)
    cdef _execute(self, Book book, Order order, list events, object ts)

    @cython.locals(keys=list, levels=dict, positions=dict, level=Level, maker=Order,
                   following=Order, is_buy=bint, check_self=bint)
    cdef _match(self, Book book, Order taker, list events, object ts)

    @cython.locals(following=Order)
    cdef _cancel_head(self, Level level, Order maker, object reason, list events, object ts)

    @cython.locals(keys=list, levels=dict, maker=Order, positions=dict)
    cdef _fillable(self, Book book, Order taker)

    cdef _settle(self, Book book, list events, object ts)

    @cython.locals(order=Order, o=Order)
    cdef _apply_mmp(self, list events, object ts)

    @cython.locals(fired=Order, order=Order)
    cdef _run_triggers(self, Book book, list events, object ts)

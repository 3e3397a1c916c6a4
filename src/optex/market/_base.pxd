# Compiled layout of _base.py (see _book.pxd): the engine's data as typed C fields, and the
# bookkeeping every command shares as C-level methods.

cimport cython

from optex.market._lifecycle cimport advance
from optex.market._book cimport Book, Level, Order

cdef class EngineBase:
    cdef public dict _books, _orders, _client_ids, _stp, _mmp, _quotes
    cdef public list _deadlines, _mmp_hits
    cdef public object _next_deadline, _now, _next_order_id, _next_trade_id, _pre_trade

    cdef _register(self, Order order)
    cdef _forget(self, Order order)
    cdef _push_deadline(self, tuple entry)
    cdef _finish(self, Order order, object reason, list events, object ts)

    @cython.locals(book=Book)
    cdef _remove(self, Order order, object reason, list events, object ts)

    cdef _amended(self, Order order, object ts, bint kept_priority)

    @cython.locals(order=Order, o=Order, book=Book, deadlines=list)
    cdef _expire(self, object ts, list events)

    cdef _check_group(self, object account, object group, object ts)
    cdef _reduce_only_cap(self, Book book, object account, bint is_buy, object quantity)
    cdef _post_only_price(self, Book book, bint is_buy, object price, object mode)

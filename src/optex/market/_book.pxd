# Compiled layout of _book.py (Cython "augmenting" declarations): the orders, levels and books
# become C structs with typed links, so the matching loop touches fields without a dictionary or
# descriptor lookup. The .py file stays the one source of the logic; these declarations only
# give it types, and the locals named here must hold what they say (or None).

cimport cython

# Free lists: the engine makes and drops orders and levels all the time; reusing their memory
# saves the allocator round trip.
@cython.freelist(1024)
cdef class Order:
    cdef public object order_id, account, instrument, side, order_type, price, quantity, tif
    cdef public object ts_ms, key, remaining, filled, cancelled, display, visible
    cdef public object client_order_id, expire_ts_ms, post_only, stp, mmp_group, trigger
    cdef public object trigger_price, state
    cdef public bint is_buy, reduce_only, quote
    cdef public Order prev, next
    cdef public Level level
    cpdef set_price(self, object price)

@cython.freelist(1024)
cdef class Level:
    cdef public object price, key, total
    cdef public Order head, tail

cdef class Book:
    cdef public object instrument, name, mark, index, last, band_bps, band_min, delta_ppm
    cdef public object tick_size, lot_size, min_lots, max_lots, expiry_ms
    cdef public list bid_keys, ask_keys
    cdef public dict bid_levels, ask_levels, stops, positions

    @cython.locals(level=Level, tail=Order, levels=dict, keys=list)
    cpdef object rest(self, Order order)

    @cython.locals(level=Level, prev=Order, nxt=Order)
    cpdef object unlink(self, Order order)

    @cython.locals(keys=list)
    cpdef object drop_level(self, Level level, bint is_buy)

    cpdef object best_bid(self)
    cpdef object best_ask(self)

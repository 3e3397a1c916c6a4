# Compiled layout of _checks.py (see _book.pxd): the per-order checks as C calls.

from optex.market._book cimport Book

cpdef object bad_int(object value, object name)
cpdef object check_price(object value, Book book, object name=*)
cpdef object check_quantity(object value, Book book, object name=*)
cpdef object check_band(object price, Book book)
cpdef object check_expiry(object value, object now, object name=*)
cpdef object check_new_order(object cmd, Book book, object now)

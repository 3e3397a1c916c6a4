"""The market's reason codes (2000-2999): why an order was rejected, in words a person reads.

Every :class:`~optex.market.OrderRejected` carries one of these codes (or a code of the pre-trade
check that plugged in, such as the risk engine's), its snake_case name and a message.
"""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class MarketReason(ReasonCode):
    """Reason codes of ``optex.market`` (2000-2999)."""

    UNKNOWN_INSTRUMENT = 2000, "the instrument is not listed on this engine"
    INSTRUMENT_EXPIRED = 2001, "the instrument has expired and no longer trades"
    DUPLICATE_INSTRUMENT = 2002, "an instrument with this name is already listed"
    NOT_AN_INTEGER = 2010, "prices, quantities and times are whole numbers of base units"
    NOT_POSITIVE = 2011, "the number must be greater than zero"
    PRICE_OFF_TICK = 2012, "the price is not a multiple of the instrument's tick size"
    QUANTITY_OFF_LOT = 2013, "the quantity is not a multiple of the instrument's lot size"
    BELOW_MIN_SIZE = 2014, "the quantity is below the instrument's minimum order size"
    ABOVE_MAX_SIZE = 2015, "the quantity is above the instrument's maximum order size"
    PRICE_OUTSIDE_BAND = 2016, "the price is too far from the mark price"
    PRICE_REQUIRED = 2017, "this order type needs a limit price"
    TRIGGER_PRICE_REQUIRED = 2018, "stop and take-profit orders need a trigger price"
    TRIGGER_ALREADY_REACHED = 2019, "the trigger price has already been reached"
    EXPIRY_TIME_REQUIRED = 2020, "a good-til-date order needs an expiry time"
    EXPIRY_TIME_PASSED = 2021, "the order's expiry time is not in the future"
    INVALID_DISPLAY_QUANTITY = 2022, "the displayed quantity must be on the lot grid and positive"
    INVALID_COMBINATION = 2023, "these order options cannot be used together"
    STALE_TIMESTAMP = 2024, "the command's time is earlier than a command already processed"
    INVALID_FIELD = 2025, "a field has a value of the wrong type or outside its choices"
    DUPLICATE_CLIENT_ORDER_ID = 2030, "an open order of this account already has this client id"
    UNKNOWN_ORDER = 2031, "no open order of this account has this id"
    NOTHING_TO_AMEND = 2032, "the amendment changes nothing"
    AMEND_BELOW_FILLED = 2033, "the new quantity is not above the quantity already filled"
    POST_ONLY_WOULD_CROSS = 2040, "the post-only order would have traded on arrival"
    REDUCE_ONLY_WOULD_INCREASE = 2041, "the reduce-only order would not reduce the position"
    MMP_FROZEN = 2050, "market maker protection has frozen quoting for this group"
    MMP_GROUP_UNKNOWN = 2051, "no market maker protection is configured for this group"
    INVALID_MMP_CONFIG = 2052, "market maker protection limits must be positive whole numbers"
    INVALID_MASS_QUOTE = 2053, "the mass quote lists an instrument twice or crosses itself"


register_reasons(MarketReason, range(2000, 3000))

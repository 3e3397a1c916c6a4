"""The risk engine's reason codes (3000-3999): why an order or a request was refused.

A pre-trade reject carries :attr:`RiskReason.INSUFFICIENT_MARGIN` and, in its details, by how many
settlement base units the account is short, so that a client can size the order it can afford.
"""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class RiskReason(ReasonCode):
    """Reason codes of ``optex.risk`` (3000-3999)."""

    INSUFFICIENT_MARGIN = (
        3000,
        "the account's initial margin after this order would exceed its equity",
    )
    INSUFFICIENT_BALANCE = 3001, "the account's balance does not cover this withdrawal or debit"
    UNKNOWN_ACCOUNT = 3002, "the account is not known to the risk engine"
    UNKNOWN_INSTRUMENT = 3003, "the instrument is not known to the risk engine"
    NO_MARK_PRICE = 3004, "there is no mark price for this instrument yet"
    NO_INDEX_PRICE = 3010, "too few fresh, agreeing price sources to form an index"
    NO_SETTLEMENT_PRICE = 3011, "too few index samples in the settlement window"
    INVALID_PRICE = 3012, "a price must be a positive whole number of settlement base units"
    INVALID_QUANTITY = 3013, "a quantity must be a non-zero whole number of underlying base units"
    INVALID_AMOUNT = 3014, "an amount must be a positive whole number of settlement base units"
    INVALID_PARAMETERS = 3020, "the risk parameters are not valid"
    UNKNOWN_UNDERLYING = 3021, "no risk parameters are configured for this underlying"
    NOT_EXPIRED = 3030, "the instrument has not expired yet"
    NOT_PERPETUAL = 3031, "funding applies to perpetuals only"
    FUNDING_TOO_EARLY = 3032, "the next funding time has not been reached"
    ALREADY_SETTLED = 3033, "the instrument is already settled"
    FUNDING_REPLAYED = 3034, "a funding at this time or later was already applied"
    SURFACE_FIT_FAILED = 3040, "the volatility surface could not be fitted to these quotes"
    NOT_LIQUIDATABLE = 3050, "the account's equity covers its maintenance margin"


register_reasons(RiskReason, range(3000, 4000))

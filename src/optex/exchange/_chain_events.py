"""What the chain decided, applied to the engine: expiry settlement and perpetual funding.

The chain is authoritative for both. Its settlement price is the first oracle index price voted
at or after expiry; its funding is computed from its own positions at its own block time. The
engine never settles or funds on its own prices: the settlement process's chain watcher reads
each decided block's events and journals :class:`~optex.exchange.SettleExpiry` and
:class:`~optex.exchange.PayFunding`, which land here.

* **Settlement** runs the engine's positions through the one shared rule
  (``optex.risk.settle_expiry``, the chain's ``settlement_credit``: ``floor(q x value) - cost``)
  at the chain's price. Both sides stop trading an instrument at its expiry, so when every
  fill before expiry reached the chain the positions are the same and the credits equal the
  chain's to the base unit. Where they are not (a fill the ledger refused), the engine still
  closes its own positions (an expired position must not linger in margin) and names those
  accounts in ``ExpirySettled.mismatched`` for an operator: crediting the chain's amount on a
  position the engine holds differently would create or destroy money in the engine's books.
* **Funding** applies the chain's amount per account (``optex.risk.apply_chain_funding``): by
  the time a block is read the engine's positions have moved on, so a rate applied to them
  could not agree with the chain.

Each applies once: a settled instrument refuses a second settlement (``ALREADY_SETTLED``) and a
funding at or before the instrument's last one is a replay (``FUNDING_REPLAYED``), whatever
idempotency key carried it. Every refusal changes nothing.
"""

from __future__ import annotations

from optex.core import InvalidInput, NotFound
from optex.exchange._commands import (
    ChainCredit,
    Event,
    ExpirySettled,
    FundingPaid,
    PayFunding,
    SettleExpiry,
)
from optex.exchange._reasons import ExchangeReason
from optex.risk import (
    RiskEngine,
    RiskReason,
    apply_chain_funding,
    settle_expiry,
    settlement_credits,
)


def apply_chain_event(risk: RiskEngine, command: SettleExpiry | PayFunding) -> list[Event]:
    """Apply a chain settlement or funding to the risk engine's ledger (see the module)."""
    if isinstance(command, SettleExpiry):
        return _settle(risk, command)
    return _fund(risk, command)


def _check_block(command: SettleExpiry | PayFunding) -> None:
    for name in ("height", "block_ts_ms"):
        value = getattr(command, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidInput(
                ExchangeReason.MALFORMED_COMMAND, f"{name} must be a positive integer"
            )


def _credits(risk: RiskEngine, credits: tuple[ChainCredit, ...]) -> dict[str, tuple[int, int]]:
    """The chain's ``(quantity, amount)`` by account; every account must be the engine's."""
    found: dict[str, tuple[int, int]] = {}
    for credit in credits:
        for value in (credit.quantity, credit.amount):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(
                    ExchangeReason.MALFORMED_COMMAND, "quantities and amounts are integers"
                )
        if credit.account in found:
            raise InvalidInput(
                ExchangeReason.MALFORMED_COMMAND, f"{credit.account!r} is credited twice"
            )
        if credit.account not in risk.ledger.accounts:
            raise NotFound(
                RiskReason.UNKNOWN_ACCOUNT,
                f"the chain credits {credit.account!r}, which the engine does not hold",
            )
        found[credit.account] = (credit.quantity, credit.amount)
    return found


def _settle(risk: RiskEngine, command: SettleExpiry) -> list[Event]:
    _check_block(command)
    chain = _credits(risk, command.credits)
    ledger = risk.ledger
    ours = settlement_credits(
        ledger, command.instrument, price=command.price, ts_ms=command.block_ts_ms
    )
    mismatched = tuple(sorted(a for a in ours.keys() | chain.keys() if ours.get(a) != chain.get(a)))
    settle_expiry(ledger, command.instrument, price=command.price, ts_ms=command.block_ts_ms)
    return [
        ExpirySettled(
            command.ts_ms, command.instrument, command.price, command.height, len(ours), mismatched
        )
    ]


def _fund(risk: RiskEngine, command: PayFunding) -> list[Event]:
    _check_block(command)
    chain = _credits(risk, command.credits)
    amounts = {account: amount for account, (_, amount) in chain.items()}
    apply_chain_funding(risk.ledger, command.instrument, amounts, ts_ms=command.block_ts_ms)
    return [
        FundingPaid(
            command.ts_ms, command.instrument, command.rate_ppm, command.height, len(amounts)
        )
    ]

"""A decided block's begin-step events as engine commands: expiry settlement and funding.

The ledger settles and funds at the start of a block (``optex.chain``'s ``_settle``) and says
so in the block's events, in this order for each instrument: one ``settlement_credit`` (or
``funding_credit``) per holder, with the account, the quantity it held and the amount the chain
credited it, then one ``settled`` (instrument, price) or ``funding`` (instrument, rate). This
module turns each group into one engine command with the chain's numbers and an idempotency
key that names what it is:

* ``settled`` → :class:`~optex.exchange.SettleExpiry`, key ``chain:settle:<instrument>``: an
  instrument settles once in its life, so even a second event for it (there is none) would be
  a duplicate;
* ``funding`` → :class:`~optex.exchange.PayFunding`, key ``chain:funding:<instrument>:<height>``.

Events it does not feed: ``withdrawn`` (a time-locked withdrawal paid out; the engine debited
it when the ``withdraw`` transaction applied), and the stake asset's ``slashed``, ``jailed``,
``unbonded`` and ``rewards`` (the engine holds only its settlement asset). Events come from
the chain this process trusts, so one that does not parse is a broken invariant, not input to
skip: it raises and stops the watcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from optex.chain import Event
from optex.core import InvariantViolation
from optex.exchange import ChainCredit, PayFunding, SettleExpiry
from optex.settlement._chain import DecidedBlock

SETTLEMENT_CREDIT: Final = "settlement_credit"
FUNDING_CREDIT: Final = "funding_credit"
SETTLED: Final = "settled"
FUNDING: Final = "funding"
FUNDING_SKIPPED: Final = "funding_skipped"


def settle_key(instrument: str) -> str:
    """The engine idempotency key of an instrument's expiry settlement."""
    return f"chain:settle:{instrument}"


def funding_key(instrument: str, height: int) -> str:
    """The engine idempotency key of the funding a block paid on a perpetual."""
    return f"chain:funding:{instrument}:{height}"


@dataclass(frozen=True)
class Fed:
    """One engine command for the block and the idempotency key to submit it under."""

    command: SettleExpiry | PayFunding
    key: str


def _integer(event: Event, name: str) -> int:
    try:
        return int(event.attributes[name])
    except (KeyError, ValueError):
        raise InvariantViolation(
            f"the chain's {event.kind} event has no integer {name}: {event.attributes}"
        ) from None


def _text(event: Event, name: str) -> str:
    value = event.attributes.get(name)
    if not value:
        raise InvariantViolation(
            f"the chain's {event.kind} event has no {name}: {event.attributes}"
        )
    return value


def block_commands(block: DecidedBlock) -> list[Fed]:
    """The settlements and fundings of ``block``, in the order the ledger applied them."""
    pending: dict[tuple[str, str], list[ChainCredit]] = {}
    fed: list[Fed] = []
    for event in block.events:
        if event.kind in (SETTLEMENT_CREDIT, FUNDING_CREDIT):
            credit = ChainCredit(
                _text(event, "account"), _integer(event, "quantity"), _integer(event, "amount")
            )
            pending.setdefault((event.kind, _text(event, "instrument")), []).append(credit)
        elif event.kind == SETTLED:
            instrument = _text(event, "instrument")
            credits = tuple(pending.pop((SETTLEMENT_CREDIT, instrument), ()))
            command = SettleExpiry(
                0, instrument, _integer(event, "price"), block.height, block.ts_ms, credits
            )
            fed.append(Fed(command, settle_key(instrument)))
        elif event.kind == FUNDING:
            instrument = _text(event, "instrument")
            credits = tuple(pending.pop((FUNDING_CREDIT, instrument), ()))
            funding = PayFunding(
                0, instrument, _integer(event, "rate_ppm"), block.height, block.ts_ms, credits
            )
            fed.append(Fed(funding, funding_key(instrument, block.height)))
    if pending:
        raise InvariantViolation(
            f"block {block.height} credits {sorted(pending)} without settling or funding them"
        )
    return fed

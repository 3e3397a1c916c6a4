"""Expiry settlement, perpetual funding and time-locked withdrawals, run at the start of a block.

An expired instrument settles at the first oracle index price voted at or after its expiry:
every position receives ``quantity x value`` (the payoff for options, the price for futures)
less its cost, each rounded down against its holder; what rounding leaves goes to the fee pool,
so the total is conserved exactly. Funding moves ``quantity x mark x rate`` between perpetual
positions every interval (the rate from the voted mark and index), rounded the same way.

Each holder's credit is an event of its own (``settlement_credit``, ``funding_credit``: account,
instrument, quantity held, amount), followed by the instrument's ``settled`` or ``funding``
event: the exchange's engine applies the chain's amounts from them.
"""

from __future__ import annotations

import msgspec

from optex.chain._context import Context, with_balance
from optex.chain._records import (
    ACCOUNT,
    OPEN_INTEREST,
    SETTLED,
    WITHDRAWALS,
    Account,
    OpenInterest,
    Price,
    WithdrawalQueue,
)
from optex.chain._rules import (
    expiry_value,
    funding_credit,
    funding_rate,
    settlement_credit,
)
from optex.core import InstrumentKind, InvariantViolation, asset


def release_withdrawals(ctx: Context) -> None:
    """Pay out time-locked withdrawals whose lock has passed."""
    queue = ctx.view.get(WITHDRAWALS)
    if queue is None or not queue.entries or queue.entries[0].release_ms > ctx.now_ms:
        return
    due = [e for e in queue.entries if e.release_ms <= ctx.now_ms]
    rest = tuple(e for e in queue.entries if e.release_ms > ctx.now_ms)
    ctx.view.put(WITHDRAWALS, WithdrawalQueue(rest))
    for entry in due:
        ctx.add_supply(entry.asset, -entry.amount)
        ctx.emit(
            "withdrawn",
            account=entry.account,
            asset=entry.asset,
            amount=entry.amount,
            to=entry.address,
        )


def _holders(ctx: Context, name: str) -> list[tuple[str, Account]]:
    found = []
    for key in ctx.view.keys_with_prefix(ACCOUNT):
        account = ctx.view.get(key)
        if name in account.positions:
            found.append((key[len(ACCOUNT) :], account))
    return found


def _pay(
    ctx: Context,
    name: str,
    settle: str,
    credits: list[tuple[str, Account, int, int]],
    *,
    kind: str,
    realized: int = 0,
) -> None:
    """Credit each holder, say so in a ``kind`` event per holder, and give the rounding dust to
    the fee pool.

    ``credits`` are ``(account, record to write, credit, quantity held)``. ``realized`` is the sum
    of the entry costs the credits already subtract (futures being settled): those leave the
    state's cost basis as they enter the balances, so they are no part of the dust. Open
    futures' costs need not sum to zero (a position closed at a profit realized its cost early),
    so counting them as dust would create or destroy money.

    The per-holder events are what the exchange's engine applies (``optex.settlement``'s chain
    watcher): the chain's own amounts, so that the engine's balances equal the chain's.
    """
    dust = -(sum(credit for _, _, credit, _ in credits) + realized)
    if dust < 0:
        raise InvariantViolation(f"settling {name} created {-dust} base units")
    for account_name, account, credit, quantity in credits:
        ctx.put_account(account_name, with_balance(account, settle, credit, allow_negative=True))
        ctx.emit(kind, account=account_name, instrument=name, quantity=quantity, amount=credit)
    if dust:
        ctx.pool_add(settle, dust)


def settle_expired(ctx: Context) -> None:
    """Settle every open instrument that has expired and has a settlement price."""
    record = ctx.view.get(OPEN_INTEREST)
    if record is None:
        return
    remaining = dict(record.instruments)
    for name in sorted(record.instruments):
        instrument = ctx.instrument(name)
        if not instrument.is_expired(ctx.now_ms) or instrument.expiry_ms is None:
            continue
        index = ctx.price(instrument.underlying)
        if index is None or index.ts_ms < instrument.expiry_ms:
            continue
        value = expiry_value(instrument, index.price)
        scale = asset(instrument.underlying).scale
        credits = []
        realized = 0
        for account_name, account in _holders(ctx, name):
            position = account.positions[name]
            credit = settlement_credit(position.quantity, value, position.cost, scale)
            positions = {k: v for k, v in account.positions.items() if k != name}
            closed = msgspec.structs.replace(account, positions=positions)
            credits.append((account_name, closed, credit, position.quantity))
            realized += position.cost
        _pay(ctx, name, instrument.settlement, credits, kind="settlement_credit", realized=realized)
        del remaining[name]
        ctx.view.put(SETTLED + name, Price(index.price, ctx.now_ms))
        ctx.emit("settled", instrument=name, price=index.price, positions=len(credits))
    ctx.view.put(OPEN_INTEREST, OpenInterest(remaining))


def pay_funding(ctx: Context) -> None:
    """Move one interval's funding between the holders of each open perpetual.

    Only at live prices: when the newest vote in the mark or the index is older than a vote may
    be (``oracle.max_age_ms``), the validators have stopped voting it, and a premium between
    two stale prices would go on charging one side every interval for a market that may have
    moved. That interval is skipped, and a ``funding_skipped`` event names the stale prices.
    """
    record = ctx.view.get(OPEN_INTEREST)
    if record is None:
        return
    oldest = ctx.now_ms - ctx.genesis.oracle.max_age_ms
    for name in sorted(record.instruments):
        instrument = ctx.instrument(name)
        if instrument.kind is not InstrumentKind.PERPETUAL:
            continue
        mark, index = ctx.price(name), ctx.price(instrument.underlying)
        if mark is None or index is None:
            continue
        stale = [p for p, at in ((name, mark), (instrument.underlying, index)) if at.ts_ms < oldest]
        if stale:
            ctx.emit("funding_skipped", instrument=name, stale_prices=",".join(stale))
            continue
        rate = funding_rate(mark.price, index.price, ctx.genesis.funding)
        if rate == 0:
            continue
        scale = asset(instrument.underlying).scale
        credits = []
        for account_name, account in _holders(ctx, name):
            quantity = account.positions[name].quantity
            credit = funding_credit(quantity, mark.price, rate, scale)
            credits.append((account_name, account, credit, quantity))
        _pay(ctx, name, instrument.settlement, credits, kind="funding_credit")
        ctx.emit(
            "funding",
            instrument=name,
            rate_ppm=rate,
            mark=mark.price,
            index=index.price,
            positions=len(credits),
        )

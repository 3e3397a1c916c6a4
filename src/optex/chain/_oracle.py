"""Oracle prices: active validators vote, the ledger takes the stake-weighted median.

A vote stays valid for ``max_age_ms``. At the end of each block the price of a symbol is the
lower weighted median of the fresh votes of the active set, provided those votes carry more
than ``quorum_ppm`` of the active power; otherwise the last price stands. The median means that
validators holding less than half of the voting stake cannot move the price outside the range
of honest votes.
"""

from __future__ import annotations

from typing import Final

from optex.chain._context import Context
from optex.chain._genesis import MAX_PPM
from optex.chain._reasons import ChainReason
from optex.chain._records import PRICE, Price, PriceVote, ValidatorSetRecord, vote_key
from optex.chain._tx import PriceVote as PriceVoteTx
from optex.chain.consensus import address_of
from optex.core import Forbidden, InvalidInput, NotFound

_I64: Final = 2**63 - 1


def vote(ctx: Context, body: PriceVoteTx, signer: bytes, active: ValidatorSetRecord) -> None:
    """Record an active validator's prices."""
    address = address_of(signer)
    if all(m.address != address for m in active.members):
        raise Forbidden(ChainReason.NOT_ACTIVE, validator=address.hex())
    if not body.prices:
        raise InvalidInput(ChainReason.MALFORMED_TX, "a vote has at least one price")
    symbols = ctx.genesis.oracle.symbols
    for symbol, price in sorted(body.prices.items()):
        if symbol not in symbols:
            raise NotFound(ChainReason.UNKNOWN_ASSET, f"{symbol!r} is not an oracle symbol")
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= _I64:
            raise InvalidInput(ChainReason.INVALID_PRICE, symbol=symbol)
        ctx.view.put(vote_key(symbol, address), PriceVote(price, ctx.now_ms))


def weighted_median(votes: list[tuple[int, int]]) -> int:
    """The lower weighted median of ``(price, weight)`` pairs (the smallest price at which the
    cumulative weight reaches half of the total)."""
    total = sum(weight for _, weight in votes)
    running = 0
    for price, weight in sorted(votes):
        running += weight
        if 2 * running >= total:
            return price
    raise ValueError("no votes")


def aggregate(ctx: Context, active: ValidatorSetRecord) -> None:
    """Update each symbol's price from the fresh votes of the active set."""
    params = ctx.genesis.oracle
    total = active.total_power
    oldest = ctx.now_ms - params.max_age_ms
    for symbol in params.symbols:
        votes: list[tuple[int, int]] = []
        newest = 0
        for member in active.members:
            record = ctx.view.get(vote_key(symbol, member.address))
            if record is not None and record.ts_ms >= oldest:
                votes.append((record.price, member.power))
                newest = max(newest, record.ts_ms)
        voted = sum(w for _, w in votes)
        if not votes or voted * MAX_PPM <= total * params.quorum_ppm:
            continue
        price = Price(weighted_median(votes), newest)
        if ctx.view.get(PRICE + symbol) != price:
            ctx.view.put(PRICE + symbol, price)

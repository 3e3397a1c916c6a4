"""Expiry settlement and funding say what they paid each holder, and settle futures exactly.

The per-holder events are what the exchange's engine applies; a future's open costs need not
sum to zero (a position closed at a profit realized its cost early), which settlement must not
mistake for rounding dust.
"""

from __future__ import annotations

from datetime import date

import pytest

from optex.chain import BlockResult, PriceVote, TradeBatch
from optex.core import expiry_ms
from optex.crypto import Side
from tests.chain.kit import OPERATOR, PERP, USDC, Chain, make_genesis, validator_key

FUTURE = "BTC-26MAR27"
BTC_100K = 100_000_000_000
CENT_BTC = 1_000_000


def quiet_chain() -> Chain:
    """A chain whose fee pool is not paid out as rewards while a test watches it."""
    return Chain(make_genesis(epoch_blocks=1_000_000))


def trade(chain: Chain, buyer: str, seller: str, price: int, quantity: int, *, name: str) -> None:
    sell = chain.order(seller, Side.SELL, price, quantity, instrument=name)
    buy = chain.order(buyer, Side.BUY, price, quantity, instrument=name)
    result = chain.run(chain.sign(OPERATOR, TradeBatch, fills=(chain.fill(sell, buy),)))
    assert result.txs[0].ok, result.txs[0].message


def vote(chain: Chain, prices: dict[str, int]) -> None:
    chain.run(*(chain.sign(validator_key(i), PriceVote, prices=prices) for i in range(3)))


def balances(chain: Chain, *accounts: str) -> dict[str, int]:
    found = {}
    for name in accounts:
        record = chain.ledger.account(name)
        assert record is not None
        found[name] = record.balances.get(USDC, 0)
    return found


def fee_pool(chain: Chain) -> int:
    pool = chain.ledger.get("pool/fees")
    return 0 if pool is None else pool.amounts.get(USDC, 0)


def settle_future(chain: Chain, price: int) -> BlockResult:
    chain.block(step_ms=expiry_ms(date(2027, 3, 26)) - chain.now + 1)
    vote(chain, {"BTC": price})
    return chain.block()


@pytest.mark.parametrize(
    ("first", "second"),
    [(BTC_100K, 110_000_000_000), (110_000_000_000, BTC_100K)],
    ids=["costs-sum-positive", "costs-sum-negative"],
)
def test_a_future_whose_open_costs_do_not_net_out_settles_without_creating_money(
    first: int, second: int
) -> None:
    chain = quiet_chain()
    chain.run(*(chain.register(a) for a in ("alice", "bob", "carol")))
    trade(chain, "alice", "bob", first, CENT_BTC, name=FUTURE)
    trade(chain, "carol", "alice", second, CENT_BTC, name=FUTURE)  # alice closes: her cost realized
    before = balances(chain, "alice", "bob", "carol")
    pool_before = fee_pool(chain)

    result = settle_future(chain, 120_000_000_000)

    after = balances(chain, "alice", "bob", "carol")
    # bob sold 0.01 BTC at `first`, carol bought at `second`; both settle at 120,000.
    assert after["bob"] - before["bob"] == (first - 120_000_000_000) // 100
    assert after["carol"] - before["carol"] == (120_000_000_000 - second) // 100
    assert after["alice"] == before["alice"]
    assert fee_pool(chain) == pool_before  # the prices are exact: no dust
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)
    assert [e.kind for e in result.events if e.kind != "rewards"] == [
        "settlement_credit",
        "settlement_credit",
        "settled",
    ]


def test_each_holder_gets_a_settlement_credit_event_equal_to_its_balance_change() -> None:
    chain = quiet_chain()
    chain.run(*(chain.register(a) for a in ("alice", "bob", "carol")))
    trade(chain, "alice", "bob", BTC_100K, 3 * CENT_BTC, name=FUTURE)
    trade(chain, "carol", "bob", BTC_100K, CENT_BTC, name=FUTURE)
    before = balances(chain, "alice", "bob", "carol")
    pool_before = fee_pool(chain)

    # 100,000.000001 per BTC does not divide evenly: each credit is rounded down.
    result = settle_future(chain, BTC_100K + 1)

    after = balances(chain, "alice", "bob", "carol")
    credits = {
        e.attributes["account"]: (int(e.attributes["quantity"]), int(e.attributes["amount"]))
        for e in result.events
        if e.kind == "settlement_credit"
    }
    assert credits == {
        "alice": (3 * CENT_BTC, after["alice"] - before["alice"]),
        "bob": (-4 * CENT_BTC, after["bob"] - before["bob"]),
        "carol": (CENT_BTC, after["carol"] - before["carol"]),
    }
    dust = fee_pool(chain) - pool_before
    assert dust == -sum(amount for _, amount in credits.values()) > 0
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)
    settled = [e for e in result.events if e.kind == "settled"]
    assert settled[0].attributes == {
        "instrument": FUTURE,
        "price": str(BTC_100K + 1),
        "positions": "3",
    }


def test_each_holder_gets_a_funding_credit_event_equal_to_its_balance_change() -> None:
    chain = quiet_chain()
    chain.run(*(chain.register(a) for a in ("alice", "bob", "carol")))
    trade(chain, "alice", "bob", BTC_100K, 2 * CENT_BTC, name=PERP)
    trade(chain, "alice", "carol", BTC_100K, CENT_BTC, name=PERP)
    chain.block(step_ms=8 * 3_600_000 - 30_000)  # funding needs prices voted within a minute
    vote(chain, {"BTC": BTC_100K, PERP: 100_333_333_333})
    before = balances(chain, "alice", "bob", "carol")

    result = chain.block(step_ms=30_000)

    after = balances(chain, "alice", "bob", "carol")
    credits = {
        e.attributes["account"]: int(e.attributes["amount"])
        for e in result.events
        if e.kind == "funding_credit"
    }
    assert credits == {name: after[name] - before[name] for name in after}
    assert credits["alice"] < 0 < credits["bob"]  # the mark is above the index: longs pay
    funding = next(e for e in result.events if e.kind == "funding")
    assert funding.attributes["mark"] == "100333333333"
    assert funding.attributes["index"] == str(BTC_100K)
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)

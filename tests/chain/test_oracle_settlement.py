"""Oracle prices (stake-weighted median), expiry settlement and perpetual funding."""

from __future__ import annotations

from datetime import date

import pytest

from optex.chain import ChainReason, PriceVote, TradeBatch
from optex.chain._oracle import weighted_median
from optex.core import expiry_ms
from optex.crypto import Side
from tests.chain.kit import (
    OPERATOR,
    OPTION,
    PERP,
    USDC,
    Chain,
    assert_rejected_and_changes_nothing,
    make_genesis,
    owner,
    validator_key,
)


def votes(chain: Chain, prices: list[int], symbol: str = "BTC") -> list[object]:
    return [
        chain.sign(validator_key(i), PriceVote, prices={symbol: p}) for i, p in enumerate(prices)
    ]


def price(chain: Chain, symbol: str = "BTC") -> int | None:
    record = chain.ledger.get("price/" + symbol)
    return None if record is None else record.price


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(100, 1), (200, 1), (300, 1)], 200),
        ([(100, 3), (200, 1)], 100),
        ([(100, 1), (200, 1)], 100),
        ([(300, 1), (100, 1), (200, 5)], 200),
        ([(100, 1), (200, 2), (900, 2)], 200),
    ],
)
def test_weighted_median_is_the_lower_median_by_weight(
    pairs: list[tuple[int, int]], expected: int
) -> None:
    assert weighted_median(pairs) == expected


def test_the_price_is_the_stake_weighted_median_of_the_active_set() -> None:
    chain = Chain(make_genesis(stakes=[4_000_000, 1_000_000, 1_000_000, 1_000_000]))
    chain.run(*votes(chain, [100, 500, 600, 700]))
    assert price(chain) == 100  # the validator with 4 of 7 power holds the median


def test_a_minority_cannot_move_the_median_outside_honest_votes() -> None:
    chain = Chain()
    chain.run(*votes(chain, [95_000, 95_010, 95_020, 10**12]))
    assert price(chain) == 95_010


def test_without_a_quorum_of_fresh_votes_the_price_does_not_change() -> None:
    chain = Chain()
    chain.run(*votes(chain, [100, 100]))
    assert price(chain) is None
    chain.run(*votes(chain, [100, 100, 200]))
    assert price(chain) == 100
    chain.block(step_ms=61_000)
    chain.run(chain.sign(validator_key(0), PriceVote, prices={"BTC": 999}))
    assert price(chain) == 100


def test_only_active_validators_vote() -> None:
    chain = Chain()
    tx = chain.sign(owner("alice"), PriceVote, prices={"BTC": 100})
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.NOT_ACTIVE)


def test_a_vote_for_an_unknown_symbol_or_a_bad_price_is_refused() -> None:
    chain = Chain()
    bad_symbol = chain.sign(validator_key(0), PriceVote, prices={"DOGE": 1})
    assert_rejected_and_changes_nothing(chain, bad_symbol, ChainReason.UNKNOWN_ASSET)
    bad_price = chain.sign(validator_key(0), PriceVote, prices={"BTC": 0})
    assert_rejected_and_changes_nothing(chain, bad_price, ChainReason.INVALID_PRICE)


def trade(chain: Chain, instrument: str, price_units: int, quantity: int) -> None:
    chain.run(chain.register("alice"), chain.register("bob"))
    sell = chain.order("alice", Side.SELL, price_units, quantity, instrument=instrument)
    buy = chain.order("bob", Side.BUY, price_units, quantity, instrument=instrument)
    result = chain.run(chain.sign(OPERATOR, TradeBatch, fills=(chain.fill(buy, sell),)))
    assert result.txs[0].ok, result.txs[0].message


def usdc(chain: Chain, account: str) -> int:
    record = chain.ledger.account(account)
    assert record is not None
    return record.balances.get(USDC, 0)


def test_an_expired_option_settles_at_the_first_oracle_price_after_expiry() -> None:
    chain = Chain()
    trade(chain, OPTION, 500_000_000, 1_000_000)
    before = {a: usdc(chain, a) for a in ("alice", "bob")}
    expiry = chain.ledger.state.get("open")
    assert expiry is not None and OPTION in expiry.instruments
    chain.block(step_ms=expiry_ms(date(2027, 3, 26)) - chain.now + 1)
    assert OPTION in chain.ledger.get("open").instruments
    chain.run(*votes(chain, [110_000_000_000] * 3))
    result = chain.block()
    kinds = [e.kind for e in result.events if e.kind != "rewards"]
    assert kinds == ["settlement_credit", "settlement_credit", "settled"]
    # Call struck at 100,000, settled at 110,000: 10,000 USDC per BTC on 0.01 BTC.
    assert usdc(chain, "bob") == before["bob"] + 100_000_000
    assert usdc(chain, "alice") == before["alice"] - 100_000_000
    assert OPTION not in chain.ledger.account("bob").positions  # type: ignore[union-attr]
    assert chain.ledger.get("settled/" + OPTION).price == 110_000_000_000
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)


def test_perpetual_funding_moves_the_rate_times_mark_value_from_longs_to_shorts() -> None:
    chain = Chain()
    one_btc = 100_000_000
    trade(chain, PERP, 100_000_000_000, one_btc)
    chain.block(step_ms=8 * 3_600_000 - 30_000)  # to half a minute before the funding time
    chain.run(*votes(chain, [100_000_000_000] * 3), *votes(chain, [100_500_000_000] * 3, PERP))
    before = {a: usdc(chain, a) for a in ("alice", "bob")}
    result = chain.block(step_ms=30_000)
    funding = [e for e in result.events if e.kind == "funding"]
    # premium 0.5% (5,000 ppm), plus the interest clamp (-500 ppm): 4,500 ppm of the 100,500
    # USDC mark on 1 BTC is 452.25 USDC.
    assert funding[0].attributes["rate_ppm"] == "4500"
    assert usdc(chain, "bob") == before["bob"] - 452_250_000
    assert usdc(chain, "alice") == before["alice"] + 452_250_000
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)


def test_funding_waits_for_live_prices_and_skips_an_interval_whose_votes_stopped() -> None:
    chain = Chain()
    one_btc = 100_000_000
    trade(chain, PERP, 100_000_000_000, one_btc)
    chain.run(*votes(chain, [100_000_000_000] * 3), *votes(chain, [100_500_000_000] * 3, PERP))
    before = {a: usdc(chain, a) for a in ("alice", "bob")}
    # The validators stop voting: at the funding time both prices are hours old.
    result = chain.block(step_ms=8 * 3_600_000)
    assert not [e for e in result.events if e.kind in {"funding", "funding_credit"}]
    [skipped] = [e for e in result.events if e.kind == "funding_skipped"]
    assert skipped.attributes == {"instrument": PERP, "stale_prices": f"{PERP},BTC"}
    assert {a: usdc(chain, a) for a in ("alice", "bob")} == before
    # Fresh votes of the mark only: the index is still stale, so the next interval waits too.
    chain.block(step_ms=8 * 3_600_000 - 30_000)
    chain.run(*votes(chain, [100_500_000_000] * 3, PERP))
    result = chain.block(step_ms=30_000)
    [skipped] = [e for e in result.events if e.kind == "funding_skipped"]
    assert skipped.attributes["stale_prices"] == "BTC"
    # Both voted again before the third interval: it is funded, once, at those prices.
    chain.block(step_ms=8 * 3_600_000 - 30_000)
    chain.run(*votes(chain, [100_000_000_000] * 3), *votes(chain, [100_500_000_000] * 3, PERP))
    result = chain.block(step_ms=30_000)
    [funding] = [e for e in result.events if e.kind == "funding"]
    assert funding.attributes["rate_ppm"] == "4500"
    assert usdc(chain, "bob") == before["bob"] - 452_250_000
    assert usdc(chain, "alice") == before["alice"] + 452_250_000
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)

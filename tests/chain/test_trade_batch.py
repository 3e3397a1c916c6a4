"""Operator trade batches: every order checked, nothing invented or altered, fills applied."""

from __future__ import annotations

import msgspec
import pytest

from optex.chain import ChainReason, PriceVote, TradeBatch, fill_record_id
from optex.core import encode, instrument_from_name
from optex.crypto import Side, SignedOrder, TimeInForce, sign_order
from optex.risk import FeeParams, trade_fee
from tests.chain.kit import (
    OPERATOR,
    OPTION,
    PERP,
    START_USDC,
    USDC,
    Chain,
    assert_rejected_and_changes_nothing,
    owner,
    trader,
    validator_key,
)

PRICE = 500_000_000  # 500 USDC, on the 5 USDC tick
LOT = 1_000_000  # 0.01 BTC
PREMIUM = 5_000_000  # 500 USDC x 0.01 BTC
CAP_FEE = 625_000  # 12.5% of the premium


def traded_chain() -> Chain:
    chain = Chain()
    result = chain.run(*(chain.register(a) for a in ("alice", "bob", "carol")))
    assert all(r.ok for r in result.txs)
    return chain


def batch(chain: Chain, *fills: object) -> object:
    return chain.sign(OPERATOR, TradeBatch, fills=tuple(fills))


def balance(chain: Chain, account: str) -> int:
    record = chain.ledger.account(account)
    assert record is not None
    return record.balances.get(USDC, 0)


def position(chain: Chain, account: str, name: str = OPTION) -> int:
    record = chain.ledger.account(account)
    assert record is not None
    found = record.positions.get(name)
    return 0 if found is None else found.quantity


def test_a_fill_moves_premium_positions_and_capped_fees_as_computed_by_hand() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    taker = chain.order("bob", Side.BUY, PRICE + 5_000_000, LOT)
    result = chain.run(batch(chain, chain.fill(maker, taker)))
    assert result.txs[0].ok, result.txs[0].message
    assert balance(chain, "alice") == START_USDC + PREMIUM - CAP_FEE
    assert balance(chain, "bob") == START_USDC - PREMIUM - CAP_FEE
    assert position(chain, "alice") == -LOT and position(chain, "bob") == LOT
    assert chain.ledger.get("pool/fees").amounts == {USDC: 2 * CAP_FEE}
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)


def test_option_fees_use_the_oracle_index_when_it_is_below_the_cap() -> None:
    chain = traded_chain()
    votes = [
        chain.sign(validator_key(i), PriceVote, prices={"BTC": 95_000_000_000}) for i in range(3)
    ]
    chain.run(*votes)
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    chain.run(batch(chain, chain.fill(maker, taker)))
    # 0.03% of 95,000 USDC x 0.01 BTC = 0.285 USDC, below 12.5% of the 5 USDC premium.
    assert balance(chain, "alice") == START_USDC + PREMIUM - 285_000


def _vote_btc(chain: Chain, index: int) -> None:
    chain.run(*(chain.sign(validator_key(i), PriceVote, prices={"BTC": index}) for i in range(3)))


def _fee_at(index: int) -> int:
    """An option maker's fee on LOT at ``index`` by ``optex.risk``'s rule (the engine's)."""
    instrument = instrument_from_name(OPTION)
    return trade_fee(instrument, PRICE, LOT, index=index, maker=True, fees=FeeParams())


@pytest.mark.parametrize(
    ("oracle", "claimed", "charged_at"),
    [
        (95_000_000_000, 96_000_000_000, 96_000_000_000),  # within 5% of the oracle: the claim
        (95_000_000_000, 90_250_000_000, 90_250_000_000),  # exactly 5% below
        (95_000_000_000, 120_000_000_000, 99_750_000_000),  # beyond: the band's upper edge
        (95_000_000_000, 1, 90_250_000_000),  # far below: the lower edge
        (None, 96_000_000_000, 96_000_000_000),  # no oracle price yet: the claim, under the cap
        (95_000_000_000, 0, 95_000_000_000),  # no claim: the oracle's index
    ],
)
def test_an_option_fill_pays_fees_at_the_engine_index_it_carries_within_the_oracle_band(
    oracle: int | None, claimed: int, charged_at: int
) -> None:
    chain = traded_chain()
    if oracle is not None:
        _vote_btc(chain, oracle)
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    fill = msgspec.structs.replace(chain.fill(maker, taker), fee_index=claimed)
    result = chain.run(batch(chain, fill))
    assert result.txs[0].ok, result.txs[0].message
    fee = _fee_at(charged_at)
    assert 0 < fee < CAP_FEE
    assert balance(chain, "alice") == START_USDC + PREMIUM - fee
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)


@pytest.mark.parametrize("claimed", [-1, 2**63, True])
def test_a_fill_with_a_fee_index_out_of_range_is_refused_whole(claimed: object) -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    fill = msgspec.structs.replace(chain.fill(maker, taker), fee_index=claimed)
    assert_rejected_and_changes_nothing(chain, batch(chain, fill), ChainReason.MALFORMED_TX)


def test_a_maker_order_fills_many_times_up_to_its_size_and_no_further() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    takers = [chain.order(a, Side.BUY, PRICE, 2 * LOT) for a in ("bob", "carol")]
    assert chain.run(batch(chain, chain.fill(maker, takers[0], quantity=2 * LOT))).txs[0].ok
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, takers[1], quantity=2 * LOT)), ChainReason.OVERFILL
    )
    assert chain.run(batch(chain, chain.fill(maker, takers[1], quantity=LOT))).txs[0].ok
    assert position(chain, "alice") == -3 * LOT


def _altered(order: SignedOrder, **changes: object) -> SignedOrder:
    return msgspec.structs.replace(order, intent=msgspec.structs.replace(order.intent, **changes))


ALTERATIONS = {
    "order price": (lambda o: _altered(o, price=o.intent.price + 5_000_000), "invalid_signature"),
    "order size": (lambda o: _altered(o, quantity=o.intent.quantity * 2), "invalid_signature"),
    "order side": (lambda o: _altered(o, side=Side.BUY), "invalid_signature"),
    "order account": (lambda o: _altered(o, account="carol"), "delegation_not_found"),
    "order instrument": (
        lambda o: _altered(o, instrument="BTC-26MAR27-90000-C"),
        "invalid_signature",
    ),
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_an_operator_batch_with_an_altered_order_is_rejected_whole(alteration: str) -> None:
    chain = traded_chain()
    good = chain.fill(
        chain.order("carol", Side.SELL, PRICE, LOT), chain.order("bob", Side.BUY, PRICE, LOT)
    )
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    alter, reason = ALTERATIONS[alteration]
    bad = chain.fill(alter(maker), taker, price=PRICE, quantity=LOT)
    assert_rejected_and_changes_nothing(chain, batch(chain, good, bad), reason)


@pytest.mark.parametrize(
    ("price", "quantity", "reason"),
    [
        (PRICE - 5_000_000, LOT, ChainReason.PRICE_OUTSIDE_LIMIT),
        (PRICE + 10_000_000, LOT, ChainReason.PRICE_OUTSIDE_LIMIT),
        (PRICE, 2 * LOT, ChainReason.OVERFILL),
        (PRICE + 1, LOT, ChainReason.OFF_GRID),
        (PRICE, LOT + 1, ChainReason.OFF_GRID),
        (PRICE, 0, ChainReason.MALFORMED_TX),
    ],
)
def test_an_operator_batch_with_an_altered_fill_is_rejected_whole(
    price: int, quantity: int, reason: ChainReason
) -> None:
    chain = traded_chain()
    good = chain.fill(
        chain.order("carol", Side.SELL, PRICE, LOT), chain.order("bob", Side.BUY, PRICE, LOT)
    )
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE + 5_000_000, LOT)
    bad = msgspec.structs.replace(chain.fill(maker, taker), price=price, quantity=quantity)
    assert_rejected_and_changes_nothing(chain, batch(chain, good, bad), reason)


def test_swapping_the_account_of_a_fill_to_another_signed_order_of_the_same_side_fails() -> None:
    chain = traded_chain()
    sell = chain.order("alice", Side.SELL, PRICE, LOT)
    other_sell = chain.order("carol", Side.SELL, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(sell, other_sell)), ChainReason.SIDE_MISMATCH
    )


def test_an_order_signed_by_an_unregistered_key_is_rejected() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT, signer=owner("alice"))
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, taker)), "delegation_not_found"
    )


def test_a_revoked_key_stops_a_resting_order_even_after_it_was_verified() -> None:
    from optex.chain import RevokeTradingKey
    from optex.crypto import TradingKeyRevocation, sign
    from tests.chain.kit import CHAIN

    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, 3 * LOT)
    first = chain.order("bob", Side.BUY, PRICE, LOT)
    assert chain.run(batch(chain, chain.fill(maker, first))).txs[0].ok
    revocation = TradingKeyRevocation(
        chain_id=CHAIN, account="alice", trading_key=trader("alice").public_key.raw, nonce=50
    )
    signature = sign(owner("alice"), "revoke/v1", CHAIN, revocation)
    chain.run(
        chain.sign(
            owner("alice"), RevokeTradingKey, revocation=revocation, owner_signature=signature
        )
    )
    second = chain.order("carol", Side.BUY, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, second)), "key_revoked"
    )


def test_an_expired_order_cannot_be_filled() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT, lifetime_ms=1_500)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    chain.block(step_ms=2_000)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, taker)), "order_expired"
    )


def test_a_trading_key_past_its_expiry_cannot_trade() -> None:
    chain = Chain()
    chain.run(chain.register("alice", expiry_ms=chain.now + 1_500), chain.register("bob"))
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    chain.block()
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, taker)), "key_expired"
    )


def test_an_account_cannot_trade_with_itself() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("alice", Side.BUY, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, taker)), ChainReason.SELF_TRADE
    )


def test_orders_for_different_instruments_do_not_match() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    taker = chain.order("bob", Side.BUY, PRICE, LOT, instrument="BTC-26MAR27-90000-C")
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, taker)), ChainReason.INSTRUMENT_MISMATCH
    )


def test_a_batch_signed_by_anyone_but_the_operator_is_rejected() -> None:
    chain = traded_chain()
    fill = chain.fill(
        chain.order("alice", Side.SELL, PRICE, LOT), chain.order("bob", Side.BUY, PRICE, LOT)
    )
    tx = chain.sign(owner("alice"), TradeBatch, fills=(fill,))
    assert_rejected_and_changes_nothing(chain, tx, ChainReason.WRONG_SIGNER)


def test_an_empty_batch_is_rejected() -> None:
    chain = traded_chain()
    assert_rejected_and_changes_nothing(chain, batch(chain), ChainReason.EMPTY_BATCH)


def test_a_perpetual_position_realizes_its_profit_in_cash_when_it_closes() -> None:
    chain = traded_chain()
    one_btc, at_100k, at_101k = 100_000_000, 100_000_000_000, 101_000_000_000
    buy = chain.order("alice", Side.BUY, at_100k, one_btc, instrument=PERP)
    sell = chain.order("bob", Side.SELL, at_100k, one_btc, instrument=PERP)
    assert chain.run(batch(chain, chain.fill(buy, sell))).txs[0].ok
    # Futures pay no premium: the maker (alice) pays 0, the taker (bob) 0.05% of 100,000.
    assert balance(chain, "alice") == START_USDC
    assert balance(chain, "bob") == START_USDC - 50_000_000
    record = chain.ledger.account("alice")
    assert record is not None and record.positions[PERP].cost == at_100k
    close = chain.order("alice", Side.SELL, at_101k, one_btc, instrument=PERP)
    carol = chain.order("carol", Side.BUY, at_101k, one_btc, instrument=PERP)
    assert chain.run(batch(chain, chain.fill(close, carol))).txs[0].ok
    assert position(chain, "alice", PERP) == 0
    assert balance(chain, "alice") == START_USDC + 1_000_000_000
    assert chain.ledger.holdings(USDC) == chain.ledger.supply(USDC)
    assert chain.ledger.get("open").instruments == {PERP: one_btc}


def test_a_post_only_order_cannot_take_and_an_immediate_order_cannot_make() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, LOT)
    post_only = sign_order(
        trader("bob"),
        msgspec.structs.replace(chain.order("bob", Side.BUY, PRICE, LOT).intent, post_only=True),
    )
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, post_only)), ChainReason.ROLE_NOT_ALLOWED
    )
    ioc = sign_order(
        trader("alice"),
        msgspec.structs.replace(maker.intent, time_in_force=TimeInForce.IOC, nonce=999),
    )
    taker = chain.order("bob", Side.BUY, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(ioc, taker)), ChainReason.ROLE_NOT_ALLOWED
    )


def test_fill_records_are_dropped_once_their_orders_have_expired() -> None:
    chain = traded_chain()
    maker = chain.order("alice", Side.SELL, PRICE, 2 * LOT, lifetime_ms=30_000)
    taker = chain.order("bob", Side.BUY, PRICE, LOT, lifetime_ms=30_000)
    chain.run(batch(chain, chain.fill(maker, taker)))
    key = "fill/" + fill_record_id(maker.order_hash, maker.public_key, "alice").hex()
    assert chain.ledger.get(key).quantity == LOT
    chain.block(step_ms=120_000)
    assert chain.ledger.get(key) is None
    assert not any(k.startswith("expiry/") for k in chain.ledger.state.records)
    again = chain.order("carol", Side.BUY, PRICE, LOT)
    assert_rejected_and_changes_nothing(
        chain, batch(chain, chain.fill(maker, again)), "order_expired"
    )


def test_a_fill_without_a_fee_index_encodes_as_before_the_field_existed() -> None:
    class FourFields(msgspec.Struct, frozen=True):
        maker: SignedOrder
        taker: SignedOrder
        price: int
        quantity: int

    chain = traded_chain()
    fill = chain.fill(
        chain.order("alice", Side.SELL, PRICE, LOT), chain.order("bob", Side.BUY, PRICE, LOT)
    )
    before = FourFields(fill.maker, fill.taker, fill.price, fill.quantity)
    assert encode(fill) == encode(before)
    assert encode(msgspec.structs.replace(fill, fee_index=1)) != encode(before)

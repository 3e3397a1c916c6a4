"""A market maker's signed mass quotes settle on chain: fills before and after a requote, the
fill count carried per origin, and what the ledger refuses across a requote."""

from __future__ import annotations

from pathlib import Path

from optex.chain import Fill as ChainFill
from optex.chain import TradeBatch, fill_record_id, sign_tx
from optex.core import ManualClock
from optex.crypto import OrderIntent, OrderType, Side, SignedOrder, replacement, sign_order
from optex.exchange import GoverningLeg, SignedMassQuote, SignedQuotesApplied
from optex.market import Fill as EngineFill
from optex.market import OrderAmended, SetMmpConfig
from optex.settlement import Batcher, FillCollector
from tests.chain.kit import CHAIN, OPERATOR, PERP, T0, trader
from tests.settlement.kit import INDEX, LOT, Engine, local_chain, setup_commands, signed, until
from tests.settlement.test_batcher import chain_position, config

ACCOUNTS = ("alice", "bob", "carol")
MAKER = "carol"


def leg(side: Side, price: int, quantity: int, nonce: int) -> SignedOrder:
    """A post-only quote leg of the market maker on the perpetual."""
    intent = OrderIntent(
        chain_id=CHAIN,
        account=MAKER,
        instrument=PERP,
        side=side,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=quantity,
        post_only=True,
        nonce=nonce,
        expiry_ms=T0 + 3_600_000,
    )
    return sign_order(trader(MAKER), intent)


def requote(previous: SignedOrder, quantity: int, nonce: int) -> SignedOrder:
    """A signed replacement of ``previous`` with a new total (what was filled included)."""
    intent = replacement(previous, quantity=quantity, nonce=nonce, expiry_ms=T0 + 3_600_000)
    return sign_order(trader(MAKER), intent)


async def quoting_engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    await engine.submit(SetMmpConfig(0, MAKER, "mm", 1_000, 1_000, 10**15, 10**15))
    return engine


async def test_fills_of_a_quote_before_and_after_a_requote_settle_and_match_the_engine(
    tmp_path: Path,
) -> None:
    engine = await quoting_engine(tmp_path)
    chain, local = local_chain(ACCOUNTS)
    first = leg(Side.SELL, INDEX, 5 * LOT, nonce=10**6)
    await engine.submit(SignedMassQuote(0, MAKER, "mm", (first,)))
    await engine.place(signed("bob", Side.BUY, INDEX, 2 * LOT))
    # The maker wants 2 lots resting, same price: a replacement with the total 2 + 2.
    smaller = requote(first, 4 * LOT, nonce=10**6 + 1)
    receipt = await engine.submit(SignedMassQuote(0, MAKER, "mm", (smaller,)))
    assert any(isinstance(e, OrderAmended) and e.remaining == 2 * LOT for e in receipt.events)
    taken = await engine.place(signed("alice", Side.BUY, INDEX, 3 * LOT))
    assert sum(e.quantity for e in taken.events if isinstance(e, EngineFill)) == 2 * LOT
    batcher = Batcher(config(tmp_path), local)
    await batcher.start()
    try:
        await until(lambda: batcher.checkpoint.committed_fills == 2)
    finally:
        await batcher.stop()
        await engine.close()
    assert batcher.unsettled_count == 0
    for account in ACCOUNTS:
        assert chain_position(chain, account) == engine.position(account)
        record = chain.ledger.account(account)
        assert record is not None and record.balances["USDC"] == engine.balance(account)
    assert chain_position(chain, MAKER) == -4 * LOT
    record = chain.ledger.get(
        "fill/" + fill_record_id(first.order_hash, first.public_key, MAKER).hex()
    )
    assert record is not None and (record.quantity, record.revision) == (4 * LOT, 1)

    # The operator cannot fill the quote beyond what the maker meant across the requote:
    # neither with the old leg (replaced) nor with the new one (its total is reached).
    for maker, reason in ((first, "order_replaced"), (smaller, "overfill")):
        taker = signed("bob", Side.BUY, INDEX, LOT)
        fill = ChainFill(maker=maker, taker=taker, price=INDEX, quantity=LOT)
        tx = sign_tx(OPERATOR, TradeBatch(chain_id=CHAIN, nonce=2**62, fills=(fill,)))
        header = chain.ledger.last_header
        assert header is not None
        chain.now = header.ts_ms  # after the blocks LocalChain made
        assert chain.run(tx).txs[0].reason == reason


def test_the_collector_counts_a_quotes_fills_per_origin_across_a_requote() -> None:
    collector = FillCollector(CHAIN)
    first = leg(Side.SELL, INDEX, 5 * LOT, nonce=1)
    quote = SignedMassQuote(T0, MAKER, "mm", (first,))
    collector.collect(1, quote, [SignedQuotesApplied(T0, MAKER, "mm", (_governs(7, first),))])
    taker = signed("bob", Side.BUY, INDEX, 10 * LOT)
    fill = EngineFill(T0, 1, PERP, INDEX, 3 * LOT, Side.BUY, 7, MAKER, 8, "bob")
    collector.orders[8] = taker
    pending, unsettled = collector.collect(2, None, [fill])
    assert len(pending) == 1 and unsettled == []
    smaller = requote(first, 4 * LOT, nonce=2)
    requoted = SignedMassQuote(T0, MAKER, "mm", (smaller,))
    collector.collect(3, requoted, [SignedQuotesApplied(T0, MAKER, "mm", (_governs(7, smaller),))])
    assert collector.orders[7] == smaller
    over = EngineFill(T0, 2, PERP, INDEX, 2 * LOT, Side.BUY, 7, MAKER, 8, "bob")
    pending, unsettled = collector.collect(4, None, [over])
    assert pending == [] and [u.reason for u in unsettled] == ["unprovable_fill"]
    exact = EngineFill(T0, 3, PERP, INDEX, LOT, Side.BUY, 7, MAKER, 8, "bob")
    pending, unsettled = collector.collect(5, None, [exact])
    assert len(pending) == 1 and pending[0].fill.maker == smaller


def _governs(order_id: int, order: SignedOrder) -> GoverningLeg:
    return GoverningLeg(order_id, order.order_hash)

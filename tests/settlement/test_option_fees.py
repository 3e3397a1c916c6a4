"""Option fees agree between engine and chain to the base unit: each fill carries the index the
engine charged it at (``optex.chain.Fill.fee_index``), and the ledger charges at that index
within its band around the oracle's. A real file journal, sequencer and pipeline, the real
batcher and an in-process ledger whose oracle index differs from the engine's by 4%."""

from __future__ import annotations

from pathlib import Path

from optex.chain import PriceVote, TradeBatch
from optex.core import ManualClock, instrument_from_name
from optex.crypto import OrderIntent, OrderType, Side, SignedOrder, sign_order
from optex.exchange import SetPrices
from optex.market import AddInstrument, Fill
from optex.risk import FeeParams, Mark, trade_fee
from optex.settlement import LocalChain
from tests.chain.kit import CHAIN, OPTION, T0, trader, validator_key
from tests.settlement.kit import INDEX, Engine, local_chain, setup_commands
from tests.settlement.test_chain_events import ACCOUNTS, assert_balances_agree, settle_fills

CALL = instrument_from_name(OPTION)
LOT = CALL.lot_size
PREMIUM = 500_000_000
"""500 USDC: 0.03% of the index (30 USDC per BTC) is under 12.5% of it, so the index decides."""
ORACLE_INDEX = INDEX * 96 // 100
_nonces = iter(range(1, 1_000_000))


def order(account: str, side: Side, quantity: int, **fields: object) -> SignedOrder:
    intent = OrderIntent(
        chain_id=CHAIN,
        account=account,
        instrument=OPTION,
        side=side,
        order_type=fields.pop("order_type", OrderType.LIMIT),  # type: ignore[arg-type]
        price=PREMIUM,
        quantity=quantity,
        nonce=next(_nonces),
        expiry_ms=T0 + 3_600_000,
        **fields,  # type: ignore[arg-type]
    )
    return sign_order(trader(account), intent)


def fees_on_chain(local: LocalChain) -> list[int]:
    """The ``fee_index`` of every fill the chain committed, in order."""
    found = []
    for height in range(1, local.height() + 1):
        for outcome in local.block(height).txs:
            if isinstance(outcome.tx.body, TradeBatch) and outcome.code == 0:
                found += [f.fee_index for f in outcome.tx.body.fills]
    return found


async def test_option_fills_pay_the_engines_fee_on_chain_even_when_a_price_update_trades(
    tmp_path: Path,
) -> None:
    engine = Engine(tmp_path / "journal.optexj", ACCOUNTS, ManualClock(T0))
    for command in setup_commands(ACCOUNTS):
        await engine.submit(command)
    await engine.submit(AddInstrument(0, CALL))
    await engine.submit(SetPrices(0, {"BTC": INDEX}, {OPTION: Mark(450_000_000, 0.5)}))
    chain, local = local_chain(ACCOUNTS)
    for i in range(3):
        local.broadcast(chain.sign(validator_key(i), PriceVote, prices={"BTC": ORACLE_INDEX}))
    local.decide()
    assert chain.ledger.get("price/BTC").price == ORACLE_INDEX

    await engine.place(order("alice", Side.SELL, 10 * LOT))
    first = await engine.place(order("bob", Side.BUY, 4 * LOT))
    assert [e.quantity for e in first.events if isinstance(e, Fill)] == [4 * LOT]
    # A buy stop on the mark: the next price update triggers it, and it trades in that same
    # journal entry, charged at the index the engine had before the update (the update moves
    # the index only after the stops it triggered have traded).
    stop = order(
        "carol", Side.BUY, 3 * LOT, order_type=OrderType.STOP_LIMIT, trigger_price=480_000_000
    )
    await engine.place(stop)
    moved = await engine.submit(
        SetPrices(0, {"BTC": INDEX * 98 // 100}, {OPTION: Mark(490_000_000, 0.5)})
    )
    assert [e.quantity for e in moved.events if isinstance(e, Fill)] == [3 * LOT]

    await settle_fills(tmp_path, local, 2)
    assert fees_on_chain(local) == [INDEX, INDEX]
    assert_balances_agree(engine, chain)
    # ... and those are not the oracle's fees: without the engine's index they would differ.
    engine_fee = trade_fee(CALL, PREMIUM, 4 * LOT, index=INDEX, maker=True, fees=FeeParams())
    oracle_fee = trade_fee(CALL, PREMIUM, 4 * LOT, index=ORACLE_INDEX, maker=True, fees=FeeParams())
    assert engine_fee > oracle_fee
    await engine.close()

"""The engine service's read-only ``query`` operations and its ``stream`` of applied entries,
and signed orders accepted through a delegations file (what the gateway relies on)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from optex.core import InvalidInput, ManualClock, OrderType, Side
from optex.crypto import (
    OrderIntent,
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    sign_authorization,
    sign_order,
)
from optex.exchange import (
    DelegationRecord,
    DelegationsFile,
    EngineClient,
    EngineService,
    PlaceSignedOrder,
    ServiceConfig,
    save_delegations_file,
)
from optex.market import BookDelta, CancelOrder, Fill, NewOrder, OrderAccepted
from tests.exchange.kit import CALL, INDEX, PERP, T0, USDC, setup_commands

LOT = 10_000  # the perpetual's lot: 0.0001 BTC


async def started(home: Path, **changes: object) -> tuple[EngineService, EngineClient]:
    options: dict[str, object] = {"clock": ManualClock(T0)} | changes
    service = EngineService(ServiceConfig(home=home, **options))  # type: ignore[arg-type]
    await service.start()
    assert service.address is not None
    client = await EngineClient.connect(*service.address)
    for command in setup_commands():
        await client.submit(command)
    return service, client


async def test_book_ticker_and_orders_are_answered_from_the_live_state(tmp_path: Path) -> None:
    service, client = await started(tmp_path)
    try:
        await client.submit(NewOrder(T0, "alice", PERP, Side.BUY, 5 * LOT, INDEX - 500_000))
        await client.submit(NewOrder(T0, "bob", PERP, Side.SELL, 3 * LOT, INDEX + 500_000))
        book = await client.query("book", instrument=PERP, depth=5)
        assert book["bids"] == [[INDEX - 500_000, 5 * LOT]]
        assert book["asks"] == [[INDEX + 500_000, 3 * LOT]]
        assert book["seq"] == service.pipeline.last_seq
        ticker = await client.query("ticker", instrument=CALL)
        assert ticker["mark"]["iv"] == 0.6 and ticker["index"] == INDEX
        (order,) = await client.query("open_orders", account="alice")
        assert (order["order_id"], order["state"], order["tif"]) == (1, "open", "gtc")
        instruments = await client.query("instruments")
        assert {i["instrument"]["name"] for i in instruments} == {PERP, CALL}
    finally:
        await client.close()
        await service.stop()


async def test_fills_are_kept_as_trades_with_fees_and_orders_with_their_average(
    tmp_path: Path,
) -> None:
    service, client = await started(tmp_path)
    try:
        await client.submit(NewOrder(T0, "alice", PERP, Side.BUY, 5 * LOT, INDEX))
        await client.submit(NewOrder(T0, "bob", PERP, Side.SELL, 2 * LOT, INDEX))
        (trade,) = await client.query("trades", instrument=PERP, count=10)
        assert (trade["price"], trade["quantity"], trade["aggressor_side"]) == (
            INDEX,
            2 * LOT,
            "sell",
        )
        assert trade["taker_fee"] > 0 == trade["maker_fee"]
        assert await client.query("user_trades", account="bob") == [trade]
        order = await client.query("order", account="alice", order_id=1)
        assert (order["state"], order["filled"]) == ("partially_filled", 2 * LOT)
        assert order["filled_cash"] // order["filled"] == INDEX
        await client.submit(CancelOrder(T0, "alice", order_id=1))
        closed = await client.query("order", account="alice", order_id=1)
        assert (closed["state"], closed["cancel_reason"]) == ("cancelled", "user")
        account = await client.query("account", account="alice")
        (position,) = account["positions"]
        assert (position["quantity"], position["average_price"]) == (2 * LOT, INDEX)
        assert account["balance"] == 1_000_000 * USDC
    finally:
        await client.close()
        await service.stop()


async def test_bad_queries_are_refused_with_reasons(tmp_path: Path) -> None:
    service, client = await started(tmp_path)
    try:
        for name, args, reason in [
            ("no_such_query", {}, "unknown_request"),
            ("book", {"instrument": "BTC-1JAN30"}, "unknown_instrument"),
            ("book", {"instrument": PERP, "depth": 0}, "unknown_request"),
            ("order", {"account": "alice", "order_id": 99}, "unknown_order"),
            ("order", {"account": "bob", "order_id": "1"}, "unknown_order"),
            ("account", {"account": "nobody"}, "unknown_account"),
            ("open_orders", {}, "invalid_account"),
        ]:
            with pytest.raises(InvalidInput) as refused:
                await client.query(name, **args)
            assert refused.value.reason == reason, name
        assert (await client.status()).last_seq == len(setup_commands())
    finally:
        await client.close()
        await service.stop()


async def test_the_stream_pushes_every_applied_entry_with_its_sequence(tmp_path: Path) -> None:
    service, client = await started(tmp_path)
    assert service.address is not None
    streamer = await EngineClient.connect(*service.address)
    received: list[tuple[int, list[object]]] = []
    ready = asyncio.Event()

    async def read() -> None:
        async for seq, events in streamer.stream():
            if not ready.is_set():
                assert (seq, events) == (service.pipeline.last_seq, [])
                ready.set()
                continue
            received.append((seq, events))
            if len(received) == 3:
                return

    reader = asyncio.get_running_loop().create_task(read())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        first = await client.submit(NewOrder(T0, "alice", PERP, Side.BUY, LOT, INDEX))
        await client.submit(NewOrder(T0, "bob", PERP, Side.SELL, LOT, INDEX))
        await client.submit(CancelOrder(T0, "bob", order_id=42))
        await asyncio.wait_for(reader, 10)
        assert [seq for seq, _ in received] == [first.seq, first.seq + 1, first.seq + 2]
        assert any(isinstance(e, BookDelta) for e in received[0][1])
        assert any(isinstance(e, Fill) for e in received[1][1])
    finally:
        await streamer.close()
        await client.close()
        await service.stop()


async def test_a_delegations_file_lets_the_engine_accept_signed_orders(tmp_path: Path) -> None:
    owner, trader = PrivateKey.generate(), PrivateKey.generate()
    authorization = TradingKeyAuthorization(
        chain_id="optex-devnet",
        account="alice",
        trading_key=trader.public_key.raw,
        scopes=(TradingScope.TRADE,),
        not_before_ms=0,
        expiry_ms=T0 + 10**9,
        nonce=0,
    )
    path = tmp_path / "delegations.json"
    save_delegations_file(
        path,
        DelegationsFile(
            "optex-devnet",
            {"alice": owner.public_key.raw},
            [DelegationRecord.of(sign_authorization(owner, authorization))],
        ),
    )
    service, client = await started(tmp_path / "engine", delegations=path)
    intent = OrderIntent(
        chain_id="optex-devnet",
        account="alice",
        instrument=PERP,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=INDEX,
        quantity=LOT,
        nonce=1,
        expiry_ms=T0 + 60_000,
    )
    try:
        receipt = await client.submit(PlaceSignedOrder(0, sign_order(trader, intent)))
        assert isinstance(receipt.events[0], OrderAccepted)
        (order,) = await client.query("open_orders", account="alice")
        assert order["signed"] is True
        stranger = sign_order(PrivateKey.generate(), intent)
        with pytest.raises(InvalidInput) as refused:
            await client.submit(PlaceSignedOrder(0, stranger))
        assert refused.value.reason == "delegation_not_found"
    finally:
        await client.close()
        await service.stop()

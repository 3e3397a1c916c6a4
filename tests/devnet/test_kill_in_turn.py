"""Kill the engine, a validator and the gateway in turn during a stream of orders (issue 10):
nothing acknowledged is lost, nothing is applied twice.

A devnet's real processes on loopback (four validators, ``optex engine --delegations``,
``optex gateway``, ``optex settle``, started by ``optex.devnet.Devnet``). Two users sign their
own orders and stream crossing pairs, and some orders they cancel, through the gateway with
``optex.client``, while the engine, validator 0 (the one ``optex settle`` talks to) and the
gateway are SIGKILLed and restarted on the same home and ports, each while an order is on its
way; then the engine once more, so that it recovers from a snapshot. An order whose answer is
lost is sent again as the same signed bytes: the exchange places a signed order at most once
and answers a repeat with the original (also orders from before that snapshot, an order the
engine refused, and never another order that reuses a nonce).

At the end every acknowledged order is in the engine exactly once (through the gateway and in
the journal), no client order id was placed twice, nothing was placed that the client does not
know of, every fill the engine journaled is on chain exactly once, the two users' balances and
positions agree between engine and chain, and the restarted engine's state hash is a fresh
replay's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import msgspec
import pytest

from optex.chain import Ledger
from optex.client import (
    ApiError,
    AsyncClient,
    ClientError,
    ClientSignature,
    OrderResult,
    outcome_unknown,
    rate_limited_for_s,
    signed_order_params,
)
from optex.core import OrderType, Side, instrument_from_name
from optex.crypto import OrderIntent, PrivateKey, SignedOrder
from optex.devnet import Devnet
from tests.devnet import kit

pytestmark = pytest.mark.integration

PERP = "BTC-PERPETUAL"
TICK = instrument_from_name(PERP).tick_size
PRICE = 95_000 * 1_000_000
"""The pairs cross at the devnet's starting BTC index (no market maker quotes: only the test's
orders are in the book)."""
QUANTITY = 1_000_000
"""0.01 BTC."""
CANCEL_EVERY = 4
"""Every fourth pair is followed by an order that rests below the pairs' price and is cancelled."""
ORDERS_BETWEEN_KILLS = 16
SNAPSHOTS = ("--snapshot-every", "20")
"""The restarted engine snapshots every 20 entries (the devnet: 1000), so that its last restart
recovers from a snapshot and the orders before it must survive that too."""
WAIT_S = 60.0
ENGINE_UNAVAILABLE = 13028
REFUSED = "refused"
"""The label of an order the engine refuses (far beyond the user's margin)."""

T = TypeVar("T")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    running = kit.start_devnet(tmp_path_factory.mktemp("kill-in-turn") / "devnet")
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Sends:
    """The client's frames as they pass (its ``trace``): when each signed order was sent (by
    its base64 bytes), the order requests not answered yet, and the answers that were lost
    (never came, or 13028: the gateway lost its engine)."""

    times_ms: dict[str, list[int]] = field(default_factory=dict)
    in_flight: set[int] = field(default_factory=set)
    engine_gone: int = 0

    def __call__(self, direction: str, frame: str | bytes) -> None:
        message = json.loads(frame)
        if not isinstance(message, dict) or "id" not in message:
            return
        if direction == "send" and message.get("method") == "private/optex_place_signed_order":
            sent = message["params"]["signed_order"]
            self.times_ms.setdefault(sent, []).append(time.time_ns() // 1_000_000)
            self.in_flight.add(message["id"])
        elif direction == "recv" and message["id"] in self.in_flight:
            self.in_flight.discard(message["id"])
            self.engine_gone += (message.get("error") or {}).get("code") == ENGINE_UNAVAILABLE

    @property
    def lost(self) -> int:
        """Order requests whose answer was lost (the client had to send them again)."""
        return len(self.in_flight) + self.engine_gone


@dataclass
class Trader:
    """One user: a client logged in with the printed API key, and the user's own trading key."""

    account: str
    client: AsyncClient
    key: PrivateKey
    sends: Sends
    signed: dict[str, SignedOrder] = field(default_factory=dict)
    """Every order this trader signed, by label."""

    def send_times_ms(self, label: str) -> list[int]:
        """When the order labelled ``label`` was sent (more than once if an answer was lost)."""
        return self.sends.times_ms[signed_order_params(self.signed[label])["signed_order"]]

    async def place(self, side: Side, price: int, label: str) -> OrderResult:
        """Sign a limit order once and send it until answered: a lost answer is recovered by
        sending the same signed order again (the client does, and so does this, after a rate
        limit or a longer outage), never a new one."""
        intent = OrderIntent(
            chain_id=kit.CHAIN_ID,
            account=self.account,
            instrument=PERP,
            side=side,
            order_type=OrderType.LIMIT,
            price=price,
            quantity=QUANTITY,
            client_order_id=label,
            nonce=0,
            expiry_ms=0,
        )
        order = self.signed[label] = self.client.sign_order(intent, self.key)
        return await patiently(lambda: self.client.send_signed_order(order))

    async def cancel(self, order_id: str) -> None:
        """Cancel an open order. A cancel whose answer was lost may have run: look first."""
        while True:
            try:
                order = await self.client.cancel(order_id)
                assert order.order_state == "cancelled", order
                return
            except (ClientError, ApiError) as error:
                if (wait_s := rate_limited_for_s(error)) is not None:
                    await asyncio.sleep(wait_s)
                    continue  # refused: nothing changed
                if not outcome_unknown(error):
                    raise
            state = await patiently(lambda: self.client.get_order_state(order_id))
            if state.order_state == "cancelled":
                return


async def patiently(call: Callable[[], Awaitable[T]]) -> T:
    """A call safe to repeat (a read, the same signed order), repeated while the exchange is
    restarting and after the gateway's rate limit (devnet: 25 orders a second per address)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await call()
            except (ClientError, ApiError) as error:
                wait_s = rate_limited_for_s(error)
                if wait_s is None and not outcome_unknown(error):
                    raise
            await asyncio.sleep(0.1 if wait_s is None else wait_s)


@dataclass
class Stream:
    """What the streams were told: every acknowledged order by its label."""

    acked: dict[str, str] = field(default_factory=dict)
    """Label -> order id, for every order the exchange acknowledged."""
    cancelled: set[str] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, tag: str, seller: Trader, buyer: Trader) -> None:
        """Crossing pairs (seller first, so that the buyer takes it), and a cancelled order
        every few pairs, until told to stop."""
        for pair in itertools.count(1):
            if self.stop.is_set():
                return
            for trader, side, label in ((seller, Side.SELL, f"{tag}s{pair}"),
                                        (buyer, Side.BUY, f"{tag}b{pair}")):  # fmt: skip
                placed = await trader.place(side, PRICE, label)
                assert placed.order.label == label
                self.acked[label] = placed.order.order_id
            if pair % CANCEL_EVERY == 0:
                label = f"{tag}c{pair}"
                resting = await buyer.place(Side.BUY, PRICE - 10 * TICK, label)
                assert resting.order.order_state == "open", resting.order
                self.acked[label] = resting.order.order_id
                await buyer.cancel(resting.order.order_id)
                self.cancelled.add(label)


async def test_killing_the_engine_a_validator_and_the_gateway_loses_and_repeats_nothing(
    devnet: Devnet,
) -> None:
    keys = {account: PrivateKey.generate() for account in ("user0", "user1")}
    for account, key in keys.items():
        await asyncio.to_thread(kit.delegate_trading_key, devnet, account, key)
    traders: list[Trader] = []
    for account, key in keys.items():
        sends = Sends()
        client = AsyncClient(
            kit.ws_url(devnet),
            credentials=ClientSignature(*kit.credentials(devnet, account)),
            request_timeout_s=WAIT_S / 2,
            trace=sends,
        )
        await patiently(client.connect)
        traders.append(Trader(account, client, key, sends))
    seller, buyer = traders
    stream = Stream()
    tasks = [asyncio.create_task(stream.run(tag, seller, buyer)) for tag in ("a", "b")]

    async def after_more_orders() -> None:
        target = len(stream.acked) + ORDERS_BETWEEN_KILLS
        async with asyncio.timeout(WAIT_S):
            while len(stream.acked) < target:
                for task in tasks:
                    if task.done():
                        task.result()  # a stream that failed fails the test now
                        raise AssertionError("a stream stopped early")
                await asyncio.sleep(0.01)
        # Kill while an order is on its way, so that its answer is lost.
        async with asyncio.timeout(WAIT_S):
            while not (seller.sends.in_flight or buyer.sends.in_flight):
                await asyncio.sleep(0.001)

    try:
        await after_more_orders()
        await asyncio.to_thread(kit.restart_engine, devnet, *SNAPSHOTS)
        await after_more_orders()
        await asyncio.to_thread(kit.restart_validator, devnet, 0)
        await after_more_orders()
        await asyncio.to_thread(kit.restart_gateway, devnet)
        await after_more_orders()
        stream.stop.set()
        await asyncio.gather(*tasks)
        # Once more, so that the engine recovers from a snapshot taken after the first orders.
        await asyncio.to_thread(kit.restart_engine, devnet, *SNAPSHOTS)
        await resends_are_answered_with_the_original(stream, traders)
        status = await patiently(seller.client.optex_status)
    finally:
        stream.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for trader in traders:
            await trader.client.close()
    lost = sum(t.sends.lost for t in traders)
    assert lost, "no kill cut an order's answer off: the test did not test resending"
    trader_of = {label: t for t in traders for label in t.signed}
    resent = [label for label in stream.acked if len(trader_of[label].send_times_ms(label)) > 1]

    # Through the gateway: every acknowledged order once, with its label, filled or cancelled.
    for account, kinds in (("user0", "s"), ("user1", "bc")):
        reader = AsyncClient(
            kit.ws_url(devnet), credentials=ClientSignature(*kit.credentials(devnet, account))
        )
        await patiently(reader.connect)
        try:
            for label, order_id in stream.acked.items():
                if _kind(label) in kinds:  # each user sees its own orders only
                    order = await patiently(partial(reader.get_order_state, order_id))
                    expected = "cancelled" if label in stream.cancelled else "filled"
                    assert (order.label, order.order_state) == (label, expected)
        finally:
            await reader.close()
    assert len(set(stream.acked.values())) == len(stream.acked)

    # In the journal: each acknowledged order placed and accepted once, and nothing else placed.
    journal = await asyncio.to_thread(kit.replay_journal, devnet, status.details["last_seq"])
    ours = {label: count for label, count in journal.placed.items() if label}
    assert ours == dict.fromkeys([*stream.acked, REFUSED], 1)
    del ours[REFUSED]  # journaled, and refused by the engine
    assert {label: journal.accepted[label] for label in ours} == ours
    # A resent order journaled before its last send had its answer lost after it was placed:
    # the resend was answered with the original (counted to show what the kills hit).
    lost_after_placing = [
        label
        for label in resent
        if journal.placed_ms[label] < trader_of[label].send_times_ms(label)[-1]
    ]
    print(f"{len(stream.acked)} orders, {lost} answers lost, {len(resent)} orders sent again "
          f"(also after 10028), {len(lost_after_placing)} answered from the original")  # fmt: skip
    # The restarted engine's state is a fresh replay's.
    details = status.details
    assert details["snapshot_seq"] > 0
    assert details["last_seq"] == journal.pipeline.last_seq
    assert details["state_hash"] == journal.pipeline.state_hash().hex()

    # On chain: every journaled fill exactly once, none that the engine did not make.
    pairs = sum(1 for label in stream.acked if _kind(label) == "b")
    assert sum(journal.fills.values()) >= pairs  # a buy may take two half-filled sells
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (on_chain := await asyncio.to_thread(kit.chain_fills, devnet)) != journal.fills:
        assert not on_chain - journal.fills, "a fill on chain that the engine did not journal"
        assert asyncio.get_running_loop().time() < deadline, (
            f"not settled: {journal.fills - on_chain}; settle: {kit.settle_status(devnet)}"
        )
        await asyncio.sleep(0.5)
    ledger = Ledger.open(devnet.home / "chain" / "node0")
    try:
        for account in keys:
            record = ledger.account(account)
            engine = journal.pipeline.risk.ledger.accounts[account]
            assert record is not None
            assert record.balances.get("USDC", 0) == engine.balance
            assert record.positions[PERP].quantity == engine.positions[PERP].quantity
    finally:
        ledger.store.close()  # type: ignore[attr-defined]
    assert journal.pipeline.risk.ledger.accounts["user0"].positions[PERP].quantity == (
        -pairs * QUANTITY
    )


async def resends_are_answered_with_the_original(stream: Stream, traders: list[Trader]) -> None:
    """Send orders again whose answers came (from before the engine's restart and from the
    end): the exchange cannot tell a lost answer from a received one, so each is answered with
    the original order as it is now; an order the engine refused is refused again the same
    way; another order reusing a nonce is still refused as a replay. Nothing is placed."""
    labels = [*list(stream.acked)[:3], *list(stream.acked)[-3:]]
    for label in labels:
        trader = next(t for t in traders if label in t.signed)
        again = await patiently(partial(trader.client.send_signed_order, trader.signed[label]))
        expected = "cancelled" if label in stream.cancelled else "filled"
        assert (again.order.order_id, again.order.label) == (stream.acked[label], label)
        assert again.order.order_state == expected
    seller = traders[0]
    too_big = msgspec.structs.replace(
        seller.signed[labels[0]].intent, client_order_id=REFUSED, nonce=0, expiry_ms=0,
        quantity=QUANTITY * 10**6,
    )  # fmt: skip
    order = seller.client.sign_order(too_big, seller.key)
    refusals = []
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            await patiently(partial(seller.client.send_signed_order, order))
        refusals.append((refused.value.code, refused.value.data["reason"]))
    assert refusals[0] == refusals[1] and refusals[0][1] != "order_replayed"
    reused = msgspec.structs.replace(
        seller.signed[labels[0]].intent, client_order_id="reused-nonce", price=PRICE + TICK
    )
    with pytest.raises(ApiError) as replayed:
        await patiently(partial(seller.client.place_signed_order, reused, seller.key))
    assert replayed.value.data["reason"] == "order_replayed"


def _kind(label: str) -> str:
    """``s`` (user0's sell of a pair), ``b`` (user1's buy) or ``c`` (user1's cancelled order):
    labels are the stream's tag, the kind and the pair's number."""
    return label[1]

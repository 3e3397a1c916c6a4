"""The sequencer journals every accepted command before the engine sees it, and nothing else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from optex.core import Conflict, InvalidInput, ManualClock, OptexError, Unauthorized, encode
from optex.crypto import ReplayGuard, SecurityReason, sign_order
from optex.exchange import (
    MAX_COMMAND_BYTES,
    SETTLEMENT_WINDOW_MS,
    Command,
    Event,
    ExchangeReason,
    Pipeline,
    PlaceSignedOrder,
    Sequencer,
    trading_end_ms,
)
from optex.journal import FileJournal, FsyncPolicy, Journal, MemoryJournal
from optex.market import NewOrder, OrderAccepted, Side
from tests.crypto import kit as crypto
from tests.exchange.kit import PERP, order_stream, setup_commands


class Recorder:
    """An engine stand-in that checks each command was journaled before it arrived."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.seen: list[int] = []

    def __call__(self, seq: int, command: Command) -> list[Event]:
        assert self.journal.last_seq >= seq, "the engine saw a command before the journal had it"
        self.seen.append(seq)
        return []


def sequencer(journal: Journal, **options: object) -> tuple[Sequencer, Recorder]:
    recorder = Recorder(journal)
    clock = options.pop("clock", ManualClock(crypto.NOW_MS))
    return Sequencer(journal, recorder, clock=clock, **options), recorder  # type: ignore[arg-type]


async def test_each_command_is_journaled_before_the_engine_sees_it_in_journal_order() -> None:
    journal = MemoryJournal()
    seq, recorder = sequencer(journal)
    receipts = await asyncio.gather(*(seq.submit(c) for c in order_stream(5, 40)))
    assert [r.seq for r in receipts] == list(range(1, 41))
    assert recorder.seen == list(range(1, 41))
    assert len({e.msg_id for e in journal.entries}) == 40


async def test_the_sequencer_stamps_time_from_its_clock_and_never_backwards() -> None:
    class Backwards:
        def __init__(self) -> None:
            self.times = [1_000, 900, 1_100]

        def now_ms(self) -> int:
            return self.times.pop(0)

    journal = MemoryJournal()
    seq, _ = sequencer(journal, clock=Backwards())
    stamps = [(await seq.submit(c)).ts_ms for c in order_stream(1, 3)]
    assert stamps == [1_000, 1_000, 1_100]


@pytest.mark.parametrize(
    "bad",
    [
        b"\xc1not msgpack",
        encode({"type": "NoSuchCommand", "ts_ms": 1}),
        encode({"type": "NewOrder", "ts_ms": 1, "account": "a", "instrument": PERP}),
        encode(
            {
                "type": "NewOrder",
                "ts_ms": "x",
                "account": "a",
                "instrument": PERP,
                "side": "buy",
                "quantity": 1,
            }
        ),
        b"x" * (MAX_COMMAND_BYTES + 1),
    ],
    ids=["not-msgpack", "unknown-type", "missing-fields", "wrong-type", "oversized"],
)
async def test_malformed_or_oversized_commands_are_refused_and_never_journaled(bad: bytes) -> None:
    journal = MemoryJournal()
    seq, recorder = sequencer(journal)
    with pytest.raises(InvalidInput):
        await seq.submit(bad)
    assert journal.last_seq == 0 and recorder.seen == []


async def test_a_bad_account_id_or_key_is_refused_and_never_journaled() -> None:
    journal = MemoryJournal()
    seq, _ = sequencer(journal)
    order = NewOrder(0, "alice smith", PERP, Side.BUY, 100, 1)
    with pytest.raises(InvalidInput, match="account"):
        await seq.submit(order)
    with pytest.raises(InvalidInput) as caught:
        await seq.submit(msgspec.structs.replace(order, account="alice"), key="bad\nkey")
    assert caught.value.reason == "invalid_key"
    assert journal.last_seq == 0


async def test_a_retry_with_the_same_key_is_not_journaled_or_applied_twice() -> None:
    journal = MemoryJournal()
    seq, recorder = sequencer(journal)
    command = order_stream(2, 1)[0]
    first = await seq.submit(command, key="order-1")
    again = await seq.submit(command, key="order-1")
    assert (first.duplicate, again.duplicate, again.seq) == (False, True, first.seq)
    assert journal.last_seq == 1 and recorder.seen == [1]


def signed(**changes: object) -> PlaceSignedOrder:
    intent = crypto.intent(instrument=PERP, **changes)
    return PlaceSignedOrder(0, sign_order(crypto.TRADER, intent))


async def test_signed_orders_are_verified_and_a_replay_is_refused_without_journaling() -> None:
    journal = MemoryJournal()
    seq, _ = sequencer(journal, authority=crypto.delegations(), chain_id=crypto.CHAIN)
    receipt = await seq.submit(signed())
    assert receipt.msg_id.startswith("o:")
    with pytest.raises(Conflict):
        await seq.submit(signed())
    with pytest.raises(Conflict):
        await seq.submit(signed(price=60_000_000))  # same nonce, other order
    assert journal.last_seq == 1


async def test_forged_expired_or_unverifiable_signed_orders_are_never_journaled() -> None:
    journal = MemoryJournal()
    seq, _ = sequencer(journal, authority=crypto.delegations(), chain_id=crypto.CHAIN)
    good = signed()
    forged = PlaceSignedOrder(0, msgspec.structs.replace(good.order, signature=bytes(64)))
    with pytest.raises(Unauthorized):
        await seq.submit(forged)
    with pytest.raises(Unauthorized):
        await seq.submit(signed(nonce=2, expiry_ms=crypto.NOW_MS - 1))
    unverifiable, _ = sequencer(journal)
    with pytest.raises(InvalidInput) as caught:
        await unverifiable.submit(signed(nonce=3))
    assert caught.value.reason == "signed_orders_disabled"
    assert journal.last_seq == 0


async def test_a_signed_order_reaches_the_book_as_its_owner_signed_it() -> None:
    journal = MemoryJournal()
    pipeline = Pipeline()
    seq = Sequencer(
        journal,
        pipeline.apply,
        clock=ManualClock(crypto.NOW_MS),
        authority=crypto.delegations(),
        chain_id=crypto.CHAIN,
        guard=ReplayGuard(),
    )
    for command in setup_commands(crypto.NOW_MS - 10):
        await seq.submit(command)
    await seq.submit(
        msgspec.structs.replace(setup_commands()[2], account=crypto.ACCOUNT)  # a deposit
    )
    receipt = await seq.submit(signed(price=100_000_000_000, quantity=100_000))
    (accepted, *_) = receipt.events
    assert isinstance(accepted, OrderAccepted)
    assert (accepted.account, accepted.price, accepted.quantity) == (
        crypto.ACCOUNT,
        100_000_000_000,
        100_000,
    )
    governing = pipeline.governing_order(accepted.order_id)
    assert governing is not None and governing.intent.nonce == 1
    resting = pipeline.engine.order(accepted.order_id)
    assert resting is not None and resting.expire_ts_ms == trading_end_ms(governing)


async def test_a_signed_order_ending_within_the_settlement_window_is_refused_unjournaled() -> None:
    journal = MemoryJournal()
    guard = ReplayGuard()
    authority = crypto.delegations()
    clock = ManualClock(crypto.NOW_MS)
    seq, _ = sequencer(
        journal, authority=authority, chain_id=crypto.CHAIN, guard=guard, clock=clock
    )
    # Still a valid signature, but a fill could reach the chain after it ends.
    last_ms = crypto.NOW_MS + SETTLEMENT_WINDOW_MS
    late = signed(nonce=7, expiry_ms=last_ms)
    for _ in range(2):  # refused the same way twice: the nonce was not used up
        with pytest.raises(InvalidInput) as caught:
            await seq.submit(late)
        assert caught.value.code is ExchangeReason.EXPIRES_BEFORE_SETTLEMENT
        assert caught.value.details["settlement_window_ms"] == SETTLEMENT_WINDOW_MS
    assert journal.last_seq == 0 and len(guard) == 0
    # One millisecond more leaves a millisecond to trade in: accepted.
    placed = signed(nonce=8, expiry_ms=last_ms + 1)
    await seq.submit(placed)
    assert journal.last_seq == 1
    # Resent once the window has begun, it is a replay (the caller then looks up what became of
    # the original), not a refusal that would hide that the first send was placed.
    clock.advance(5)
    with pytest.raises(Conflict) as replayed:
        await seq.submit(placed)
    assert replayed.value.code is SecurityReason.ORDER_REPLAYED
    assert journal.last_seq == 1


async def test_concurrent_commands_share_one_write_and_fsync(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "journal", fsync=FsyncPolicy.ALWAYS)
    try:
        seq, recorder = sequencer(journal)
        await asyncio.gather(*(seq.submit(c) for c in order_stream(9, 200)))
        assert journal.last_seq == 200 and recorder.seen == list(range(1, 201))
        assert seq.batches < 50, f"{seq.batches} writes for 200 concurrent commands"
    finally:
        await journal.close()


async def test_a_failed_append_stops_the_sequencer_and_applies_nothing() -> None:
    class Broken(MemoryJournal):
        async def append(self, payload: bytes, msg_id: str) -> object:  # type: ignore[override]
            raise OSError("disk on fire")

    journal = Broken()
    seq, recorder = sequencer(journal)
    with pytest.raises(OptexError):
        await seq.submit(order_stream(1, 1)[0])
    with pytest.raises(InvalidInput) as caught:
        await seq.submit(order_stream(1, 1)[0])
    assert caught.value.reason == "sequencer_stopped"
    assert recorder.seen == []

"""The sequencer: every accepted command is journaled before the engine sees it.

:meth:`Sequencer.submit` validates a command completely before anything is written (its shape,
its size, account ids, and for a signed order the signature, key authority, expiry and replay),
assigns its time from the injected clock (never earlier than the last, so the engine never sees
time go backwards) and a message id, and queues it. One writer task takes everything queued
since its last write and appends it as one group (a file journal writes the group with one
``write`` and at most one ``fsync``), then hands each entry to the engine in journal order. A
command refused here is never journaled; a command whose append fails is never applied.

Message ids: ``k:<key>`` for a client's idempotency key (a retry with the same key returns the
original sequence and is not journaled again), ``o:<order hash>`` for a signed order, and
otherwise ``s:<epoch>:<n>``, where the epoch is the journal's length when this sequencer
started, unique for every sequencer that ever wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import msgspec

from optex.core import Clock, InvalidInput, OptexError, decode, encode
from optex.crypto import KeyAuthority, ReplayGuard, SecurityReason, verify_order
from optex.exchange._commands import Command, Event, PlaceSignedOrder, SignedMassQuote
from optex.exchange._quotes import verify_quote
from optex.exchange._reasons import ExchangeReason
from optex.exchange._window import check_settles_in_time
from optex.journal import AppendResult, FileJournal, Journal

MAX_COMMAND_BYTES: Final = 16 * 1024
MAX_KEY_LENGTH: Final = 100
MAX_ACCOUNT_LENGTH: Final = 64
MAX_QUOTES: Final = 256
_ACCOUNT_CHARS: Final = frozenset("_.:-")

Apply = Callable[[int, Command], list[Event]]
"""What the sequencer hands each journaled command to: the engine, in journal order."""


class Receipt(msgspec.Struct, frozen=True):
    """What happened to a submitted command: where it was journaled and the events it caused.

    ``duplicate`` means its idempotency key had been journaled before, at ``seq``; it was not
    journaled or applied again, and ``events`` is empty.
    """

    seq: int
    msg_id: str
    ts_ms: int
    duplicate: bool = False
    events: list[Event] = []


class _Pending:
    __slots__ = ("command", "future", "msg_id", "payload")

    def __init__(
        self, command: Command, payload: bytes, msg_id: str, future: asyncio.Future[Receipt]
    ) -> None:
        self.command = command
        self.payload = payload
        self.msg_id = msg_id
        self.future = future


class Sequencer:
    """Validates, timestamps and journals commands, then applies them in journal order."""

    def __init__(
        self,
        journal: Journal,
        apply: Apply,
        *,
        clock: Clock,
        chain_id: str = "optex-devnet",
        authority: KeyAuthority | None = None,
        guard: ReplayGuard | None = None,
        last_ts_ms: int = 0,
        max_command_bytes: int = MAX_COMMAND_BYTES,
        max_batch: int = 1024,
    ) -> None:
        self.journal = journal
        self._apply = apply
        self.clock = clock
        self.chain_id = chain_id
        self.authority = authority
        self.guard = guard if guard is not None else ReplayGuard()
        self.max_command_bytes = max_command_bytes
        self.max_batch = max_batch
        self._last_ts = last_ts_ms
        self._epoch = journal.last_seq
        self._counter = 0
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._outstanding: set[asyncio.Future[Receipt]] = set()
        self.failure: BaseException | None = None
        self.batches = 0
        self.journaled = 0

    # Accepting -----------------------------------------------------------------------------

    async def submit(self, command: Command | bytes, key: str | None = None) -> Receipt:
        """Validate, journal and apply one command; raises an ``OptexError`` if refused.

        A signed order refused as a replay is refused only once everything accepted before it
        has been applied: the replay may be a client resending an order whose answer it lost,
        and the caller can then look up what became of the original (``signed_outcome`` query).
        """
        try:
            pending = self.accept(command, key)
        except OptexError as exc:
            if exc.code is SecurityReason.ORDER_REPLAYED:
                await self.drain()
            raise
        return await pending

    def accept(self, command: Command | bytes, key: str | None = None) -> asyncio.Future[Receipt]:
        """Validate and queue one command now; the future resolves once it is applied."""
        if self.failure is not None:
            raise InvalidInput(ExchangeReason.SEQUENCER_STOPPED, repr(self.failure))
        checked = self._checked(command)
        ts = max(self.clock.now_ms(), self._last_ts)
        stamped: Any = msgspec.structs.replace(checked, ts_ms=ts)
        if isinstance(stamped, PlaceSignedOrder):
            if self.authority is None:
                raise InvalidInput(ExchangeReason.SIGNED_ORDERS_DISABLED)
            verify_order(stamped.order, chain_id=self.chain_id, now_ms=ts, authority=self.authority)
            # A resend of an order already placed is a replay first: the caller then learns
            # what became of the original, even once the settlement window has begun.
            self.guard.check(stamped.order)
            check_settles_in_time(stamped.order, ts)
        elif isinstance(stamped, SignedMassQuote):
            if self.authority is None:
                raise InvalidInput(ExchangeReason.SIGNED_ORDERS_DISABLED)
            verify_quote(stamped, self.chain_id, ts, self.authority, self.guard)
        msg_id = self._msg_id(stamped, key)
        payload = encode(stamped)
        if isinstance(stamped, PlaceSignedOrder):
            self.guard.remember(stamped.order)
        elif isinstance(stamped, SignedMassQuote):
            for leg in stamped.legs:
                self.guard.remember(leg)
        self._last_ts = ts
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(stamped, payload, msg_id, future))
        self._outstanding.add(future)
        future.add_done_callback(self._outstanding.discard)
        self._ensure_writer()
        self._wakeup.set()
        return future

    def _checked(self, command: Command | bytes) -> Command:
        if isinstance(command, bytes | bytearray | memoryview):
            payload = bytes(command)
        else:
            try:
                payload = encode(command)
            except OptexError as exc:
                raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, exc.message) from None
        if len(payload) > self.max_command_bytes:
            raise InvalidInput(
                ExchangeReason.COMMAND_TOO_LARGE,
                f"a {len(payload)}-byte command is larger than {self.max_command_bytes} bytes",
            )
        try:
            # Decoding checks every field's type, also for commands built in Python.
            checked: Command = decode(payload, Command)  # type: ignore[arg-type]
        except (OptexError, UnicodeDecodeError) as exc:
            message = getattr(exc, "message", str(exc))
            raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, message) from None
        for field in ("account",):
            value = getattr(checked, field, None)
            if value is not None and not _is_account(value):
                raise InvalidInput(ExchangeReason.INVALID_ACCOUNT, f"bad account {value!r:.40}")
        quotes = getattr(checked, "quotes", ())
        if len(quotes) > MAX_QUOTES:
            raise InvalidInput(
                ExchangeReason.COMMAND_TOO_LARGE, f"a mass quote has at most {MAX_QUOTES} quotes"
            )
        return checked

    def _msg_id(self, command: Command, key: str | None) -> str:
        if key is not None:
            if (
                not isinstance(key, str)
                or not 0 < len(key) <= MAX_KEY_LENGTH
                or not key.isascii()
                or not key.isprintable()
            ):
                raise InvalidInput(ExchangeReason.INVALID_KEY, f"bad key {key!r:.40}")
            return f"k:{key}"
        if isinstance(command, PlaceSignedOrder):
            return f"o:{command.order.order_hash.hex()}"
        if isinstance(command, SignedMassQuote) and command.legs:
            # Every leg's nonce is new (the guard), so its first leg names the quote uniquely.
            return f"o:{command.legs[0].order_hash.hex()}"
        self._counter += 1
        return f"s:{self._epoch}:{self._counter}"

    # Writing -------------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_forever())

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    results = await self._append(batch)
                except BaseException as exc:
                    self._stop(exc, batch)
                    if not isinstance(exc, Exception):
                        raise
                    return
                try:
                    self._hand_over(batch, results)
                except BaseException as exc:
                    self._stop(exc, [])
                    if not isinstance(exc, Exception):
                        raise
                    return

    async def _append(self, batch: list[_Pending]) -> list[AppendResult]:
        journal = self.journal
        self.batches += 1
        if isinstance(journal, FileJournal):
            # One write and at most one fsync for the group, off the event loop, so that the
            # next group gathers while this one is on its way to the disk.
            items = [(item.payload, item.msg_id) for item in batch]
            return await asyncio.to_thread(journal.append_many_sync, items)
        # A fenced journal (JetStream) must see appends one at a time, in order.
        return [await journal.append(item.payload, item.msg_id) for item in batch]

    def _hand_over(self, batch: list[_Pending], results: list[AppendResult]) -> None:
        for index, (item, result) in enumerate(zip(batch, results, strict=True)):
            if result.duplicate:
                receipt = Receipt(result.seq, item.msg_id, item.command.ts_ms, duplicate=True)
            else:
                self.journaled += 1
                try:
                    events = self._apply(result.seq, item.command)
                except BaseException as exc:
                    for rest in batch[index:]:
                        if not rest.future.done():
                            rest.future.set_exception(_stopped(exc))
                    raise
                receipt = Receipt(result.seq, item.msg_id, item.command.ts_ms, events=events)
            if not item.future.done():
                item.future.set_result(receipt)

    def _stop(self, exc: BaseException, batch: list[_Pending]) -> None:
        self.failure = exc
        for item in [*batch, *self._pending]:
            if not item.future.done():
                item.future.set_exception(_stopped(exc))
        self._pending.clear()

    async def drain(self) -> None:
        """Wait until everything accepted so far has been journaled and applied."""
        if self._outstanding:
            await asyncio.gather(*self._outstanding, return_exceptions=True)

    async def close(self) -> None:
        """Finish what was accepted, then stop the writer (the journal stays open)."""
        await self.drain()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self.failure is None:
            self.failure = InvalidInput(ExchangeReason.SEQUENCER_STOPPED, "closed")


def _stopped(exc: BaseException) -> OptexError:
    if isinstance(exc, OptexError):
        return exc
    return InvalidInput(ExchangeReason.SEQUENCER_STOPPED, f"{type(exc).__name__}: {exc}")


def _is_account(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ACCOUNT_LENGTH
        and value.isascii()
        and all(ch.isalnum() or ch in _ACCOUNT_CHARS for ch in value)
    )

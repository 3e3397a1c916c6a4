"""The one place that wires the engine's pipeline: journal entry → risk hold → match → risk
release and apply → events.

:class:`Pipeline` is deterministic and does no I/O: it takes journal entries in sequence order
and returns the events each caused. The stages, in the order they run for every entry:

1. **decode** the journaled bytes into a :data:`~optex.exchange.Command` (bytes that do not
   decode become a ``CommandFailed`` event; the sequencer never journals such bytes, so this is
   a foreign or damaged journal, and replay stays deterministic either way);
2. **risk hold**: the matching engine calls the risk engine (its ``pre_trade`` check) before an
   order can touch a book, which holds the margin the order needs or rejects it;
3. **match** in the matching engine;
4. **risk release and apply**: the events go back to the risk engine, which applies fills to
   the ledger and releases (or re-sizes) the margin of orders that filled, cancelled or expired;
5. the events are returned, to be published.

Commands that are the risk engine's alone (deposits, withdrawals, index and mark prices, and
the chain's expiry settlements and funding: ``_chain_events``) are applied to it here as well,
and listing an instrument lists it in both engines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from optex.core import InvalidInput, InvariantViolation, OptexError, decode, encode
from optex.crypto import ReplayGuard, SignedOrder
from optex.exchange._chain_events import apply_chain_event
from optex.exchange._commands import (
    Command,
    CommandFailed,
    Deposit,
    Deposited,
    Event,
    PayFunding,
    PlaceSignedOrder,
    SetPrices,
    SettleExpiry,
    SignedMassQuote,
    Withdraw,
    Withdrawn,
    order_of,
)
from optex.exchange._quotes import apply_quote
from optex.exchange._reasons import ExchangeReason, SnapshotCorrupt
from optex.exchange._signed import SignedOrders
from optex.exchange._state import (
    FORMAT_VERSION,
    SnapshotRecord,
    combined_hash,
    governing_hash,
    replay_hash,
    restore_risk,
    risk_hash,
    risk_record,
)
from optex.exchange._window import SETTLEMENT_WINDOW_MS, trading_end_ms
from optex.journal import JournalEntry
from optex.market import (
    AddInstrument,
    AmendOrder,
    MatchingEngine,
    OrderRejected,
    PriceSource,
    UpdatePrice,
)
from optex.market import Event as MarketEvent
from optex.risk import PPM, RiskEngine, RiskParams, add_instrument, debit_withdrawal, deposit


class Pipeline:
    """The matching engine with the risk engine as its pre-trade check, fed from the journal.

    ``last_seq`` is the sequence of the last journal entry applied; entries must come in order,
    each exactly once, or :meth:`apply` raises :class:`~optex.core.InvariantViolation`.
    """

    def __init__(self, params: Mapping[str, RiskParams] | None = None) -> None:
        self.risk = RiskEngine(params or {})
        self.engine = MatchingEngine(pre_trade=self.risk)
        self.last_seq = 0
        self.signed = SignedOrders()
        """The signed order that governs each live order (``_signed``)."""
        self.replay = ReplayGuard()
        """The nonces of every signed order journaled: the sequencer's guard, rebuilt from the
        journal, so that a restarted sequencer refuses what was accepted before."""

    # Applying ------------------------------------------------------------------------------

    def apply_entry(self, entry: JournalEntry) -> list[Event]:
        """Decode and apply one journal entry."""
        try:
            command: Command = decode(entry.payload, Command)  # type: ignore[arg-type]
        except (OptexError, UnicodeDecodeError) as exc:
            self._advance(entry.seq)
            message = getattr(exc, "message", str(exc))
            failure = InvalidInput(ExchangeReason.MALFORMED_COMMAND, message)
            return [self._failed(entry.seq, self.engine.now_ms, failure)]
        return self.apply(entry.seq, command)

    def apply(self, seq: int, command: Command) -> list[Event]:
        """Apply the command journaled at ``seq``; the events it caused, in order."""
        self._advance(seq)
        try:
            return self._dispatch(seq, command)
        except InvariantViolation:
            raise
        except OptexError as exc:
            return [self._failed(seq, command.ts_ms, exc)]

    def _advance(self, seq: int) -> None:
        if seq != self.last_seq + 1:
            raise InvariantViolation(
                f"journal entry {seq} arrived after {self.last_seq}: entries must come in order, "
                "each exactly once"
            )
        self.last_seq = seq

    def _dispatch(self, seq: int, command: Command) -> list[Event]:
        if isinstance(command, PlaceSignedOrder):
            return self._place_signed(command)
        if isinstance(command, SignedMassQuote):
            return apply_quote(
                command,
                self.engine,
                self.signed,
                self.replay,
                self._trade,
                instrument_expiry=self.instrument_expiry,
            )
        if isinstance(command, Deposit):
            return self._deposit(command)
        if isinstance(command, Withdraw):
            return self._withdraw(command)
        if isinstance(command, SetPrices):
            return self._set_prices(command)
        if isinstance(command, SettleExpiry | PayFunding):
            return apply_chain_event(self.risk, command)
        if isinstance(command, AddInstrument):
            return self._list(command)
        return self._trade(command)

    def _trade(self, command: Command) -> list[Event]:
        # Risk hold happens inside process (the engine's pre-trade check); the events then
        # release or apply what was held.
        events: list[MarketEvent] = self.engine.process(command)  # type: ignore[arg-type]
        self.risk.apply(events)
        if self.signed.governing:
            self.signed.closed(events, self.engine)
        return list(events)

    def _place_signed(self, command: PlaceSignedOrder) -> list[Event]:
        # A new signed order opens an order it then governs; a signed replacement amends the
        # order its predecessor governs and governs it from then on (``_signed``).
        order = command.order
        # The sequencer journals no replay, so this raises only on a damaged or foreign journal
        # (a CommandFailed that changed nothing).
        self.replay.remember(order)
        digest = self.signed.remember(order)
        try:
            if not order.intent.is_replacement:
                expiry = self.instrument_expiry(order.intent.instrument)
                closing = _closing(command, expiry)
                if closing is not None:
                    return [closing]
                events = self._trade(order_of(command, expiry))
                self.signed.placed(
                    digest,
                    order.intent.account,
                    events,  # type: ignore[arg-type]
                    self.engine,
                )
                return events
            amend = self.signed.amend_for(order, command.ts_ms, self.engine)
            if not isinstance(amend, AmendOrder):
                return [amend]
            events = self._trade(amend)
            assert amend.order_id is not None  # noqa: S101 - narrowing: amend_for names it
            self.signed.replaced(amend.order_id, digest, events)  # type: ignore[arg-type]
            return events
        finally:
            self.signed.release(digest)

    def instrument_expiry(self, name: str) -> int | None:
        """The expiry of a listed instrument; ``None`` for a perpetual or an unlisted name (the
        market refuses those with its own reason)."""
        instrument = self.risk.ledger.instruments.get(name)
        return None if instrument is None else instrument.expiry_ms

    def _list(self, command: AddInstrument) -> list[Event]:
        instrument = command.instrument
        if instrument.name in self.risk.ledger.instruments:
            return self._trade(command)  # the engine refuses the duplicate with its own code
        events = self._trade(command)
        add_instrument(self.risk.ledger, instrument)
        self.risk.params.setdefault(instrument.underlying, RiskParams())
        return events

    def _deposit(self, command: Deposit) -> list[Event]:
        if not isinstance(command.amount, int) or isinstance(command.amount, bool):
            raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, "a deposit amount is an integer")
        deposit(self.risk.ledger, command.account, command.amount)
        balance = self.risk.ledger.accounts[command.account].balance
        return [Deposited(command.ts_ms, command.account, command.amount, balance)]

    def _withdraw(self, command: Withdraw) -> list[Event]:
        amount = command.amount
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise InvalidInput(
                ExchangeReason.MALFORMED_COMMAND, "a withdrawal amount is an integer"
            )
        ledger = self.risk.ledger
        if command.account not in ledger.accounts:
            raise InvalidInput(
                ExchangeReason.INVALID_ACCOUNT,
                f"{command.account!r} has no account to withdraw from",
            )
        if command.force:
            debit_withdrawal(ledger, command.account, amount)
        else:
            self.risk.withdraw(command.account, amount)
        balance = ledger.accounts[command.account].balance
        return [Withdrawn(command.ts_ms, command.account, amount, balance, command.withdrawal_id)]

    def _set_prices(self, command: SetPrices) -> list[Event]:
        # Everything is checked before anything changes, so a bad mark leaves no half-update.
        books = self.engine.instruments()
        for name, mark in command.marks.items():
            if name not in books:
                raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, f"{name!r} is not listed")
            if type(mark.price) is not int or mark.price <= 0:
                raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, f"mark of {name} must be > 0")
            if not math.isfinite(mark.delta) or abs(mark.delta) > 1:
                raise InvalidInput(
                    ExchangeReason.MALFORMED_COMMAND, f"delta of {name} is not in [-1, 1]"
                )
        for underlying, price in command.index.items():
            if type(price) is not int or price <= 0:
                raise InvalidInput(
                    ExchangeReason.MALFORMED_COMMAND, f"index of {underlying} must be positive"
                )
        events: list[Event] = []
        ts = command.ts_ms
        for name, mark in sorted(command.marks.items()):
            delta_ppm = round(mark.delta * PPM)
            events += self._trade(UpdatePrice(ts, name, PriceSource.MARK, mark.price, delta_ppm))
        for underlying, price in sorted(command.index.items()):
            for name in books:
                if self.risk.ledger.instruments[name].underlying == underlying:
                    events += self._trade(UpdatePrice(ts, name, PriceSource.INDEX, price))
        prices = self.risk.prices
        prices.index.update(command.index)
        prices.marks.update(command.marks)
        prices.ts_ms = max(prices.ts_ms, ts)
        return events

    def _failed(self, seq: int, ts_ms: int, exc: OptexError) -> CommandFailed:
        return CommandFailed(ts_ms, seq, int(exc.code), exc.reason, exc.message)

    # State ---------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The time of the last command applied."""
        return self.engine.now_ms

    def governing_order(self, order_id: int) -> SignedOrder | None:
        """The signed order that governs live order ``order_id`` (``None``: not signed)."""
        return self.signed.governing_order(order_id)

    def state_hash(self) -> bytes:
        """The combined hash: matching engine, risk engine and last sequence (``_state``)."""
        return combined_hash(
            self.engine.state_hash(),
            risk_hash(self.risk),
            self.last_seq,
            governing_hash(self.signed.governing),
            replay_hash(self.replay),
        )

    def snapshot(self) -> bytes:
        """Everything needed to resume after :attr:`last_seq`, as canonical bytes."""
        record = SnapshotRecord(
            version=FORMAT_VERSION,
            last_seq=self.last_seq,
            state_hash=self.state_hash(),
            engine=self.engine.snapshot(),
            risk=risk_record(self.risk),
            signed=self.signed.kept(),
            governing={str(k): v for k, v in self.signed.governing.items()},
            nonces=self.replay.export(),
        )
        return encode(record)

    @classmethod
    def restore(cls, data: bytes, params: Mapping[str, RiskParams] | None = None) -> Pipeline:
        """A pipeline in the state of a :meth:`snapshot`; its hash is checked against the one
        the snapshot recorded."""
        record = decode(data, SnapshotRecord)
        if record.version != FORMAT_VERSION:
            raise SnapshotCorrupt(f"snapshot format {record.version} is not {FORMAT_VERSION}")
        pipeline = cls(params)
        risk = pipeline.risk
        risk.ledger = record.risk.ledger
        risk.prices = record.risk.prices
        for instrument in risk.ledger.instruments.values():
            risk.params.setdefault(instrument.underlying, RiskParams())
        restore_risk(risk, record.risk)
        pipeline.engine = MatchingEngine.restore(record.engine, pre_trade=risk)
        pipeline.last_seq = record.last_seq
        pipeline.signed.restore(record.signed, record.governing)
        pipeline.replay = ReplayGuard.restore(record.nonces)
        if pipeline.state_hash() != record.state_hash:
            raise SnapshotCorrupt("the restored state does not have the hash the snapshot recorded")
        return pipeline


def _closing(command: PlaceSignedOrder, instrument_expiry_ms: int | None) -> OrderRejected | None:
    """The rejection of a new signed order on an instrument in its last settlement window.

    The sequencer checked the signature's end; the instrument's is known only here. Rejected
    like any order the market refuses: the nonce is used (as the sequencer's guard has it), and
    nothing else changes.
    """
    if trading_end_ms(command.order, instrument_expiry_ms) > command.ts_ms:
        return None
    intent = command.order.intent
    code = ExchangeReason.EXPIRES_BEFORE_SETTLEMENT
    message = (
        f"{intent.instrument} expires within the settlement window ({SETTLEMENT_WINDOW_MS} ms): "
        "a fill could not settle on chain"
    )
    return OrderRejected(
        command.ts_ms,
        intent.account,
        intent.client_order_id or None,
        None,
        int(code),
        code.reason,
        message,
    )

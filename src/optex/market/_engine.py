"""The matching engine: one book per instrument, commands in order, events out.

A pure, deterministic state machine: no clock, no randomness, no I/O. ``process`` takes one
command and returns the events it caused, in the order they happened. Within one command the
order is always: orders expired by the passage of time, then the command's own events (accepted
or rejected, fills, cancellations, book deltas), then market maker protection, then stop and
take-profit orders that the new prices trigger.

The hot path (new limit order, cancel, amend, match) is written for CPython: attribute lookups
hoisted into locals, no per-fill allocation beyond the events that must be returned, and the
pre-trade hook skipped entirely when the null check is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from optex.core import CoreReason, Instrument, InvalidInput
from optex.market import _state
from optex.market._book import Book, Order
from optex.market._checks import PreTradeCheck, bad_int
from optex.market._messages import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Command,
    Event,
    MassCancel,
    MassQuote,
    NewOrder,
    PriceSource,
    ResetMmp,
    SetMmpConfig,
    SetPosition,
    SetSelfTradePrevention,
    StpMode,
    UpdatePrice,
)
from optex.market._mmp import MmpState
from optex.market._quotes import Quoter
from optex.market._reasons import MarketReason

_ORDER_COMMANDS = (NewOrder, CancelOrder, AmendOrder, MassCancel, MassQuote)
_Check = Callable[[Any], None]


# Enum members as module constants: in CPython 3.11 reading a member off its class costs
# about 190 ns (EnumType.__getattr__), more than most of what the hot path does.
_SRC_INDEX = PriceSource.INDEX
_SRC_MARK = PriceSource.MARK


def _nothing(command: AdvanceTime, events: list[Event]) -> None:
    """AdvanceTime only moves the clock (expiring what is due), which ``process`` does."""


_SOURCES = tuple(PriceSource)
_STP_MODES = tuple(StpMode)


def _check_names(cmd: Any, *fields: str) -> None:
    """Account and group names must be strings: anything else would be stored and then fail
    to encode in the events and the state hash."""
    for field in fields:
        value = getattr(cmd, field)
        if type(value) is not str:
            raise InvalidInput(
                MarketReason.INVALID_FIELD, f"{field} must be a string, not {value!r:.40}"
            )


class MatchingEngine(Quoter):
    """Price-time priority matching for many instruments, with every order type of the issue.

    ``pre_trade`` is called once for every order and amendment that could trade, before it
    touches the book (see :class:`~optex.market.PreTradeCheck`); the default accepts all.
    """

    def __init__(
        self, instruments: Iterable[Instrument] = (), pre_trade: PreTradeCheck | None = None
    ) -> None:
        super().__init__(pre_trade)
        # The order commands are dispatched in ``process`` by their type (a C call when the
        # package is compiled); the administrative ones through this table, each with the check
        # that must pass before time moves.
        self._table: dict[type[Any], tuple[Callable[[Any, list[Event]], None], _Check | None]] = {
            UpdatePrice: (self._update_price, self._check_update_price),
            SetPosition: (self._set_position, self._check_set_position),
            SetSelfTradePrevention: (self._set_stp, self._check_set_stp),
            SetMmpConfig: (self._set_mmp, self._check_mmp_config),
            ResetMmp: (self._reset_mmp, self._check_reset_mmp),
            AddInstrument: (self._add_instrument, self._check_add_instrument),
            AdvanceTime: (_nothing, None),
        }
        for instrument in instruments:
            self.add_instrument(instrument)

    @property
    def now_ms(self) -> int:
        """The time of the last command processed."""
        return self._now

    def instruments(self) -> list[str]:
        """The names of the listed instruments, sorted."""
        return sorted(self._books)

    def order(self, order_id: int) -> Order | None:
        """A live order (resting or untriggered), or ``None``."""
        return self._orders.get(order_id)

    def open_orders(self, account: str | None = None) -> list[Order]:
        """Live orders, optionally of one account, in order of acceptance."""
        return [o for o in self._orders.values() if account is None or o.account == account]

    def state_hash(self) -> bytes:
        """SHA-256 of the engine's whole state, from its contents (see ``_state``)."""
        return _state.state_hash(self)

    def snapshot(self) -> bytes:
        """The engine's whole state as canonical bytes; :meth:`restore` reads them back."""
        return _state.snapshot(self)

    @classmethod
    def restore(cls, data: bytes, pre_trade: PreTradeCheck | None = None) -> MatchingEngine:
        """An engine in the state of a :meth:`snapshot`, with the same :meth:`state_hash`."""
        engine = cls(pre_trade=pre_trade)
        _state.restore_into(engine, data)
        return engine

    def mmp_frozen(self, account: str, group: str) -> bool:
        """Whether market maker protection has frozen the group now."""
        state = self._mmp.get((account, group))
        return state is not None and state.is_frozen(self._now)

    def add_instrument(
        self, instrument: Instrument, band_bps: int | None = None, band_min: int = 0
    ) -> None:
        """List an instrument outside the command stream (at construction, in tests)."""
        command = AddInstrument(self._now, instrument, band_bps, band_min)
        self._check_add_instrument(command)
        self._add_instrument(command, [])

    def process(self, command: Command) -> list[Event]:
        """Apply one command; the events it caused, in order.

        A bad order command gives an :class:`OrderRejected` and changes nothing; a bad
        administrative command (prices, positions, settings) raises
        :class:`optex.core.InvalidInput` before anything changes.
        """
        kind = type(command)
        if (
            kind is NewOrder
            or kind is AmendOrder
            or kind is CancelOrder
            or kind is MassQuote
            or kind is MassCancel
        ):
            ts = command.ts_ms
            if type(ts) is not int or ts < self._now:
                return self._stale(command)
            events: list[Event] = []
            if ts >= self._next_deadline:
                self._expire(ts, events)
            self._now = ts
            if type(command) is NewOrder:
                self._new_order(command, events)
            elif type(command) is AmendOrder:
                self._amend_order(command, events)
            elif type(command) is CancelOrder:
                self._cancel_order(command, events)
            elif type(command) is MassQuote:
                self._mass_quote(command, events)
            elif type(command) is MassCancel:
                self._mass_cancel(command, events)
            return events
        entry = self._table.get(kind)
        if entry is None:
            raise InvalidInput(
                CoreReason.INVALID_ARGUMENT, f"{kind.__name__} is not a market command"
            )
        handler, check = entry
        ts = command.ts_ms
        if type(ts) is not int or ts < self._now:
            return self._stale(command)
        if check is not None:
            check(command)
        events = []
        if ts >= self._next_deadline:
            self._expire(ts, events)
        self._now = ts
        handler(command, events)
        return events

    def _stale(self, command: Any) -> list[Event]:
        code = MarketReason.STALE_TIMESTAMP
        if type(command.ts_ms) is not int:
            code = MarketReason.NOT_AN_INTEGER
        message = f"ts_ms {command.ts_ms!r} is before {self._now}, the last time processed"
        if isinstance(command, _ORDER_COMMANDS):
            return [self._rejection(command, code, message)]
        raise InvalidInput(code, message)

    def _check_add_instrument(self, cmd: AddInstrument) -> None:
        if not isinstance(cmd.instrument, Instrument):
            raise InvalidInput(MarketReason.UNKNOWN_INSTRUMENT, "instrument must be an Instrument")
        if cmd.instrument.name in self._books:
            raise InvalidInput(
                MarketReason.DUPLICATE_INSTRUMENT, f"{cmd.instrument.name} is already listed"
            )
        if cmd.band_bps is not None and bad_int(cmd.band_bps, "band_bps") is not None:
            raise InvalidInput(MarketReason.NOT_POSITIVE, "band_bps must be a positive integer")
        if type(cmd.band_min) is not int or cmd.band_min < 0:
            raise InvalidInput(MarketReason.NOT_AN_INTEGER, "band_min must be an integer >= 0")

    def _add_instrument(self, cmd: AddInstrument, events: list[Event]) -> None:
        inst = cmd.instrument
        self._books[inst.name] = Book(inst, cmd.band_bps, cmd.band_min)
        if inst.expiry_ms is not None:
            self._push_deadline((inst.expiry_ms, 1, 0, inst.name))

    def _known_book(self, instrument: str) -> Book:
        book = self._books.get(instrument)
        if book is None:
            raise InvalidInput(MarketReason.UNKNOWN_INSTRUMENT, f"{instrument!r} is not listed")
        return book

    def _check_update_price(self, cmd: UpdatePrice) -> None:
        self._known_book(cmd.instrument)
        if cmd.source not in _SOURCES:
            raise InvalidInput(
                MarketReason.INVALID_FIELD, f"source {cmd.source!r} is not one of {_SOURCES}"
            )
        problem = bad_int(cmd.price, "price")
        if problem is not None:
            raise InvalidInput(*problem)
        if cmd.delta_ppm is not None and (
            type(cmd.delta_ppm) is not int or abs(cmd.delta_ppm) > 1_000_000
        ):
            raise InvalidInput(
                MarketReason.NOT_AN_INTEGER, "delta_ppm must be an integer in [-1e6, 1e6]"
            )

    def _update_price(self, cmd: UpdatePrice, events: list[Event]) -> None:
        book = self._books[cmd.instrument]
        source = PriceSource(cmd.source)
        if source is _SRC_MARK:
            book.mark = cmd.price
        elif source is _SRC_INDEX:
            book.index = cmd.price
        else:
            book.last = cmd.price
        if cmd.delta_ppm is not None:
            book.delta_ppm = cmd.delta_ppm
        if book.stops:
            self._run_triggers(book, events, cmd.ts_ms)

    def _check_set_position(self, cmd: SetPosition) -> None:
        _check_names(cmd, "account")
        self._known_book(cmd.instrument)
        if type(cmd.position) is not int:
            raise InvalidInput(MarketReason.NOT_AN_INTEGER, "position must be an integer")

    def _set_position(self, cmd: SetPosition, events: list[Event]) -> None:
        self._books[cmd.instrument].positions[cmd.account] = cmd.position

    def _check_set_stp(self, cmd: SetSelfTradePrevention) -> None:
        _check_names(cmd, "account")
        if cmd.mode not in _STP_MODES:
            raise InvalidInput(
                MarketReason.INVALID_FIELD, f"mode {cmd.mode!r} is not one of {_STP_MODES}"
            )

    def _set_stp(self, cmd: SetSelfTradePrevention, events: list[Event]) -> None:
        self._stp[cmd.account] = StpMode(cmd.mode)

    def _check_mmp_config(self, cmd: SetMmpConfig) -> None:
        _check_names(cmd, "account", "mmp_group")
        for name in ("interval_ms", "quantity_limit", "delta_limit"):
            if bad_int(getattr(cmd, name), name) is not None:
                raise InvalidInput(MarketReason.INVALID_MMP_CONFIG, f"{name} must be positive")
        if type(cmd.frozen_ms) is not int or cmd.frozen_ms < 0:
            raise InvalidInput(MarketReason.INVALID_MMP_CONFIG, "frozen_ms must be >= 0")

    def _set_mmp(self, cmd: SetMmpConfig, events: list[Event]) -> None:
        key = (cmd.account, cmd.mmp_group)
        state = self._mmp.get(key)
        if state is None:
            self._mmp[key] = MmpState(
                cmd.interval_ms, cmd.frozen_ms, cmd.quantity_limit, cmd.delta_limit
            )
            return
        state.interval_ms = cmd.interval_ms
        state.frozen_ms = cmd.frozen_ms
        state.quantity_limit = cmd.quantity_limit
        state.delta_limit = cmd.delta_limit

    def _check_reset_mmp(self, cmd: ResetMmp) -> None:
        if (cmd.account, cmd.mmp_group) not in self._mmp:
            raise InvalidInput(
                MarketReason.MMP_GROUP_UNKNOWN, f"{cmd.account} has no group {cmd.mmp_group!r}"
            )

    def _reset_mmp(self, cmd: ResetMmp, events: list[Event]) -> None:
        state = self._mmp[cmd.account, cmd.mmp_group]
        state.frozen = False
        state.frozen_until_ms = 0
        state.clear()

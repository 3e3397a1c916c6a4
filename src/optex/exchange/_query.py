"""Read-only answers from the engine's live state: what a gateway shows its clients.

The engine service answers ``query`` requests from the pipeline it runs (books, prices, the
risk ledger) and from :class:`Queries`, a small index it keeps beside the pipeline, fed with
every journal entry's command and events in journal order: the recent trades of each instrument
and of each account, and the record of each order (live ones and a bounded number of closed
ones), with the details a client asks about later (average fill price, why it was cancelled).
Nothing here feeds back into matching or risk, and none of it is part of the state hash: it is
derived and bounded in memory.

Closed orders (filled, cancelled, expired) are the order history: at most
:data:`CLOSED_PER_ACCOUNT` per account (an account's oldest closed record goes first) and
:data:`CLOSED_ORDERS_KEPT` in all (the oldest closed record of anyone goes first), so one busy
account cannot push everyone else's history out and the index stays bounded whatever the flow.
The order records (live and closed) are saved with every engine snapshot (:meth:`Queries.save`,
at the snapshot's sequence) and loaded with it (:meth:`Queries.load`), then the journal entries
after the snapshot are observed again, as the pipeline applies them: history survives a restart.
Trades, 24-hour statistics and average entry prices are rebuilt from those entries only.

Answers are plain msgpack-able values in optex's integer units (prices in settlement base units
per whole underlying, quantities in underlying base units); converting them to a client's units
is the gateway's job.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import msgspec

from optex.core import InstrumentKind, InvalidInput, NotFound
from optex.exchange._commands import (
    Command,
    CommandFailed,
    Event,
    PlaceSignedOrder,
    SignedMassQuote,
    order_of,
)
from optex.exchange._pipeline import Pipeline
from optex.exchange._reasons import ExchangeReason
from optex.market import (
    CancelReason,
    Fill,
    MarketReason,
    MassQuote,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderState,
    OrderTriggered,
    Side,
)
from optex.risk import RiskReason, params_for, trade_fee

MAX_DEPTH: Final = 1000
MAX_COUNT: Final = 1000
TRADES_KEPT: Final = 1000
"""Trades kept per instrument and per account."""
CLOSED_ORDERS_KEPT: Final = 100_000
"""Closed order records kept in all (about 300 bytes each: some 30 MB at most)."""
CLOSED_PER_ACCOUNT: Final = 1_000
"""Closed order records kept per account: Deribit's ``count`` maximum, so one page of the
longest history a client can ask for is always whole."""
STATS_WINDOW_MS: Final = 24 * 3600 * 1000
STATS_KEPT: Final = 100_000
SIGNED_OUTCOMES_KEPT: Final = 100_000
"""Signed orders whose outcome is remembered by order hash, for answering a resent one."""


class OrderView(msgspec.Struct):
    """One order as a client sees it; ``filled_cash`` is the sum of price x quantity filled
    (raw products, so ``filled_cash // filled`` is the average price)."""

    order_id: int
    account: str
    instrument: str
    side: str
    order_type: str
    price: int | None
    quantity: int
    created_ms: int
    updated_ms: int
    state: str = OrderState.OPEN.value
    filled: int = 0
    filled_cash: int = 0
    client_order_id: str | None = None
    tif: str = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    trigger_price: int | None = None
    display_quantity: int | None = None
    cancel_reason: str | None = None
    signed: bool = False


class TradeView(msgspec.Struct, frozen=True):
    """A fill with the prices and fees of its moment (fees in settlement base units)."""

    seq: int
    trade_id: int
    ts_ms: int
    instrument: str
    price: int
    quantity: int
    aggressor_side: str
    maker_order_id: int
    maker_account: str
    taker_order_id: int
    taker_account: str
    maker_fee: int = 0
    taker_fee: int = 0
    mark: int | None = None
    index: int | None = None


class SignedOutcome(msgspec.Struct, frozen=True):
    """What became of one signed order: accepted as ``order_id``, or refused with ``code``."""

    account: str
    order_id: int | None = None
    code: int = 0
    reason: str = ""
    message: str = ""


class SavedOrders(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The order records at one journal sequence, as :meth:`Queries.save` writes them."""

    seq: int
    orders: list[OrderView]
    closed: list[int]
    """Closed order ids, oldest closed first (the eviction order)."""
    signed: list[tuple[bytes, SignedOutcome]] = []
    """Signed orders' outcomes by order hash, oldest first (the eviction order)."""


class _Entry(msgspec.Struct):
    """Running average entry of one account's position in one instrument."""

    quantity: int = 0
    cost: int = 0  # raw price x quantity of the open position, signed like the quantity


_Handler = Callable[[Pipeline, Mapping[str, Any]], Any]


class Queries:
    """The derived, bounded index beside the pipeline, and the answers to ``query`` requests."""

    def __init__(self) -> None:
        self.orders: dict[int, OrderView] = {}
        self._closed: OrderedDict[int, None] = OrderedDict()
        self._closed_by_account: dict[str, OrderedDict[int, None]] = {}
        self.trades: dict[str, deque[TradeView]] = {}
        self.user_trades: dict[str, deque[TradeView]] = {}
        self._stats: dict[str, deque[tuple[int, int, int]]] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}
        # Order hash -> what became of it: what a signed order sent again is told.
        self.signed_outcomes: OrderedDict[bytes, SignedOutcome] = OrderedDict()
        self._handlers: dict[str, _Handler] = {
            "instruments": self._instruments,
            "book": self._book,
            "ticker": self._ticker,
            "trades": self._trades,
            "open_orders": self._open_orders,
            "order": self._order,
            "orders": self._orders_by_id,
            "order_history": self._order_history,
            "signed_outcome": self._signed_outcome_of,
            "user_trades": self._user_trades,
            "account": self._account,
        }

    @property
    def names(self) -> list[str]:
        """The query names this index answers."""
        return sorted(self._handlers)

    # Observing -----------------------------------------------------------------------------

    def observe(
        self, seq: int, command: Command | None, events: Iterable[Event], pipeline: Pipeline
    ) -> None:
        """Record one journal entry's events (``command`` gives order details events lack)."""
        details = _order_details(command)
        if isinstance(command, PlaceSignedOrder):
            self._signed_outcome(command, events)
        for event in events:
            if isinstance(event, OrderAccepted):
                self._accepted(event, details)
            elif isinstance(event, Fill):
                self._fill(seq, event, pipeline)
            elif isinstance(event, OrderCancelled):
                self._ended(event, OrderState.CANCELLED, event.reason)
            elif isinstance(event, OrderExpired):
                self._ended(event, OrderState.EXPIRED, None)
            elif isinstance(event, OrderAmended):
                self._amended(event)
            elif isinstance(event, OrderTriggered):
                view = self.orders.get(event.order_id)
                if view is not None:
                    view.state = OrderState.OPEN.value
                    view.updated_ms = event.ts_ms

    def _accepted(self, event: OrderAccepted, details: Mapping[str, Any] | None) -> None:
        view = OrderView(
            order_id=event.order_id,
            account=event.account,
            instrument=event.instrument,
            side=event.side.value,
            order_type=event.order_type.value,
            price=event.price,
            quantity=event.quantity,
            created_ms=event.ts_ms,
            updated_ms=event.ts_ms,
            client_order_id=event.client_order_id,
        )
        if details is not None:
            view.tif = details["tif"]
            view.post_only = details["post_only"]
            view.reduce_only = details["reduce_only"]
            view.trigger_price = details["trigger_price"]
            view.display_quantity = details["display_quantity"]
            view.signed = details["signed"]
        if event.order_type.is_triggered:
            view.state = OrderState.UNTRIGGERED.value
        self.orders[event.order_id] = view

    def _signed_outcome(self, command: PlaceSignedOrder, events: Iterable[Event]) -> None:
        """Remember what became of a signed order, so that the same order sent again (a client
        that lost the answer retries it) is answered with the original outcome."""
        account = command.order.intent.account
        outcome: SignedOutcome | None = None
        for event in events:
            if isinstance(event, OrderAccepted) and event.account == account:
                outcome = SignedOutcome(account, order_id=event.order_id)
            elif isinstance(event, CommandFailed) or (
                isinstance(event, OrderRejected) and event.account == account
            ):
                outcome = SignedOutcome(account, None, event.code, event.reason, event.message)
            if outcome is not None:
                break
        if outcome is None:
            return
        self.signed_outcomes[command.order.order_hash] = outcome
        while len(self.signed_outcomes) > SIGNED_OUTCOMES_KEPT:
            self.signed_outcomes.popitem(last=False)

    def _fill(self, seq: int, fill: Fill, pipeline: Pipeline) -> None:
        risk = pipeline.risk
        instrument = risk.ledger.instruments.get(fill.instrument)
        index = None
        maker_fee = taker_fee = 0
        if instrument is not None:
            index = risk.prices.index.get(instrument.underlying)
            fees = params_for(risk.params, instrument.underlying).fees
            if index is not None:
                maker_fee = trade_fee(
                    instrument, fill.price, fill.quantity, index=index, maker=True, fees=fees
                )
                taker_fee = trade_fee(
                    instrument, fill.price, fill.quantity, index=index, maker=False, fees=fees
                )
        mark = risk.prices.marks.get(fill.instrument)
        trade = TradeView(
            seq=seq,
            trade_id=fill.trade_id,
            ts_ms=fill.ts_ms,
            instrument=fill.instrument,
            price=fill.price,
            quantity=fill.quantity,
            aggressor_side=fill.aggressor_side.value,
            maker_order_id=fill.maker_order_id,
            maker_account=fill.maker_account,
            taker_order_id=fill.taker_order_id,
            taker_account=fill.taker_account,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            mark=None if mark is None else mark.price,
            index=index,
        )
        _append(self.trades, fill.instrument, trade, TRADES_KEPT)
        _append(self.user_trades, fill.maker_account, trade, TRADES_KEPT)
        if fill.taker_account != fill.maker_account:
            _append(self.user_trades, fill.taker_account, trade, TRADES_KEPT)
        stats = self._stats.setdefault(fill.instrument, deque(maxlen=STATS_KEPT))
        stats.append((fill.ts_ms, fill.price, fill.quantity))
        taker_buys = fill.aggressor_side is Side.BUY
        for order_id, account, buys in (
            (fill.maker_order_id, fill.maker_account, not taker_buys),
            (fill.taker_order_id, fill.taker_account, taker_buys),
        ):
            self._move_entry(account, fill.instrument, fill.price, fill.quantity, buys)
            view = self.orders.get(order_id)
            if view is None:
                continue
            view.filled += fill.quantity
            view.filled_cash += fill.price * fill.quantity
            view.updated_ms = fill.ts_ms
            if view.filled >= view.quantity:
                view.state = OrderState.FILLED.value
                self._close(order_id)
            else:
                view.state = OrderState.PARTIALLY_FILLED.value

    def _move_entry(self, account: str, instrument: str, price: int, size: int, buys: bool) -> None:
        entry = self._entries.setdefault((account, instrument), _Entry())
        delta = size if buys else -size
        if entry.quantity == 0 or (entry.quantity > 0) == (delta > 0):
            entry.quantity += delta
            entry.cost += price * delta
            return
        if abs(delta) <= abs(entry.quantity):
            # Reducing: the rest keeps its average entry price.
            remaining = entry.quantity + delta
            entry.cost = entry.cost * remaining // entry.quantity if remaining else 0
            entry.quantity = remaining
            return
        entry.quantity += delta  # flipped: the new position entered at this price
        entry.cost = price * entry.quantity

    def _ended(
        self, event: OrderCancelled | OrderExpired, state: OrderState, reason: CancelReason | None
    ) -> None:
        view = self.orders.get(event.order_id)
        if view is None:
            return
        view.state = state.value
        view.updated_ms = event.ts_ms
        view.cancel_reason = None if reason is None else reason.value
        self._close(event.order_id)

    def _amended(self, event: OrderAmended) -> None:
        view = self.orders.get(event.order_id)
        if view is None:
            return
        view.price = event.price
        view.quantity = event.quantity
        view.trigger_price = event.trigger_price
        view.updated_ms = event.ts_ms

    def _close(self, order_id: int) -> None:
        view = self.orders.get(order_id)
        if view is None or order_id in self._closed:
            return
        self._closed[order_id] = None
        mine = self._closed_by_account.setdefault(view.account, OrderedDict())
        mine[order_id] = None
        if len(mine) > CLOSED_PER_ACCOUNT:
            self._forget(next(iter(mine)))
        while len(self._closed) > CLOSED_ORDERS_KEPT:
            self._forget(next(iter(self._closed)))

    def _forget(self, order_id: int) -> None:
        """Drop a closed order's record from every index."""
        self._closed.pop(order_id, None)
        view = self.orders.pop(order_id, None)
        if view is None:
            return
        mine = self._closed_by_account.get(view.account)
        if mine is not None:
            mine.pop(order_id, None)
            if not mine:
                del self._closed_by_account[view.account]

    # Saving --------------------------------------------------------------------------------

    def save(self, seq: int) -> bytes:
        """The order records (live and closed) as of journal sequence ``seq``, to keep beside
        the engine snapshot of the same sequence."""
        saved = SavedOrders(
            seq, list(self.orders.values()), list(self._closed), list(self.signed_outcomes.items())
        )
        return msgspec.msgpack.encode(saved)

    @classmethod
    def load(cls, data: bytes, seq: int) -> Queries | None:
        """An index holding the order records :meth:`save` wrote at ``seq``; ``None`` when the
        data is of another sequence or unreadable (the caller then starts from empty, as before
        any snapshot: history is derived, never worth refusing to start over)."""
        try:
            saved = msgspec.msgpack.decode(data, type=SavedOrders)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if saved.seq != seq:
            return None
        queries = cls()
        queries.orders = {view.order_id: view for view in saved.orders}
        queries.signed_outcomes = OrderedDict(saved.signed)
        for order_id in saved.closed:
            view = queries.orders.get(order_id)
            if view is not None:
                queries._closed[order_id] = None
                queries._closed_by_account.setdefault(view.account, OrderedDict())[order_id] = None
        return queries

    # Answering -----------------------------------------------------------------------------

    def answer(self, pipeline: Pipeline, name: str, args: Mapping[str, Any]) -> Any:
        """The answer to query ``name``; a clear error for an unknown query or bad argument."""
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, f"no query {name!r:.40}")
        if not isinstance(args, Mapping):
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "query arguments are a map")
        return handler(pipeline, args)

    def _instruments(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        now = pipeline.now_ms
        ledger = pipeline.risk.ledger
        return [
            {
                "instrument": msgspec.to_builtins(ledger.instruments[name]),
                "expired": ledger.instruments[name].is_expired(now),
            }
            for name in pipeline.engine.instruments()
            if name in ledger.instruments
        ]

    def _book(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        name = _instrument(pipeline, args)
        depth = _count(args, "depth", MAX_DEPTH, default=MAX_DEPTH)
        book = pipeline.engine.book(name)
        bids, asks = book.depth(depth)
        answer = self._top(pipeline, name)
        answer["bids"] = [list(level) for level in bids]
        answer["asks"] = [list(level) for level in asks]
        return answer

    def _top(self, pipeline: Pipeline, name: str) -> dict[str, Any]:
        book = pipeline.engine.book(name)
        bids, asks = book.depth(1)
        prices = pipeline.risk.prices
        instrument = pipeline.risk.ledger.instruments[name]
        mark = prices.marks.get(name)
        return {
            "instrument": name,
            "seq": pipeline.last_seq,
            "ts_ms": pipeline.now_ms,
            "best_bid": bids[0] if bids else None,
            "best_ask": asks[0] if asks else None,
            "last": book.last,
            "mark": None if mark is None else msgspec.to_builtins(mark),
            "index": prices.index.get(instrument.underlying),
            "stats": self._stats_of(name, pipeline.now_ms),
            "open_interest": sum(
                account.positions[name].quantity
                for account in pipeline.risk.ledger.accounts.values()
                if name in account.positions and account.positions[name].quantity > 0
            ),
        }

    def _ticker(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        return self._top(pipeline, _instrument(pipeline, args))

    def _stats_of(self, name: str, now_ms: int) -> dict[str, Any]:
        stats = self._stats.get(name)
        window = [s for s in (stats or ()) if s[0] > now_ms - STATS_WINDOW_MS]
        if not window:
            return {"high": None, "low": None, "volume": 0, "volume_cash": 0, "count": 0}
        return {
            "high": max(price for _, price, _ in window),
            "low": min(price for _, price, _ in window),
            "volume": sum(quantity for _, _, quantity in window),
            "volume_cash": sum(price * quantity for _, price, quantity in window),
            "count": len(window),
        }

    def _trades(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        name = _instrument(pipeline, args)
        return _window(self.trades.get(name, deque()), args)

    def _user_trades(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        account = _account(args)
        instrument = _optional_str(args, "instrument")
        order_id = args.get("order_id")
        trade_ids = args.get("trade_ids")
        if trade_ids is not None and (
            not isinstance(trade_ids, list) or len(trade_ids) > MAX_COUNT
        ):
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "trade_ids is a list")
        wanted = None if trade_ids is None else set(trade_ids)

        def keep(trade: TradeView) -> bool:
            return (
                (instrument is None or trade.instrument == instrument)
                and (order_id is None or order_id in (trade.maker_order_id, trade.taker_order_id))
                and (wanted is None or trade.trade_id in wanted)
            )

        return _window(self.user_trades.get(account, deque()), args, keep)

    def _open_orders(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        account = _account(args)
        instrument = _optional_str(args, "instrument")
        views = []
        for order in pipeline.engine.open_orders(account):
            if instrument is not None and order.instrument != instrument:
                continue
            view = self.orders.get(order.order_id)
            if view is not None:
                views.append(msgspec.to_builtins(view))
        return views

    def _order(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        account = _account(args)
        order_id = args.get("order_id")
        view = self.orders.get(order_id) if type(order_id) is int else None
        if view is None or view.account != account:
            raise NotFound(MarketReason.UNKNOWN_ORDER, f"no order {order_id!r:.30} of {account}")
        return msgspec.to_builtins(view)

    def _signed_outcome_of(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        """What became of the signed order with hash ``hash`` (hex) of ``account``: a
        :class:`SignedOutcome`, with its ``order_id`` if it was accepted, else ``None`` and the
        refusal's ``code``, ``reason`` and ``message``."""
        account = _account(args)
        digest = args.get("hash")
        try:
            key = bytes.fromhex(digest) if isinstance(digest, str) else b""
        except ValueError:
            key = b""
        outcome = self.signed_outcomes.get(key)
        if outcome is None or outcome.account != account:
            raise NotFound(MarketReason.UNKNOWN_ORDER, f"no signed order {digest!r:.70}")
        return msgspec.to_builtins(outcome)

    def _orders_by_id(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        account = _account(args)
        ids = args.get("order_ids")
        if not isinstance(ids, list) or len(ids) > MAX_COUNT:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "order_ids is a list")
        views = [self.orders.get(i) for i in ids if type(i) is int]
        return [msgspec.to_builtins(v) for v in views if v is not None and v.account == account]

    def _order_history(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        """An account's closed orders, most recently closed first: ``count`` of them after
        skipping ``offset``, of one ``instrument`` or of an ``underlying`` and ``kind``
        (``option`` or ``future``), closed at or after ``since_ms``; fully unfilled ones only
        with ``include_unfilled``."""
        account = _account(args)
        instrument = _optional_str(args, "instrument")
        underlying = _optional_str(args, "underlying")
        kind = _optional_str(args, "kind")
        if kind not in (None, "option", "future"):
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "kind is option or future")
        since = _optional_int(args, "since_ms")
        count = _count(args, "count", MAX_COUNT, default=20)
        offset = _optional_int(args, "offset") or 0
        if not 0 <= offset <= CLOSED_ORDERS_KEPT:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "offset is 0 or more")
        unfilled = args.get("include_unfilled", False)
        if not isinstance(unfilled, bool):
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "include_unfilled is a boolean")
        listed = pipeline.risk.ledger.instruments
        chosen: list[Any] = []
        skipped = 0
        for order_id in reversed(self._closed_by_account.get(account, ())):
            view = self.orders[order_id]
            if since is not None and view.updated_ms < since:
                break  # closed in journal order, so everything further back is older still
            if instrument is not None and view.instrument != instrument:
                continue
            if underlying is not None or kind is not None:
                found = listed.get(view.instrument)
                if found is None or underlying not in (None, found.underlying):
                    continue
                is_option = found.kind is InstrumentKind.OPTION
                if kind is not None and (kind == "option") != is_option:
                    continue
            if view.filled == 0 and not unfilled:
                continue
            if skipped < offset:
                skipped += 1
                continue
            chosen.append(msgspec.to_builtins(view))
            if len(chosen) == count:
                break
        return chosen

    def _account(self, pipeline: Pipeline, args: Mapping[str, Any]) -> Any:
        account = _account(args)
        risk = pipeline.risk
        holder = risk.ledger.accounts.get(account)
        if holder is None:
            raise NotFound(RiskReason.UNKNOWN_ACCOUNT, f"{account} has no deposit")
        equity = risk.equity(account)
        margin = risk.margin(account)
        positions = []
        for name, position in sorted(holder.positions.items()):
            if position.quantity == 0:
                continue
            entry = self._entries.get((account, name))
            average = (
                entry.cost // entry.quantity
                if entry is not None and entry.quantity == position.quantity and entry.quantity
                else None
            )
            mark = risk.prices.marks.get(name)
            positions.append(
                {
                    "instrument": name,
                    "quantity": position.quantity,
                    "cost": position.cost,
                    "average_price": average,
                    "mark": None if mark is None else msgspec.to_builtins(mark),
                }
            )
        return {
            "account": account,
            "balance": holder.balance,
            "equity": equity,
            "initial_margin": margin.initial,
            "maintenance_margin": margin.maintenance,
            "portfolio_margin": holder.portfolio_margin,
            "positions": positions,
            "open_orders": len(pipeline.engine.open_orders(account)),
        }


def _order_details(command: Command | None) -> dict[str, Any] | None:
    if isinstance(command, PlaceSignedOrder):
        order = order_of(command)
        signed = True
    elif isinstance(command, NewOrder):
        order = command
        signed = False
    elif isinstance(command, MassQuote | SignedMassQuote):
        return {
            "tif": "gtc",
            "post_only": isinstance(command, SignedMassQuote) or command.post_only.value != "off",
            "reduce_only": False,
            "trigger_price": None,
            "display_quantity": None,
            "signed": isinstance(command, SignedMassQuote),
        }
    else:
        return None
    return {
        "tif": order.tif.value,
        "post_only": order.post_only.value != "off",
        "reduce_only": order.reduce_only,
        "trigger_price": order.trigger_price,
        "display_quantity": order.display_quantity,
        "signed": signed,
    }


def _append(table: dict[str, deque[TradeView]], key: str, trade: TradeView, kept: int) -> None:
    kept_trades = table.get(key)
    if kept_trades is None:
        kept_trades = table[key] = deque(maxlen=kept)
    kept_trades.append(trade)


def _window(
    trades: deque[TradeView],
    args: Mapping[str, Any],
    keep: Callable[[TradeView], bool] | None = None,
) -> list[Any]:
    """The latest ``count`` trades that ``keep`` accepts in the time range, oldest first.

    Scanned newest first and stopped at ``count``: the trades asked for are nearly always the
    latest (the gateway reads an order's fills right after they happen), so a query does not
    walk the whole kept history.
    """
    count = _count(args, "count", MAX_COUNT, default=10)
    start = _optional_int(args, "start_ms")
    end = _optional_int(args, "end_ms")
    chosen: list[TradeView] = []
    for trade in reversed(trades):
        if end is not None and trade.ts_ms > end:
            continue
        if start is not None and trade.ts_ms < start:
            break  # kept in time order: everything further back is older still
        if keep is not None and not keep(trade):
            continue
        chosen.append(trade)
        if len(chosen) == count:
            break
    return [msgspec.to_builtins(t) for t in reversed(chosen)]


def _instrument(pipeline: Pipeline, args: Mapping[str, Any]) -> str:
    name = args.get("instrument")
    if not isinstance(name, str) or name not in pipeline.risk.ledger.instruments:
        raise NotFound(MarketReason.UNKNOWN_INSTRUMENT, f"{name!r:.70} is not listed")
    return name


def _account(args: Mapping[str, Any]) -> str:
    account = args.get("account")
    if not isinstance(account, str) or not 0 < len(account) <= 64:
        raise InvalidInput(ExchangeReason.INVALID_ACCOUNT, "an account id is required")
    return account


def _optional_str(args: Mapping[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, f"{name} is text")
    return value


def _optional_int(args: Mapping[str, Any], name: str) -> int | None:
    value = args.get(name)
    if value is not None and type(value) is not int:
        raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, f"{name} is an integer")
    return value


def _count(args: Mapping[str, Any], name: str, most: int, *, default: int) -> int:
    value = args.get(name, default)
    if type(value) is not int or not 0 < value <= most:
        raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, f"{name} is 1 to {most}")
    return value

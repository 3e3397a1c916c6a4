"""An obviously-correct reference book: plain lists, linear scans, no cleverness.

It implements the same rules as :class:`optex.market.MatchingEngine` for everything except
market maker protection, mass quotes and instrument expiry (those have unit tests of their
own), and emits the same events minus :class:`BookDelta` (whose correctness is checked by
replaying the deltas against ``depth``). Each resting order carries a sequence number; the best
maker is found by scanning every order for the best (price, sequence), one fill at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optex.core import Instrument
from optex.market import (
    AmendOrder,
    CancelOrder,
    CancelReason,
    Fill,
    MarketReason,
    MassCancel,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    OrderType,
    PostOnly,
    PriceSource,
    SetPosition,
    SetSelfTradePrevention,
    Side,
    StpMode,
    TimeInForce,
    UpdatePrice,
)

MARKET = {OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}
STOPS = {OrderType.STOP_LIMIT, OrderType.STOP_MARKET}
TAKE_PROFITS = {OrderType.TAKE_PROFIT_LIMIT, OrderType.TAKE_PROFIT_MARKET}


@dataclass
class RefOrder:
    oid: int
    account: str
    cid: str | None
    side: Side
    otype: OrderType
    price: int | None
    quantity: int
    tif: TimeInForce
    expire: int | None
    display: int
    post_only: PostOnly
    reduce_only: bool
    stp: StpMode
    trigger: PriceSource
    trigger_price: int | None
    remaining: int = 0
    filled: int = 0
    cancelled: int = 0
    visible: int = 0
    seq: int = 0
    waiting: bool = False  # an untriggered stop
    resting: bool = False


class ReferenceBook:
    """One instrument, every rule spelled out."""

    def __init__(self, instrument: Instrument) -> None:
        self.inst = instrument
        self.orders: list[RefOrder] = []  # live: resting or waiting, in id order
        self.positions: dict[str, int] = {}
        self.prices: dict[PriceSource, int] = {}
        self.stp: dict[str, StpMode] = {}
        self.now = 0
        self.next_id = 1
        self.next_trade = 1
        self.next_seq = 1

    # helpers -------------------------------------------------------------------------------

    def reject(self, cmd: Any, code: MarketReason, oid: int | None = None) -> OrderRejected:
        return OrderRejected(
            cmd.ts_ms,
            cmd.account,
            getattr(cmd, "client_order_id", None),
            oid if oid is not None else getattr(cmd, "order_id", None),
            int(code),
            code.reason,
            "",
        )

    def crosses(self, taker: RefOrder, maker: RefOrder) -> bool:
        if taker.price is None:
            return True
        assert maker.price is not None
        return maker.price <= taker.price if taker.side is Side.BUY else maker.price >= taker.price

    def best_maker(self, taker: RefOrder) -> RefOrder | None:
        best = None
        for o in self.orders:
            if not o.resting or o.side is taker.side:
                continue
            if best is None:
                best = o
                continue
            assert o.price is not None and best.price is not None
            better = o.price < best.price if o.side is Side.SELL else o.price > best.price
            if better or (o.price == best.price and o.seq < best.seq):
                best = o
        if best is not None and self.crosses(taker, best):
            return best
        return None

    def reducible(self, account: str, side: Side) -> int:
        position = self.positions.get(account, 0)
        if side is Side.BUY:
            return max(-position, 0)
        return max(position, 0)

    def fired(self, o: RefOrder) -> int | None:
        price = self.prices.get(o.trigger)
        if price is None or o.trigger_price is None:
            return None
        buy = o.side is Side.BUY
        if o.otype in STOPS:
            hit = price >= o.trigger_price if buy else price <= o.trigger_price
        else:
            hit = price <= o.trigger_price if buy else price >= o.trigger_price
        return price if hit else None

    def end(self, o: RefOrder, reason: CancelReason | None, ts: int, out: list[Any]) -> None:
        quantity = o.remaining
        o.cancelled += quantity
        o.remaining = o.visible = 0
        if o in self.orders:
            self.orders.remove(o)
        o.resting = o.waiting = False
        if reason is None:
            out.append(OrderExpired(ts, o.oid, o.account, self.inst.name, quantity))
        else:
            out.append(OrderCancelled(ts, o.oid, o.account, self.inst.name, quantity, reason))

    def amended(self, o: RefOrder, ts: int, kept: bool) -> OrderAmended:
        return OrderAmended(
            ts,
            o.oid,
            o.account,
            self.inst.name,
            o.price,
            o.quantity,
            o.remaining,
            o.trigger_price,
            kept,
        )

    # commands ------------------------------------------------------------------------------

    def process(self, cmd: Any) -> list[Any]:
        out: list[Any] = []
        if cmd.ts_ms < self.now:
            return [self.reject(cmd, MarketReason.STALE_TIMESTAMP)]
        ts = cmd.ts_ms
        while True:
            due = [o for o in self.orders if o.expire is not None and o.expire <= ts]
            if not due:
                break
            first = min(due, key=lambda o: (o.expire, o.oid))
            assert first.expire is not None
            self.end(first, None, first.expire, out)
        self.now = ts
        if isinstance(cmd, NewOrder):
            self.new_order(cmd, out)
        elif isinstance(cmd, CancelOrder):
            o = self.lookup(cmd)
            if o is None:
                out.append(self.reject(cmd, MarketReason.UNKNOWN_ORDER))
            else:
                self.end(o, CancelReason.USER, ts, out)
        elif isinstance(cmd, AmendOrder):
            self.amend(cmd, out)
        elif isinstance(cmd, MassCancel):
            for o in [o for o in self.orders if o.account == cmd.account]:
                self.end(o, CancelReason.MASS_CANCEL, ts, out)
        elif isinstance(cmd, UpdatePrice):
            self.prices[cmd.source] = cmd.price
            self.run_triggers(ts, out)
        elif isinstance(cmd, SetPosition):
            self.positions[cmd.account] = cmd.position
        elif isinstance(cmd, SetSelfTradePrevention):
            self.stp[cmd.account] = cmd.mode
        else:
            raise TypeError(cmd)
        return out

    def lookup(self, cmd: CancelOrder | AmendOrder) -> RefOrder | None:
        for o in self.orders:
            if o.account != cmd.account:
                continue
            if cmd.order_id is not None:
                if o.oid == cmd.order_id:
                    return o
            elif cmd.client_order_id is not None and o.cid == cmd.client_order_id:
                return o
        return None

    def check_quantity(self, q: Any) -> MarketReason | None:
        if type(q) is not int:
            return MarketReason.NOT_AN_INTEGER
        if q <= 0:
            return MarketReason.NOT_POSITIVE
        if q % self.inst.lot_size:
            return MarketReason.QUANTITY_OFF_LOT
        if q // self.inst.lot_size < self.inst.min_lots:
            return MarketReason.BELOW_MIN_SIZE
        if q // self.inst.lot_size > self.inst.max_lots:
            return MarketReason.ABOVE_MAX_SIZE
        return None

    def check_price(self, p: Any) -> MarketReason | None:
        if type(p) is not int:
            return MarketReason.NOT_AN_INTEGER
        if p <= 0:
            return MarketReason.NOT_POSITIVE
        if p % self.inst.tick_size:
            return MarketReason.PRICE_OFF_TICK
        return None

    def static_problem(self, cmd: NewOrder) -> MarketReason | None:
        problem = self.check_quantity(cmd.quantity)
        if problem:
            return problem
        market = cmd.order_type in MARKET
        if cmd.price is None:
            if not market:
                return MarketReason.PRICE_REQUIRED
        elif problem := self.check_price(cmd.price):
            return problem
        if cmd.order_type in STOPS | TAKE_PROFITS:
            if cmd.trigger_price is None:
                return MarketReason.TRIGGER_PRICE_REQUIRED
            if problem := self.check_price(cmd.trigger_price):
                return problem
            probe = RefOrder(
                0,
                "",
                None,
                cmd.side,
                cmd.order_type,
                None,
                0,
                cmd.tif,
                None,
                0,
                PostOnly.OFF,
                False,
                StpMode.ALLOW,
                cmd.trigger,
                cmd.trigger_price,
            )
            if self.fired(probe) is not None:
                return MarketReason.TRIGGER_ALREADY_REACHED
        elif cmd.trigger_price is not None:
            return MarketReason.INVALID_COMBINATION
        if cmd.tif is TimeInForce.GTD or (
            cmd.tif is TimeInForce.GTC and cmd.expire_ts_ms is not None
        ):
            if cmd.expire_ts_ms is None:
                return MarketReason.EXPIRY_TIME_REQUIRED
            if cmd.expire_ts_ms <= cmd.ts_ms:
                return MarketReason.EXPIRY_TIME_PASSED
        elif cmd.expire_ts_ms is not None:
            return MarketReason.INVALID_COMBINATION
        immediate = market or cmd.tif in (TimeInForce.IOC, TimeInForce.FOK)
        if cmd.post_only is not PostOnly.OFF and immediate:
            return MarketReason.INVALID_COMBINATION
        if cmd.display_quantity is not None:
            if market:
                return MarketReason.INVALID_COMBINATION
            d = cmd.display_quantity
            if d <= 0 or d % self.inst.lot_size or d > cmd.quantity:
                return MarketReason.INVALID_DISPLAY_QUANTITY
        return None

    def best_price(self, side: Side) -> int | None:
        prices = [o.price for o in self.orders if o.resting and o.side is side]
        if not prices:
            return None
        return max(prices) if side is Side.BUY else min(prices)  # type: ignore[type-var]

    def post_only_price(self, side: Side, price: int, mode: PostOnly) -> int | None:
        tick = self.inst.tick_size
        if side is Side.BUY:
            best = self.best_price(Side.SELL)
            if best is None or price < best:
                return price
            new = best - tick
        else:
            best = self.best_price(Side.BUY)
            if best is None or price > best:
                return price
            new = best + tick
        return None if mode is PostOnly.REJECT or new <= 0 else new

    def new_order(self, cmd: NewOrder, out: list[Any]) -> None:
        problem = self.static_problem(cmd)
        if problem:
            out.append(self.reject(cmd, problem))
            return
        if cmd.client_order_id is not None and any(
            o.account == cmd.account and o.cid == cmd.client_order_id for o in self.orders
        ):
            out.append(self.reject(cmd, MarketReason.DUPLICATE_CLIENT_ORDER_ID))
            return
        triggered = cmd.order_type in STOPS | TAKE_PROFITS
        quantity = cmd.quantity
        lot = self.inst.lot_size
        if cmd.reduce_only and not triggered:
            quantity = min(quantity, self.reducible(cmd.account, cmd.side) // lot * lot)
            if not quantity:
                out.append(self.reject(cmd, MarketReason.REDUCE_ONLY_WOULD_INCREASE))
                return
        price = cmd.price
        if cmd.post_only is not PostOnly.OFF and not triggered:
            assert price is not None
            price = self.post_only_price(cmd.side, price, cmd.post_only)
            if price is None:
                out.append(self.reject(cmd, MarketReason.POST_ONLY_WOULD_CROSS))
                return
        o = RefOrder(
            self.next_id,
            cmd.account,
            cmd.client_order_id,
            cmd.side,
            cmd.order_type,
            price,
            quantity,
            cmd.tif,
            cmd.expire_ts_ms,
            cmd.display_quantity if cmd.display_quantity and cmd.display_quantity < quantity else 0,
            cmd.post_only,
            cmd.reduce_only,
            cmd.stp or self.stp.get(cmd.account, StpMode.ALLOW),
            cmd.trigger,
            cmd.trigger_price,
            remaining=quantity,
        )
        self.next_id += 1
        out.append(
            OrderAccepted(
                cmd.ts_ms, o.oid, o.account, o.cid, self.inst.name, o.side, o.otype, price, quantity
            )
        )
        if triggered:
            o.waiting = True
            self.orders.append(o)
            return
        self.execute(o, cmd.ts_ms, out)
        self.run_triggers(cmd.ts_ms, out)

    def fillable(self, taker: RefOrder) -> int:
        # Simulate on copies: the plain way to be sure the answer matches real matching.
        saved = [(o, o.remaining, o.visible, o.seq, o.filled, o.resting) for o in self.orders]
        back = self.next_seq + 10**9
        positions = dict(self.positions)
        total = 0
        remaining = taker.remaining
        while remaining:
            m = self.best_maker(taker)
            if m is None:
                break
            if taker.stp is not StpMode.ALLOW and m.account == taker.account:
                if taker.stp is not StpMode.CANCEL_MAKER:
                    break
                m.resting = False
                continue
            q = min(remaining, m.visible)
            if m.reduce_only:
                q = min(q, self.reducible(m.account, m.side))
                if not q:
                    m.resting = False
                    continue
            remaining -= q
            total += q
            m.remaining -= q
            m.visible -= q
            self.positions[m.account] = self.positions.get(m.account, 0) + (
                q if m.side is Side.BUY else -q
            )
            self.positions[taker.account] = self.positions.get(taker.account, 0) + (
                q if taker.side is Side.BUY else -q
            )
            if not m.remaining or (m.reduce_only and not self.reducible(m.account, m.side)):
                m.resting = False
            elif not m.visible:
                m.visible = min(m.display, m.remaining)
                m.seq = back
                back += 1
        for o, rem, vis, seq, filled, resting in saved:
            o.remaining, o.visible, o.seq, o.filled, o.resting = rem, vis, seq, filled, resting
        self.positions = positions
        return total

    def execute(self, o: RefOrder, ts: int, out: list[Any]) -> None:
        if o.tif is TimeInForce.FOK and self.fillable(o) < o.remaining:
            self.end(o, CancelReason.FILL_OR_KILL, ts, out)
            return
        stopped = None
        while o.remaining:
            m = self.best_maker(o)
            if m is None:
                break
            if o.stp is not StpMode.ALLOW and m.account == o.account:
                if o.stp is not StpMode.CANCEL_TAKER:
                    self.end(m, CancelReason.SELF_TRADE, ts, out)
                if o.stp is not StpMode.CANCEL_MAKER:
                    stopped = CancelReason.SELF_TRADE
                    break
                continue
            q = min(o.remaining, m.visible)
            if m.reduce_only:
                allowed = self.reducible(m.account, m.side)
                if not allowed:
                    self.end(m, CancelReason.REDUCE_ONLY, ts, out)
                    continue
                q = min(q, allowed)
            assert m.price is not None
            out.append(
                Fill(
                    ts,
                    self.next_trade,
                    self.inst.name,
                    m.price,
                    q,
                    o.side,
                    m.oid,
                    m.account,
                    o.oid,
                    o.account,
                )
            )
            self.next_trade += 1
            self.prices[PriceSource.LAST] = m.price
            for who, sign in ((m, 1), (o, 1)):
                who.remaining -= q
                who.filled += q
                delta = q if who.side is Side.BUY else -q
                self.positions[who.account] = self.positions.get(who.account, 0) + delta * sign
            m.visible -= q
            if not m.remaining:
                self.orders.remove(m)
                m.resting = False
            elif m.reduce_only and not self.reducible(m.account, m.side):
                self.end(m, CancelReason.REDUCE_ONLY, ts, out)
            elif not m.visible:
                m.visible = min(m.display, m.remaining)
                m.seq = self.next_seq
                self.next_seq += 1
        if not o.remaining:
            if o in self.orders:
                self.orders.remove(o)
            return
        if stopped is not None:
            self.end(o, stopped, ts, out)
        elif o.otype in MARKET:
            other = Side.SELL if o.side is Side.BUY else Side.BUY
            has_other = self.best_price(other) is not None
            self.end(
                o,
                CancelReason.PRICE_PROTECTION if has_other else CancelReason.NO_LIQUIDITY,
                ts,
                out,
            )
        elif o.tif in (TimeInForce.IOC, TimeInForce.FOK):
            self.end(o, CancelReason.IMMEDIATE_OR_CANCEL, ts, out)
        else:
            o.visible = min(o.display, o.remaining) if o.display else o.remaining
            o.seq = self.next_seq
            self.next_seq += 1
            o.resting = True
            o.waiting = False
            if o not in self.orders:
                self.orders.append(o)
                self.orders.sort(key=lambda x: x.oid)

    def run_triggers(self, ts: int, out: list[Any]) -> None:
        while True:
            fired = None
            for o in self.orders:
                if o.waiting and (price := self.fired(o)) is not None:
                    fired = (o, price)
                    break
            if fired is None:
                return
            o, price = fired
            o.waiting = False
            assert o.trigger_price is not None
            out.append(OrderTriggered(ts, o.oid, o.account, self.inst.name, o.trigger_price, price))
            if o.reduce_only:
                lot = self.inst.lot_size
                allowed = min(o.remaining, self.reducible(o.account, o.side) // lot * lot)
                if not allowed:
                    self.end(o, CancelReason.REDUCE_ONLY, ts, out)
                    continue
                if allowed < o.remaining:
                    o.quantity -= o.remaining - allowed
                    o.remaining = allowed
                    out.append(self.amended(o, ts, kept=False))
            self.execute(o, ts, out)

    def amend(self, cmd: AmendOrder, out: list[Any]) -> None:
        o = self.lookup(cmd)
        if o is None:
            out.append(self.reject(cmd, MarketReason.UNKNOWN_ORDER))
            return
        if cmd.price is not None and (problem := self.check_price(cmd.price)):
            out.append(self.reject(cmd, problem))
            return
        if cmd.quantity is not None:
            if problem := self.check_quantity(cmd.quantity):
                out.append(self.reject(cmd, problem))
                return
            if cmd.quantity <= o.filled:
                out.append(self.reject(cmd, MarketReason.AMEND_BELOW_FILLED))
                return
        if cmd.trigger_price is not None:
            if not o.waiting:
                out.append(self.reject(cmd, MarketReason.INVALID_COMBINATION))
                return
            if problem := self.check_price(cmd.trigger_price):
                out.append(self.reject(cmd, problem))
                return
            probe = RefOrder(
                0,
                "",
                None,
                o.side,
                o.otype,
                None,
                0,
                o.tif,
                None,
                0,
                PostOnly.OFF,
                False,
                StpMode.ALLOW,
                o.trigger,
                cmd.trigger_price,
            )
            if self.fired(probe) is not None:
                out.append(self.reject(cmd, MarketReason.TRIGGER_ALREADY_REACHED))
                return
        price = o.price if cmd.price is None else cmd.price
        quantity = o.quantity if cmd.quantity is None else cmd.quantity
        trigger_price = o.trigger_price if cmd.trigger_price is None else cmd.trigger_price
        if price != o.price and not o.waiting and o.post_only is not PostOnly.OFF:
            assert price is not None
            price = self.post_only_price(o.side, price, o.post_only)
            if price is None:
                out.append(self.reject(cmd, MarketReason.POST_ONLY_WOULD_CROSS))
                return
        if price == o.price and quantity == o.quantity and trigger_price == o.trigger_price:
            out.append(self.reject(cmd, MarketReason.NOTHING_TO_AMEND))
            return
        remaining = quantity - o.filled
        ts = cmd.ts_ms
        if o.waiting:
            o.price, o.quantity, o.remaining, o.trigger_price = (
                price,
                quantity,
                remaining,
                trigger_price,
            )
            out.append(self.amended(o, ts, kept=True))
            return
        if price == o.price and remaining <= o.remaining:
            o.quantity, o.remaining = quantity, remaining
            o.visible = min(o.visible, remaining)
            out.append(self.amended(o, ts, kept=True))
            return
        o.resting = False
        o.price, o.quantity, o.remaining = price, quantity, remaining
        out.append(self.amended(o, ts, kept=False))
        self.execute(o, ts, out)
        self.run_triggers(ts, out)

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        levels: dict[tuple[Side, int], int] = {}
        for o in self.orders:
            if o.resting:
                assert o.price is not None
                levels[o.side, o.price] = levels.get((o.side, o.price), 0) + o.visible
        bids = sorted(((p, q) for (s, p), q in levels.items() if s is Side.BUY), reverse=True)
        asks = sorted((p, q) for (s, p), q in levels.items() if s is Side.SELL)
        return bids, asks

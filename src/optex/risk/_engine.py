"""The risk engine: margin per account, the pre-trade check and fills into the ledger.

:class:`RiskEngine` plugs into ``optex.market.MatchingEngine`` as its
:class:`~optex.market.PreTradeCheck`: an order passes only if the account's initial margin with
all its open orders and this one stays within its equity; the rejection says by how much it is
short. Orders that only reduce a position always pass, as on Deribit, so that an account can
always get smaller (and the liquidator can trade for it). The engine's events are fed back with
:meth:`RiskEngine.apply`, which applies fills to the ledger and mirrors open orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from optex.core import Instrument, InstrumentKind, InsufficientFunds, OptexError, Rounding
from optex.market import (
    EngineView,
    Event,
    Fill,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRequest,
    Rejection,
    Side,
)
from optex.risk._ledger import (
    Ledger,
    Movement,
    Trade,
    account_of,
    apply_trade,
    debit_withdrawal,
    instrument_of,
)
from optex.risk._money import PPM, div_round
from optex.risk._params import RiskParams, params_for
from optex.risk._portfolio import portfolio_margin
from optex.risk._prices import Prices
from optex.risk._reasons import RiskReason
from optex.risk._standard import OpenOrder, Requirement, equity, standard_margin


class _Resting(msgspec.Struct):
    account: str
    instrument: str
    signed: int
    price: int


class RestingOrder(msgspec.Struct, frozen=True, array_like=True):
    """An open order as the risk engine reserves margin for it: ``signed`` is + buy, - sell."""

    order_id: int
    account: str
    instrument: str
    signed: int
    price: int


def band_price(instrument: Instrument, mark: int, buy: bool, band_ppm: int) -> int:
    """The mark worsened by ``band_ppm`` for the side, on the tick grid (at least one tick)."""
    tick = instrument.tick_size
    if buy:
        limit = div_round(mark * (PPM + band_ppm), PPM * tick, Rounding.CEILING) * tick
    else:
        limit = div_round(mark * (PPM - band_ppm), PPM * tick, Rounding.FLOOR) * tick
    return max(limit, tick)


class RiskEngine:
    """Margin, the pre-trade check and the ledger, for the off-chain engine and the chain."""

    def __init__(
        self,
        params: Mapping[str, RiskParams],
        ledger: Ledger | None = None,
        prices: Prices | None = None,
    ) -> None:
        self.params = dict(params)
        self.ledger = ledger if ledger is not None else Ledger()
        self.prices = prices if prices is not None else Prices()
        self._orders: dict[int, _Resting] = {}

    # Reading -------------------------------------------------------------------------------

    def open_orders(self, account: str) -> list[OpenOrder]:
        """The account's open orders as margin sees them, in order of acceptance."""
        return [
            OpenOrder(o.instrument, o.signed, o.price)
            for o in self._orders.values()
            if o.account == account
        ]

    def resting_orders(self) -> list[RestingOrder]:
        """Every open order the engine reserves margin for, by order id: its state to save."""
        return [
            RestingOrder(order_id, o.account, o.instrument, o.signed, o.price)
            for order_id, o in sorted(self._orders.items())
        ]

    def equity(self, account: str) -> int:
        """Balance plus positions at the marks, rounded down."""
        return equity(self.ledger, account_of(self.ledger, account), self.prices)

    def margin(self, account: str, extra: Iterable[OpenOrder] = ()) -> Requirement:
        """Initial (with open orders and ``extra``) and maintenance margin of ``account``."""
        holder = account_of(self.ledger, account)
        orders = [*self.open_orders(account), *extra]
        if holder.portfolio_margin:
            return portfolio_margin(
                self.ledger,
                holder,
                self.prices,
                self.params,
                now_ms=self.prices.ts_ms,
                orders=orders,
            )
        return standard_margin(self.ledger, holder, self.prices, self.params, orders)

    def liquidatable(self) -> list[str]:
        """Accounts whose equity is below their maintenance margin, sorted by name."""
        found = []
        for name, account in sorted(self.ledger.accounts.items()):
            exposed = account.positions or account.balance < 0
            if exposed and self.equity(name) < self.margin(name).maintenance:
                found.append(name)
        return found

    # The pre-trade check -------------------------------------------------------------------

    def check(self, request: OrderRequest, engine: EngineView) -> Rejection | None:
        """Accept the order if initial margin after it stays within equity, else say by how much
        it is short (``RiskReason.INSUFFICIENT_MARGIN``)."""
        account = self.ledger.accounts.get(request.account)
        if account is None:
            return Rejection(RiskReason.UNKNOWN_ACCOUNT, f"{request.account} has no deposit")
        if request.instrument in self.ledger.settled:
            # The chain may settle an instrument a moment before the engine's own clock reaches
            # its expiry and closes the book: nothing may trade it after its settlement.
            return Rejection(
                RiskReason.ALREADY_SETTLED, f"{request.instrument} is settled and no longer trades"
            )
        is_buy = request.side is Side.BUY
        held = account.positions.get(request.instrument)
        position = held.quantity if held else 0
        if (position < 0 if is_buy else position > 0) and request.quantity <= abs(position):
            return None
        try:
            price = self._order_price(request.instrument, request.price, is_buy)
            signed = request.quantity if is_buy else -request.quantity
            extra = OpenOrder(request.instrument, signed, price)
            saved = None
            if request.order_id is not None:
                saved = self._orders.pop(request.order_id, None)
            try:
                initial = self.margin(request.account, [extra]).initial
            finally:
                if saved is not None and request.order_id is not None:
                    self._orders[request.order_id] = saved
            available = self.equity(request.account)
        except OptexError as exc:
            return Rejection(exc.code, exc.message)
        if initial > available:
            return Rejection(
                RiskReason.INSUFFICIENT_MARGIN,
                f"initial margin after this order would be {initial} but equity is {available}: "
                f"short by {initial - available} base units",
            )
        return None

    def _order_price(self, instrument_name: str, price: int | None, is_buy: bool) -> int:
        if price is not None:
            return price
        instrument = instrument_of(self.ledger, instrument_name)
        liquidation = params_for(self.params, instrument.underlying).liquidation
        band = (
            liquidation.option_price_band_ppm
            if instrument.kind is InstrumentKind.OPTION
            else liquidation.price_band_ppm
        )
        return band_price(instrument, self.prices.mark_of(instrument_name).price, is_buy, band)

    # Applying the engine's events ----------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> list[Movement]:
        """Apply fills to the ledger and mirror the open orders; other events are ignored."""
        moved: list[Movement] = []
        for event in events:
            if isinstance(event, Fill):
                moved += self._fill(event)
            elif isinstance(event, OrderAccepted):
                is_buy = event.side is Side.BUY
                price = self._order_price(event.instrument, event.price, is_buy)
                signed = event.quantity if is_buy else -event.quantity
                self._orders[event.order_id] = _Resting(
                    event.account, event.instrument, signed, price
                )
            elif isinstance(event, OrderCancelled | OrderExpired):
                self._orders.pop(event.order_id, None)
            elif isinstance(event, OrderAmended):
                resting = self._orders.get(event.order_id)
                if resting is not None:
                    sign = 1 if resting.signed > 0 else -1
                    resting.signed = sign * event.remaining
                    if event.price is not None:
                        resting.price = event.price
        return moved

    def fee_index(self, instrument_name: str, index: Mapping[str, int]) -> int:
        """The index price an option fill on ``instrument_name`` pays its fees at, as
        :meth:`_fill` charges them, when the engine's index prices were ``index`` (0 without
        one); 0 for futures and perpetuals, whose fees do not use it. The settlement batcher
        sends it with each fill (``optex.chain.Fill.fee_index``), so that the chain charges the
        fee the engine did."""
        instrument = instrument_of(self.ledger, instrument_name)
        if instrument.kind is not InstrumentKind.OPTION:
            return 0
        return index.get(instrument.underlying, 0)

    def _fill(self, fill: Fill) -> list[Movement]:
        taker_buys = fill.aggressor_side is Side.BUY
        buyer, seller = (
            (fill.taker_account, fill.maker_account)
            if taker_buys
            else (fill.maker_account, fill.taker_account)
        )
        trade = Trade(
            fill.instrument, fill.price, fill.quantity, buyer, seller, not taker_buys, fill.ts_ms
        )
        instrument = instrument_of(self.ledger, fill.instrument)
        risk = params_for(self.params, instrument.underlying)
        moved = apply_trade(
            self.ledger, trade, self.prices.index_of(instrument.underlying), risk.fees
        )
        for order_id in (fill.maker_order_id, fill.taker_order_id):
            resting = self._orders.get(order_id)
            if resting is not None:
                step = fill.quantity if resting.signed > 0 else -fill.quantity
                resting.signed -= step
                if resting.signed == 0:
                    del self._orders[order_id]
        return moved

    # Withdrawals ---------------------------------------------------------------------------

    def withdraw(self, account: str, amount: int) -> list[Movement]:
        """Withdraw ``amount`` if the balance covers it and initial margin stays within equity."""
        shortfall = self.margin(account).initial - (self.equity(account) - amount)
        if shortfall > 0:
            raise InsufficientFunds(
                RiskReason.INSUFFICIENT_MARGIN,
                f"withdrawing {amount} would leave margin short by {shortfall} base units",
                shortfall=shortfall,
            )
        return debit_withdrawal(self.ledger, account, amount)

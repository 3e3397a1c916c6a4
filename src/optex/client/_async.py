"""``AsyncClient``: Deribit API v2's methods, typed, over a :class:`Session`.

Each method is named after its Deribit method, takes its parameters as keywords (``None``
means "not sent": the server's default) and returns a msgspec Struct from ``_models``; a
refusal is :class:`ApiError` with Deribit's code. Staying logged in, alive, connected and
subscribed is the session's job (``_session``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from optex.client._errors import (
    ApiError,
    ClientError,
    ClientReason,
    outcome_unknown,
    rate_limited_for_s,
    replayed,
)
from optex.client._models import (
    AccountSummary,
    Instrument,
    Order,
    OrderBook,
    OrderResult,
    Position,
    Status,
    Ticker,
    Trades,
    UserTrades,
)
from optex.client._session import Session
from optex.client._signed import (
    RESEND_FIRST_DELAY_S,
    RESEND_MAX_DELAY_S,
    prepare_signed_order,
    signed_order_params,
)
from optex.crypto import OrderIntent, PrivateKey, SignedOrder


class AsyncClient(Session):
    """A Deribit API v2 client for optex over one WebSocket. Use as ``async with``.

    ``url``: ``ws://host:port`` (the path ``/ws/api/v2`` is added) or a full WebSocket URL.
    ``credentials``: :class:`ClientSignature` (recommended: the secret never leaves this
    machine) or :class:`ClientCredentials`; ``None`` for public data only. ``scope``: Deribit's
    requested scope text (``"trade:read_write expires:60"``). ``heartbeat_interval_s``: ask for
    heartbeats and answer them. ``reconnect``: restore the session when the connection drops.
    ``request_timeout_s``: bound on each call, waiting for a reconnect included.
    ``order_lifetime_ms``: how long signatures of :meth:`place_signed_order` stay usable.
    ``trace``: called with ``("send" | "recv", frame)`` for every frame — for debugging; it sees
    tokens, and with ``ClientCredentials`` the secret.
    """

    async def optex_status(self) -> Status:
        """``public/optex_status``: the gateway's and engine's state."""
        raw = await self._call("public/optex_status", {}, dict[str, Any])
        chain_id = raw.get("chain_id", "")
        return Status(chain_id=chain_id if isinstance(chain_id, str) else "", details=raw)

    # Market data ----------------------------------------------------------------------------

    async def get_instruments(
        self, currency: str = "any", kind: str | None = None, expired: bool | None = None
    ) -> list[Instrument]:
        """``public/get_instruments``."""
        params = {"currency": currency, "kind": kind, "expired": expired}
        return await self._call("public/get_instruments", params, list[Instrument])

    async def get_order_book(self, instrument_name: str, depth: int | None = None) -> OrderBook:
        """``public/get_order_book``."""
        params = {"instrument_name": instrument_name, "depth": depth}
        return await self._call("public/get_order_book", params, OrderBook)

    async def ticker(self, instrument_name: str) -> Ticker:
        """``public/ticker``."""
        return await self._call("public/ticker", {"instrument_name": instrument_name}, Ticker)

    async def get_last_trades_by_instrument(
        self,
        instrument_name: str,
        *,
        count: int | None = None,
        include_old: bool | None = None,
        sorting: str | None = None,
        start_seq: int | None = None,
        end_seq: int | None = None,
    ) -> Trades:
        """``public/get_last_trades_by_instrument``."""
        params = {
            "instrument_name": instrument_name,
            "count": count,
            "include_old": include_old,
            "sorting": sorting,
            "start_seq": start_seq,
            "end_seq": end_seq,
        }
        return await self._call("public/get_last_trades_by_instrument", params, Trades)

    # Trading --------------------------------------------------------------------------------

    async def buy(
        self,
        instrument_name: str,
        amount: float,
        *,
        type: str = "limit",
        price: float | None = None,
        label: str | None = None,
        time_in_force: str | None = None,
        post_only: bool | None = None,
        reject_post_only: bool | None = None,
        reduce_only: bool | None = None,
        trigger_price: float | None = None,
        trigger: str | None = None,
    ) -> OrderResult:
        """``private/buy``: the order and its immediate fills."""
        return await self._place("private/buy", locals())

    async def sell(
        self,
        instrument_name: str,
        amount: float,
        *,
        type: str = "limit",
        price: float | None = None,
        label: str | None = None,
        time_in_force: str | None = None,
        post_only: bool | None = None,
        reject_post_only: bool | None = None,
        reduce_only: bool | None = None,
        trigger_price: float | None = None,
        trigger: str | None = None,
    ) -> OrderResult:
        """``private/sell``: the order and its immediate fills."""
        return await self._place("private/sell", locals())

    async def _place(self, method: str, arguments: dict[str, Any]) -> OrderResult:
        params = {k: v for k, v in arguments.items() if k != "self"}
        return await self._call(method, params, OrderResult)

    async def edit(
        self,
        order_id: str,
        amount: float,
        price: float | None = None,
        *,
        post_only: bool | None = None,
        reject_post_only: bool | None = None,
        reduce_only: bool | None = None,
        trigger_price: float | None = None,
    ) -> OrderResult:
        """``private/edit``: change an open order's amount and price."""
        params = {
            "order_id": order_id,
            "amount": amount,
            "price": price,
            "post_only": post_only,
            "reject_post_only": reject_post_only,
            "reduce_only": reduce_only,
            "trigger_price": trigger_price,
        }
        return await self._call("private/edit", params, OrderResult)

    async def cancel(self, order_id: str) -> Order:
        """``private/cancel``: the order as cancelled."""
        return await self._call("private/cancel", {"order_id": order_id}, Order)

    async def cancel_all(self) -> int:
        """``private/cancel_all``: how many orders were cancelled."""
        return await self._call("private/cancel_all", {}, int)

    async def place_signed_order(
        self, intent: OrderIntent, trading_key: PrivateKey, *, resend_for_s: float | None = None
    ) -> OrderResult:
        """Sign ``intent`` here with ``trading_key`` and send it natively
        (``private/optex_place_signed_order``). ``nonce`` and ``expiry_ms`` left at 0 are set
        by the client: the nonce increases per key, the expiry is ``order_lifetime_ms`` ahead.
        The key never leaves this process; only the signed order is sent. An answer lost on
        the way is recovered by sending the same signed order again (:meth:`send_signed_order`).
        """
        order = self.sign_order(intent, trading_key)
        return await self.send_signed_order(order, resend_for_s=resend_for_s)

    def sign_order(self, intent: OrderIntent, trading_key: PrivateKey) -> SignedOrder:
        """The signed order :meth:`place_signed_order` would send (nonce and expiry set)."""
        return prepare_signed_order(
            intent,
            trading_key,
            self.nonces,
            now_ms=self.clock.now_ms(),
            lifetime_ms=self.order_lifetime_ms,
        )

    async def send_signed_order(
        self, order: SignedOrder, *, resend_for_s: float | None = None
    ) -> OrderResult:
        """Send an already signed order (``private/optex_place_signed_order``).

        When the answer is lost (``CONNECTION_LOST``, ``REQUEST_TIMEOUT``, ``NOT_CONNECTED``,
        or 13028 when the gateway cannot reach its engine) the same signed bytes are sent again,
        with growing pauses, for up to ``resend_for_s`` (default ``request_timeout_s``; 0: never)
        and never once the order's signature has expired. The exchange places a signed order at
        most once and answers a repeat with the original order as it is now (or the original
        refusal), so the result is exactly what a first answer would have said, brought up to
        date. A resend refused as ``too_many_requests`` (10028) is sent again after the wait
        the server asks for: raising it would hide that the first send's outcome is unknown.
        If time runs out, the last failure is raised: the outcome is still unknown. A repeat
        the exchange recognises but can no longer answer for raises ``ORDER_OUTCOME_UNKNOWN``.
        """
        budget = self.request_timeout_s if resend_for_s is None else resend_for_s
        if not budget >= 0:
            raise ClientError(ClientReason.INVALID_ARGUMENT, "resend_for_s is not negative")
        params = signed_order_params(order)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = RESEND_FIRST_DELAY_S
        sent_before = False
        while True:
            try:
                return await self._call("private/optex_place_signed_order", params, OrderResult)
            except (ClientError, ApiError) as error:
                if sent_before and replayed(error):
                    raise ClientError(ClientReason.ORDER_OUTCOME_UNKNOWN) from error
                wait_s = rate_limited_for_s(error) if sent_before else None
                if wait_s is None:
                    if not outcome_unknown(error):
                        raise
                    wait_s = delay
                    delay = min(delay * 2, RESEND_MAX_DELAY_S)
                # A resend must reach the exchange before the signature expires, or the
                # refusal "expired" would hide whether the first send placed it.
                expires_in_s = (order.intent.expiry_ms - self.clock.now_ms()) / 1000
                if loop.time() + wait_s > min(deadline, loop.time() + expires_in_s - 1):
                    if outcome_unknown(error) or not sent_before:
                        raise
                    raise ClientError(
                        ClientReason.REQUEST_TIMEOUT,
                        "refused on resending until the time ran out: the order may have run",
                    ) from error
                sent_before = sent_before or not (
                    isinstance(error, ClientError) and error.code is ClientReason.NOT_CONNECTED
                )
            await asyncio.sleep(wait_s)

    # Account --------------------------------------------------------------------------------

    async def get_open_orders_by_currency(
        self,
        currency: str,
        kind: str | None = None,
        type: str | None = None,
    ) -> list[Order]:
        """``private/get_open_orders_by_currency``."""
        params = {"currency": currency, "kind": kind, "type": type}
        return await self._call("private/get_open_orders_by_currency", params, list[Order])

    async def get_open_orders_by_instrument(
        self,
        instrument_name: str,
        type: str | None = None,
    ) -> list[Order]:
        """``private/get_open_orders_by_instrument``."""
        params = {"instrument_name": instrument_name, "type": type}
        return await self._call("private/get_open_orders_by_instrument", params, list[Order])

    async def get_order_state(self, order_id: str) -> Order:
        """``private/get_order_state``."""
        return await self._call("private/get_order_state", {"order_id": order_id}, Order)

    async def get_user_trades_by_instrument(
        self,
        instrument_name: str,
        *,
        count: int | None = None,
        include_old: bool | None = None,
        sorting: str | None = None,
        start_seq: int | None = None,
        end_seq: int | None = None,
    ) -> UserTrades:
        """``private/get_user_trades_by_instrument``."""
        params = {
            "instrument_name": instrument_name,
            "count": count,
            "include_old": include_old,
            "sorting": sorting,
            "start_seq": start_seq,
            "end_seq": end_seq,
        }
        return await self._call("private/get_user_trades_by_instrument", params, UserTrades)

    async def get_account_summary(
        self, currency: str, extended: bool | None = None
    ) -> AccountSummary:
        """``private/get_account_summary``."""
        params = {"currency": currency, "extended": extended}
        return await self._call("private/get_account_summary", params, AccountSummary)

    async def get_positions(
        self, currency: str | None = None, kind: str | None = None
    ) -> list[Position]:
        """``private/get_positions``."""
        params = {"currency": currency, "kind": kind}
        return await self._call("private/get_positions", params, list[Position])

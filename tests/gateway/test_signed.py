"""Native methods: orders a user signs with their own delegated trading key, and the engine's
status; every order the gateway submits is a signed order the engine verifies."""

from __future__ import annotations

import base64
import time

import pytest

from optex.core import OrderType, Side
from optex.crypto import (
    OrderIntent,
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    encode_signed_order,
    sign_authorization,
    sign_order,
)
from optex.exchange import DelegationRecord, load_delegations_file, save_delegations_file
from tests.gateway.kit import CALL, USDC, Exchange, Rest

pytestmark = pytest.mark.integration


def delegate(exchange: Exchange, account: str, trading_key: PrivateKey) -> None:
    """The account's owner authorizes a trading key of the user's own (as the chain will)."""
    path = exchange.home / "delegations.json"
    content = load_delegations_file(path)
    nonce = 1 + max(
        (
            r.signed().message.nonce
            for r in content.authorizations
            if r.signed().message.account == account
        ),
        default=-1,
    )
    now = int(time.time() * 1000)
    message = TradingKeyAuthorization(
        chain_id=content.chain_id,
        account=account,
        trading_key=trading_key.public_key.raw,
        scopes=(TradingScope.CANCEL, TradingScope.TRADE),
        not_before_ms=now - 60_000,
        expiry_ms=now + 3_600_000,
        nonce=nonce,
    )
    record = DelegationRecord.of(sign_authorization(exchange.owners[account], message))
    save_delegations_file(
        path,
        type(content)(content.chain_id, content.owners, [*content.authorizations, record]),
    )


def intent(account: str, nonce: int, price: int = 3_500 * USDC) -> OrderIntent:
    return OrderIntent(
        chain_id="optex-devnet",
        account=account,
        instrument=CALL,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=price,
        quantity=1_000_000,
        nonce=nonce,
        expiry_ms=int(time.time() * 1000) + 60_000,
    )


def encoded(order: object) -> str:
    return base64.b64encode(encode_signed_order(order)).decode()  # type: ignore[arg-type]


def test_a_user_signed_order_is_placed_as_signed(exchange: Exchange) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "dave", key)
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        reply = dave.get(
            "private/optex_place_signed_order",
            signed_order=encoded(sign_order(key, intent("dave", 1))),
        )
        order = reply["result"]["order"]
        assert (order["price"], order["amount"], order["optex_signed"]) == (3_500.0, 0.01, True)
        again = dave.get(
            "private/optex_place_signed_order",
            signed_order=encoded(sign_order(key, intent("dave", 1))),
        )
        assert again["error"]["data"]["reason"] == "order_replayed"
        dave.get("private/cancel_all")


def test_an_order_signed_by_an_undelegated_key_is_refused(exchange: Exchange) -> None:
    stranger = PrivateKey.generate()
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        reply = dave.get(
            "private/optex_place_signed_order",
            signed_order=encoded(sign_order(stranger, intent("dave", 2))),
        )
        assert (reply["error"]["code"], reply["error"]["data"]["reason"]) == (
            13009,
            "delegation_not_found",
        )
        assert dave.get("private/get_open_orders")["result"] == []


def test_a_signed_order_for_another_account_or_garbage_is_refused(exchange: Exchange) -> None:
    key = PrivateKey.generate()
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        other = dave.get(
            "private/optex_place_signed_order",
            signed_order=encoded(sign_order(key, intent("erin", 3))),
        )
        assert other["error"]["code"] == -32602
        garbage = dave.get("private/optex_place_signed_order", signed_order="bm90IGFuIG9yZGVy")
        assert garbage["error"]["code"] == -32602
        not_base64 = dave.get("private/optex_place_signed_order", signed_order="!!!")
        assert not_base64["error"]["code"] == -32602


def test_orders_placed_through_an_api_key_are_signed_by_the_gateway_key(exchange: Exchange) -> None:
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        status = dave.get("public/optex_status")["result"]
        placed = dave.get("private/buy", instrument_name=CALL, amount="0.01", price="3000")
        assert placed["result"]["order"]["optex_signed"] is True
        after = dave.get("public/optex_status")["result"]
        dave.get("private/cancel_all")
    assert after["last_seq"] == status["last_seq"] + 1
    assert after["state_hash"] != status["state_hash"]
    assert len(bytes.fromhex(status["gateway_key"])) == 32
    assert status["role"] == "primary" and status["chain_id"] == "optex-devnet"


def test_proofs_need_a_configured_node(exchange: Exchange) -> None:
    with Rest(exchange.url) as client:
        reply = client.get("public/optex_get_proof", account="alice")
    assert (reply["error"]["code"], reply["error"]["data"]["reason"]) == (
        13503,
        "proofs_unavailable",
    )

"""JSON-RPC over HTTP against real engine and gateway processes: Deribit's envelope, the HMAC
``Authorization`` header, orders, and Deribit-shaped refusals that change nothing."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.kit import CALL, PERP, Exchange, Rest, deribit_signature

pytestmark = pytest.mark.integration


@pytest.fixture
def carol(exchange: Exchange) -> Iterator[Rest]:
    client = Rest(exchange.url, exchange.credentials["carol"])
    yield client
    client.get("private/cancel_all")
    client.close()


def state(exchange: Exchange) -> tuple[int, str]:
    with Rest(exchange.url) as client:
        result = client.get("public/optex_status")["result"]
    return result["last_seq"], result["state_hash"]


def test_a_public_call_answers_in_deribits_envelope(exchange: Exchange) -> None:
    with Rest(exchange.url) as client:
        before = int(time.time() * 1000)
        reply = client.get("public/get_time")
    assert set(reply) == {"jsonrpc", "id", "result", "usIn", "usOut", "usDiff", "testnet"}
    assert reply["jsonrpc"] == "2.0" and reply["testnet"] is True
    assert reply["result"] >= before
    assert reply["usOut"] - reply["usIn"] == reply["usDiff"] >= 0


def test_post_with_a_json_rpc_body_keeps_the_callers_id(exchange: Exchange) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "public/ticker",
        "params": {"instrument_name": PERP},
    }
    reply = httpx.post(f"{exchange.url}/api/v2/public/ticker", json=body).json()
    assert reply["id"] == 42
    assert reply["result"]["instrument_name"] == PERP
    assert reply["result"]["mark_price"] == 100_000.0


def test_instruments_and_currencies_are_listed_the_deribit_way(exchange: Exchange) -> None:
    with Rest(exchange.url) as client:
        instruments = client.get("public/get_instruments", currency="BTC")["result"]
        options = client.get("public/get_instruments", currency="BTC", kind="option")["result"]
        currencies = client.get("public/get_currencies")["result"]
    by_name = {i["instrument_name"]: i for i in instruments}
    assert set(by_name) == {CALL, PERP}
    call = by_name[CALL]
    assert (call["kind"], call["option_type"], call["strike"]) == ("option", "call", 100_000.0)
    assert (call["tick_size"], call["min_trade_amount"]) == (5.0, 0.01)
    assert by_name[PERP]["settlement_period"] == "perpetual"
    assert [i["instrument_name"] for i in options] == [CALL]
    assert {c["currency"] for c in currencies} == {"BTC", "USDC"}


def test_the_option_ticker_carries_mark_iv_and_greeks(exchange: Exchange) -> None:
    with Rest(exchange.url) as client:
        ticker = client.get("public/ticker", instrument_name=CALL)["result"]
    assert ticker["mark_price"] == 5_000.0
    assert ticker["mark_iv"] == 60.0
    assert ticker["greeks"]["delta"] == 0.52 and ticker["greeks"]["vega"] == 120.0
    assert ticker["index_price"] == 100_000.0


def test_a_signed_rest_client_places_edits_and_cancels_an_order(
    exchange: Exchange, carol: Rest
) -> None:
    placed = carol.get(
        "private/buy", instrument_name=CALL, amount="0.3", type="limit", price="4000", label="c1"
    )["result"]["order"]
    assert placed["order_state"] == "open" and placed["label"] == "c1"
    assert placed["amount"] == 0.3 and placed["price"] == 4000.0
    order_id = placed["order_id"]
    book = carol.get("public/get_order_book", instrument_name=CALL, depth=5)["result"]
    assert [4000.0, 0.3] in book["bids"]
    edited = carol.get("private/edit", order_id=order_id, amount="0.2", price="4005")["result"]
    assert (edited["order"]["amount"], edited["order"]["price"]) == (0.2, 4005.0)
    state_now = carol.get("private/get_order_state", order_id=order_id)["result"]
    assert state_now["order_state"] == "open" and state_now["price"] == 4005.0
    cancelled = carol.get("private/cancel", order_id=order_id)["result"]
    assert cancelled["order_state"] == "cancelled"
    assert carol.get("private/get_open_orders_by_instrument", instrument_name=CALL)["result"] == []


def test_cancel_all_cancels_every_open_order_of_the_account(carol: Rest) -> None:
    for price in ("3000", "3005", "3010"):
        carol.get("private/buy", instrument_name=CALL, amount="0.01", price=price)
    assert len(carol.get("private/get_open_orders_by_currency", currency="BTC")["result"]) == 3
    assert carol.get("private/cancel_all")["result"] == 3
    assert carol.get("private/get_open_orders")["result"] == []


def test_an_order_beyond_the_margin_is_refused_with_not_enough_funds(
    exchange: Exchange, carol: Rest
) -> None:
    before = state(exchange)
    reply = carol.get("private/buy", instrument_name=CALL, amount="900", price="5000")
    assert reply["error"]["code"] == 10009
    assert reply["error"]["message"] == "not_enough_funds"
    assert reply["error"]["data"]["reason"] == "insufficient_margin"
    assert carol.get("private/get_open_orders")["result"] == []
    assert state(exchange)[0] == before[0] + 1  # journaled, rejected, nothing else changed


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"amount": "0.015", "price": "4000"}, 10021),  # off the 0.01 lot
        ({"amount": "0.01", "price": "4001"}, 10043),  # off the 5 USDC tick
        ({"amount": "NaN", "price": "4000"}, -32602),
        ({"amount": "1e999", "price": "4000"}, -32602),
        ({"amount": "-1", "price": "4000"}, -32602),
        ({"amount": "0.01", "price": "4000", "post_only": "maybe"}, -32602),
        ({"amount": "0.01", "price": "4000", "label": "x" * 65}, -32602),
        ({"amount": "0.01", "price": "4000", "label": "caf\u00e9"}, -32602),
        ({"amount": "0.01", "price": "4000", "type": "iceberg"}, -32602),
        ({"amount": "0.01", "price": "4000", "time_in_force": "forever"}, -32602),
        ({"amount": "0.01", "price": "4000", "post_only": "true"}, -32602),
        ({"price": "4000"}, -32602),
        ({"amount": "0.01"}, 10023),
    ],
)
def test_bad_order_parameters_are_refused_and_change_nothing(
    exchange: Exchange, carol: Rest, params: dict[str, str], code: int
) -> None:
    before = state(exchange)
    reply = carol.get("private/buy", instrument_name=CALL, **params)
    assert reply["error"]["code"] == code, reply
    assert state(exchange) == before


def test_an_unknown_instrument_or_order_gets_deribits_codes(carol: Rest) -> None:
    unknown = carol.get("private/buy", instrument_name="BTC-1JAN30-1-C", amount="1", price="5")
    assert unknown["error"]["code"] == 10020
    assert carol.get("private/cancel", order_id="999999")["error"]["code"] == 10004
    assert carol.get("private/get_order_state", order_id="x1")["error"]["code"] == -32602


def test_another_accounts_order_is_not_found(exchange: Exchange, carol: Rest) -> None:
    placed = carol.get("private/buy", instrument_name=CALL, amount="0.01", price="3000")
    order_id = placed["result"]["order"]["order_id"]
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        assert dave.get("private/cancel", order_id=order_id)["error"]["code"] == 10004
        assert dave.get("private/get_order_state", order_id=order_id)["error"]["code"] == 10004
    assert (
        carol.get("private/get_order_state", order_id=order_id)["result"]["order_state"] == "open"
    )


def test_basic_and_bearer_authorization_work_too(exchange: Exchange) -> None:
    credentials = exchange.credentials["dave"]
    basic = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode())
    with Rest(exchange.url) as client:
        reply = client.get(
            "private/get_account_summary", {"Authorization": f"Basic {basic.decode()}"}
        )
        assert reply["result"]["equity"] == 1_000_000.0
        token = client.get(
            "public/auth",
            grant_type="client_credentials",
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
        )["result"]["access_token"]
        reply = client.get("private/get_positions", {"Authorization": f"bearer {token}"})
        assert reply["result"] == []


def signed_header(exchange: Exchange, account: str, uri: str, ts: int, nonce: str) -> str:
    credentials = exchange.credentials[account]
    sig = deribit_signature(credentials.client_secret, ts, nonce, "GET", uri)
    return f"deri-hmac-sha256 id={credentials.client_id},ts={ts},sig={sig},nonce={nonce}"


def test_a_replayed_a_stale_and_a_tampered_signature_are_refused(exchange: Exchange) -> None:
    uri = "/api/v2/private/get_account_summary?currency=USDC"
    now = int(time.time() * 1000)
    header = signed_header(exchange, "dave", uri, now, "n-1")
    with httpx.Client(base_url=exchange.url) as client:
        first = client.get(uri, headers={"Authorization": header}).json()
        assert "result" in first
        replay = client.get(uri, headers={"Authorization": header})
        assert replay.json()["error"]["code"] == 13009
        assert replay.json()["error"]["data"]["reason"] == "nonce_replayed"
        stale = signed_header(exchange, "dave", uri, now - 120_000, "n-2")
        assert client.get(uri, headers={"Authorization": stale}).json()["error"]["code"] == 13009
        other = client.get(
            "/api/v2/private/get_account_summary?currency=BTC",
            headers={"Authorization": signed_header(exchange, "dave", uri, now, "n-3")},
        )
        assert other.json()["error"]["code"] == 13009
        assert client.get(uri).json()["error"]["code"] == 13009


def test_wrong_credentials_are_invalid_credentials(exchange: Exchange) -> None:
    credentials = exchange.credentials["dave"]
    with Rest(exchange.url) as client:
        wrong = client.get(
            "public/auth",
            grant_type="client_credentials",
            client_id=credentials.client_id,
            client_secret="not-the-secret",  # noqa: S106 - a wrong one on purpose
        )
        unknown = client.get(
            "public/auth",
            grant_type="client_credentials",
            client_id="nobody",
            client_secret=credentials.client_secret,
        )
    assert wrong["error"]["code"] == unknown["error"]["code"] == 13004


def test_malformed_oversized_and_unknown_requests_get_json_rpc_errors(exchange: Exchange) -> None:
    url = exchange.url
    assert httpx.post(f"{url}/api/v2", content=b"{not json").json()["error"]["code"] == -32700
    batch = httpx.post(f"{url}/api/v2", json=[{"method": "public/get_time"}]).json()
    assert batch["error"]["code"] == -32600
    positional = httpx.post(f"{url}/api/v2", json={"method": "public/ticker", "params": [PERP]})
    assert positional.json()["error"]["code"] == -32602
    unknown = httpx.get(f"{url}/api/v2/public/no_such_method").json()
    assert unknown["error"]["code"] == -32601
    huge = httpx.post(f"{url}/api/v2", content=b" " * (65 * 1024)).json()
    assert (huge["error"]["code"], huge["error"]["message"]) == (11050, "bad_request")
    long_query = raw_get(exchange, f"/api/v2/public/get_time?x={'a' * 70_000}")
    assert long_query.startswith(b"HTTP/1.1 400")
    assert b'"code":11050' in long_query and b"request_too_large" in long_query
    deep = httpx.post(f"{url}/api/v2", content=b"[" * 20_000 + b"]" * 20_000).json()
    assert deep["error"]["code"] in (-32700, 11050)
    twice = httpx.get(f"{url}/api/v2/public/ticker?instrument_name={PERP}&instrument_name={CALL}")
    assert twice.json()["error"]["code"] == -32602
    assert httpx.get(f"{url}/api/v2/public/get_time").json()["result"] > 0


def raw_get(exchange: Exchange, target: str) -> bytes:
    """A GET too long for httpx to send, over a plain socket; the whole response."""
    host, port = exchange.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        request = f"GET {target} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_subscriptions_need_a_websocket(exchange: Exchange) -> None:
    with Rest(exchange.url) as client:
        reply = client.get("public/subscribe")
    assert reply["error"]["code"] == 10030


def test_a_key_without_trade_scope_cannot_trade(exchange: Exchange) -> None:
    from optex.gateway import provision_account
    from tests.gateway.kit import PASSWORD

    reader = provision_account(
        exchange.home, "carol", exchange.owners["carol"], "account:read", password=PASSWORD
    )
    with Rest(exchange.url, reader) as client:
        assert client.get("private/get_account_summary")["result"]["currency"] == "USDC"
        refused = client.get("private/buy", instrument_name=CALL, amount="0.01", price="3000")
    assert (refused["error"]["code"], refused["error"]["data"]["reason"]) == (
        13021,
        "scope_missing",
    )


def test_the_openapi_description_is_generated_from_the_method_table(exchange: Exchange) -> None:
    spec = httpx.get(f"{exchange.url}/api/v2/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    buy = spec["paths"]["/api/v2/private/buy"]["get"]
    assert {p["name"] for p in buy["parameters"]} >= {"instrument_name", "amount", "price"}
    assert buy["security"]
    assert "security" not in spec["paths"]["/api/v2/public/ticker"]["get"]
    assert "/api/v2/public/subscribe" not in spec["paths"]
    assert "public/subscribe" in spec["x-websocket-methods"]

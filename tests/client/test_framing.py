"""The JSON-RPC framing and the signatures, without a socket."""

from __future__ import annotations

import json

import msgspec
import pytest

from optex.client import (
    ApiError,
    ClientCredentials,
    ClientError,
    ClientReason,
    ClientSignature,
    Heartbeat,
    Order,
    OrderResult,
    Publication,
    Response,
    UserTrade,
    client_signature,
    decode_message,
    encode_request,
    ws_url,
)
from optex.client._subscriptions import BookUpdate, decode_notification
from optex.crypto import PrivateKey, PublicKey, client_signature_string


def test_client_signature_matches_deribits_published_example() -> None:
    # Deribit v2 docs: secret ABCD, timestamp 1554883365000, nonce fdbmmz79, empty data
    expected = "e20c9cd5639d41f8bbc88f4d699c4baf94a4f0ee320e9a116b72743c449eb994"
    assert client_signature("ABCD", 1554883365000, "fdbmmz79", "") == expected
    assert client_signature(b"ABCD", 1554883365000, "fdbmmz79") == expected


def test_client_signature_changes_with_every_signed_field() -> None:
    base = client_signature("ABCD", 1554883365000, "fdbmmz79", "")
    assert client_signature("ABCE", 1554883365000, "fdbmmz79", "") != base
    assert client_signature("ABCD", 1554883365001, "fdbmmz79", "") != base
    assert client_signature("ABCD", 1554883365000, "fdbmmz7a", "") != base
    assert client_signature("ABCD", 1554883365000, "fdbmmz79", "x") != base


def test_signature_login_sends_no_secret_and_a_fresh_nonce() -> None:
    secret = "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS"  # noqa: S105 - Deribit's documented example
    credentials = ClientSignature("fo7WAPRm4P", secret)
    first = credentials.auth_params(1554883365000)
    second = credentials.auth_params(1554883365000)
    assert first["grant_type"] == "client_signature"
    assert secret not in json.dumps(first)
    assert first["nonce"] != second["nonce"]
    assert first["signature"] == client_signature(
        secret, first["timestamp"], first["nonce"], first["data"]
    )
    assert secret not in repr(credentials)


def test_ed25519_login_signs_the_same_string_with_the_private_key() -> None:
    key = PrivateKey.generate()
    params = ClientSignature("asym", key).auth_params(1554883365000)
    signature = bytes.fromhex(params["signature"])
    message = client_signature_string(params["timestamp"], params["nonce"], "")
    PublicKey(key.public_key.raw).verify_raw(signature, message.encode())


def test_credentials_login_sends_the_secret_but_never_shows_it() -> None:
    credentials = ClientCredentials("fo7WAPRm4P", "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS")
    params = credentials.auth_params(0)
    assert params == {
        "grant_type": "client_credentials",
        "client_id": "fo7WAPRm4P",
        "client_secret": "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS",
    }
    assert "W0H6" not in repr(credentials)


@pytest.mark.parametrize("bad", ["", b"", 5])
def test_an_empty_or_non_text_secret_is_refused(bad: object) -> None:
    with pytest.raises(ClientError) as caught:
        ClientSignature("id", bad)  # type: ignore[arg-type]
    assert caught.value.code is ClientReason.INVALID_ARGUMENT


def test_a_request_has_named_params_and_drops_the_ones_left_out() -> None:
    frame = encode_request(7, "private/buy", {"instrument_name": "X", "price": None, "amount": 1})
    assert json.loads(frame) == {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "private/buy",
        "params": {"instrument_name": "X", "amount": 1},
    }


def test_a_result_is_decoded_into_the_type_asked_for() -> None:
    frame = (
        b'{"jsonrpc":"2.0","id":3,"usIn":1,"result":{"order":{"order_id":"12",'
        b'"instrument_name":"BTC-PERPETUAL","direction":"buy","amount":0.1,"order_state":"open",'
        b'"order_type":"limit","price":100000.5,"extra":"ignored"},"trades":[]}}'
    )
    message = decode_message(frame)
    assert isinstance(message, Response) and message.id == 3
    result = message.value(OrderResult)
    assert result.order == Order(
        order_id="12",
        instrument_name="BTC-PERPETUAL",
        direction="buy",
        amount=0.1,
        order_state="open",
        order_type="limit",
        price=100000.5,
    )


def test_an_error_answer_raises_api_error_with_deribits_code_message_and_data() -> None:
    frame = (
        b'{"jsonrpc":"2.0","id":"a","error":{"code":13004,"message":"invalid_credentials",'
        b'"data":{"reason":"bad secret"}}}'
    )
    message = decode_message(frame)
    assert isinstance(message, Response)
    with pytest.raises(ApiError) as caught:
        message.value(OrderResult)
    assert (caught.value.code, caught.value.message) == (13004, "invalid_credentials")
    assert caught.value.data == {"reason": "bad secret"}


def test_a_result_of_the_wrong_shape_is_a_client_error_not_a_guess() -> None:
    message = decode_message(b'{"jsonrpc":"2.0","id":1,"result":{"order":[]}}')
    assert isinstance(message, Response)
    with pytest.raises(ClientError) as caught:
        message.value(OrderResult)
    assert caught.value.code is ClientReason.MALFORMED_MESSAGE


def test_notifications_and_heartbeats_are_told_apart() -> None:
    note = decode_message(
        b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.raw",'
        b'"data":{"instrument_name":"X"}}}'
    )
    assert isinstance(note, Publication) and note.channel == "ticker.X.raw"
    beat = decode_message('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}')
    assert beat == Heartbeat("test_request") and beat.wants_answer
    quiet = decode_message(b'{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}')
    assert isinstance(quiet, Heartbeat) and not quiet.wants_answer


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"[]",
        b'{"id":1,"result":1}',
        b'{"jsonrpc":"1.0","id":1,"result":1}',
        b'{"jsonrpc":"2.0","id":1}',
        b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}',
        b'{"jsonrpc":"2.0","method":"subscription","params":{"data":1}}',
        b'{"jsonrpc":"2.0","method":"other","params":{}}',
        b'{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}',
    ],
)
def test_malformed_messages_are_refused(frame: bytes) -> None:
    with pytest.raises(ClientError) as caught:
        decode_message(frame)
    assert caught.value.code is ClientReason.MALFORMED_MESSAGE


def test_notification_data_is_typed_by_channel_family() -> None:
    trade = {
        "trade_id": "5",
        "instrument_name": "BTC-PERPETUAL",
        "order_id": "9",
        "timestamp": 1,
        "price": 100000,
        "amount": 0.1,
        "direction": "sell",
        "liquidity": "M",
    }
    note = decode_notification("user.trades.any.any.raw", msgspec.json.encode([trade]))
    assert note.data == [msgspec.convert(trade, UserTrade)]
    book = decode_notification(
        "book.BTC-PERPETUAL.raw",
        b'{"instrument_name":"BTC-PERPETUAL","type":"snapshot","change_id":4,'
        b'"bids":[["new",100000.0,0.5]],"asks":[]}',
    )
    assert isinstance(book.data, BookUpdate) and book.data.bids == [("new", 100000.0, 0.5)]
    other = decode_notification("platform_state", b'{"locked":false}')
    assert other.data == {"locked": False}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ws://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/api/v2"),
        ("ws://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws/api/v2"),
        ("wss://x.example/custom", "wss://x.example/custom"),
    ],
)
def test_a_bare_address_gets_deribits_websocket_path(given: str, expected: str) -> None:
    assert ws_url(given) == expected


def test_a_url_that_is_not_a_websocket_is_refused() -> None:
    with pytest.raises(ClientError):
        ws_url("http://127.0.0.1:8000")

"""A real client: ccxt's ``deribit`` class, pointed at the local gateway, trades as it would on
Deribit (every call an HTTP GET signed with ``deri-hmac-sha256``)."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pytest

from tests.gateway.kit import Exchange

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDC:USDC-261227-100000-C"
PERPETUAL = "BTC/USDC:USDC"


def client(exchange: Exchange, account: str) -> ccxt.deribit:
    credentials = exchange.credentials[account]
    return ccxt.deribit(
        {
            "apiKey": credentials.client_id,
            "secret": credentials.client_secret,
            "urls": {"api": {"rest": exchange.url}},
            "enableRateLimit": False,
        }
    )


@pytest.fixture
def alice(exchange: Exchange) -> Iterator[ccxt.deribit]:
    trader = client(exchange, "alice")
    yield trader
    trader.cancel_all_orders()


def test_ccxt_loads_markets_with_deribits_symbols(alice: ccxt.deribit) -> None:
    markets = alice.load_markets()
    assert set(markets) == {SYMBOL, PERPETUAL}
    option = markets[SYMBOL]
    assert (option["type"], option["option"], option["linear"]) == ("option", True, True)
    assert (option["strike"], option["optionType"], option["settle"]) == (100_000, "call", "USDC")
    assert (option["precision"]["amount"], option["precision"]["price"]) == (0.01, 5.0)
    assert markets[PERPETUAL]["swap"] is True


def test_ccxt_reads_the_order_book_and_ticker(alice: ccxt.deribit) -> None:
    alice.create_order(SYMBOL, "limit", "buy", 0.1, 4_200)
    book = alice.fetch_order_book(SYMBOL, 5)
    assert [4_200.0, 0.1] in book["bids"]
    assert book["nonce"] > 0
    ticker = alice.fetch_ticker(SYMBOL)
    assert ticker["bid"] == 4_200.0
    assert ticker["markPrice"] == 5_000.0 and ticker["indexPrice"] == 100_000.0
    assert ticker["info"]["mark_iv"] == 60.0 and ticker["info"]["greeks"]["delta"] == 0.52


def test_ccxt_places_and_cancels_an_order(alice: ccxt.deribit) -> None:
    order = alice.create_order(SYMBOL, "limit", "buy", 0.05, 4_100, {"label": "ccxt-1"})
    assert (order["status"], order["side"], order["price"], order["amount"]) == (
        "open",
        "buy",
        4_100.0,
        0.05,
    )
    assert [o["id"] for o in alice.fetch_open_orders(SYMBOL)] == [order["id"]]
    cancelled = alice.cancel_order(order["id"])
    assert cancelled["status"] == "canceled"
    assert alice.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.OrderNotFound):
        alice.cancel_order(order["id"])


def test_ccxt_sees_its_fills_balance_and_positions_after_a_cross(exchange: Exchange) -> None:
    alice, bob = client(exchange, "alice"), client(exchange, "bob")
    before = alice.fetch_balance()["USDC"]["total"]
    maker = alice.create_order(SYMBOL, "limit", "buy", 0.2, 4_950)
    taker = bob.create_order(SYMBOL, "limit", "sell", 0.2, 4_950)
    assert (taker["status"], taker["filled"]) == ("closed", 0.2)
    mine = alice.fetch_my_trades(SYMBOL)
    assert [(t["order"], t["side"], t["takerOrMaker"], t["price"], t["amount"]) for t in mine] == [
        (maker["id"], "buy", "maker", 4_950.0, 0.2)
    ]
    assert mine[0]["fee"]["currency"] == "USDC" and mine[0]["fee"]["cost"] > 0
    assert alice.fetch_order(maker["id"], SYMBOL)["status"] == "closed"
    balance = alice.fetch_balance()["USDC"]
    # Paid 990 premium and the fee, holds an option marked at 5,000: equity moves by 10 - fee.
    assert balance["total"] == pytest.approx(before + 10 - mine[0]["fee"]["cost"])
    assert balance["free"] < balance["total"]
    (long,) = alice.fetch_positions()
    assert (long["symbol"], long["side"], long["contracts"], long["entryPrice"]) == (
        SYMBOL,
        "long",
        0.2,
        4_950.0,
    )
    (short,) = bob.fetch_positions()
    assert (short["side"], short["contracts"]) == ("short", -0.2)


def test_ccxt_raises_its_own_exceptions_for_deribit_codes(exchange: Exchange) -> None:
    alice = client(exchange, "alice")
    with pytest.raises(ccxt.InsufficientFunds):
        alice.create_order(SYMBOL, "limit", "buy", 900, 5_000)
    wrong = ccxt.deribit(
        {
            "apiKey": exchange.credentials["alice"].client_id,
            "secret": "not-the-secret",
            "urls": {"api": {"rest": exchange.url}},
        }
    )
    with pytest.raises(ccxt.AuthenticationError):
        wrong.fetch_balance()

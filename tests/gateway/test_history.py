"""Order history (``private/get_order_history_by_instrument`` and ``_by_currency``).

Through a real engine and gateway of this file's own: closed orders as Deribit reports them,
paging, filters, refusals, and the history surviving an engine killed with SIGKILL and one
stopped cleanly. Then the engine's bounded index on its own (``optex.exchange.Queries``): the
per-account and global bounds, and its save/load round trip.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from optex.core import OrderType
from optex.exchange import Pipeline, Queries
from optex.exchange import _query as query_module
from optex.gateway import Limits
from optex.market import CancelReason, OrderAccepted, OrderCancelled, Side
from tests.gateway.kit import PERP, Exchange, Rest, start_exchange

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Exchange, dict[str, str]]]:
    """hana and ivo trade: one fill, one partly filled then cancelled, one untouched cancel,
    one order still open. The ids of each, by name."""
    exchange = start_exchange(
        tmp_path_factory.mktemp("history"),
        ("hana", "ivo"),
        Limits(),
        # A fixed port so the gateway finds the engine again; frequent snapshots so that a
        # restart loads history from a snapshot and replays the journal after it.
        engine_args=("--listen", f"127.0.0.1:{_free_port()}", "--snapshot-every", "4"),
    )
    try:
        ids: dict[str, str] = {}
        with (
            Rest(exchange.url, exchange.credentials["hana"]) as hana,
            Rest(exchange.url, exchange.credentials["ivo"]) as ivo,
        ):
            rest = ivo.get("private/sell", instrument_name=PERP, amount="0.2", price="101000")
            ids["ivo_partly"] = rest["result"]["order"]["order_id"]
            taken = hana.get("private/buy", instrument_name=PERP, amount="0.1", price="101000")
            assert taken["result"]["order"]["order_state"] == "filled", taken
            ids["filled"] = taken["result"]["order"]["order_id"]
            assert "result" in ivo.get("private/cancel", order_id=ids["ivo_partly"])
            low = hana.get("private/buy", instrument_name=PERP, amount="0.1", price="90000")
            ids["untouched"] = low["result"]["order"]["order_id"]
            assert "result" in hana.get("private/cancel", order_id=ids["untouched"])
            still = hana.get("private/buy", instrument_name=PERP, amount="0.1", price="91000")
            ids["open"] = still["result"]["order"]["order_id"]
        yield exchange, ids
    finally:
        exchange.stop()


def _error(answer: dict[str, Any]) -> int:
    assert "error" in answer, answer
    return int(answer["error"]["code"])


def _history(rest: Rest, **params: Any) -> list[dict[str, Any]]:
    answer = rest.get("private/get_order_history_by_instrument", instrument_name=PERP, **params)
    assert "result" in answer, answer
    return list(answer["result"])


def test_history_lists_closed_orders_most_recent_first_as_deribit_does(
    traded: tuple[Exchange, dict[str, str]],
) -> None:
    exchange, ids = traded
    with Rest(exchange.url, exchange.credentials["hana"]) as hana:
        default = _history(hana)
        # Fully unfilled closed orders only on request; open orders never.
        assert [o["order_id"] for o in default] == [ids["filled"]]
        filled = default[0]
        assert (filled["order_state"], filled["filled_amount"], filled["amount"]) == (
            "filled",
            0.1,
            0.1,
        )
        assert (filled["average_price"], filled["direction"]) == (101_000.0, "buy")
        everything = _history(hana, include_unfilled=True)
        assert [o["order_id"] for o in everything] == [ids["untouched"], ids["filled"]]
        cancelled = everything[0]
        assert (cancelled["order_state"], cancelled["cancel_reason"]) == (
            "cancelled",
            "user_request",
        )
        assert cancelled["filled_amount"] == 0.0
        assert _history(hana, include_unfilled=True, include_old=True) == everything
    with Rest(exchange.url, exchange.credentials["ivo"]) as ivo:
        (partly,) = _history(ivo)
        assert partly["order_id"] == ids["ivo_partly"]
        assert (partly["order_state"], partly["filled_amount"], partly["amount"]) == (
            "cancelled",
            0.1,
            0.2,
        )


def test_count_and_offset_page_through_the_history(
    traded: tuple[Exchange, dict[str, str]],
) -> None:
    exchange, ids = traded
    with Rest(exchange.url, exchange.credentials["hana"]) as hana:
        first = _history(hana, include_unfilled=True, count=1)
        second = _history(hana, include_unfilled=True, count=1, offset=1)
        beyond = _history(hana, include_unfilled=True, count=5, offset=2)
        assert [o["order_id"] for o in first + second] == [ids["untouched"], ids["filled"]]
        assert beyond == []


def test_history_by_currency_filters_by_underlying_and_kind(
    traded: tuple[Exchange, dict[str, str]],
) -> None:
    exchange, ids = traded
    method = "private/get_order_history_by_currency"
    with Rest(exchange.url, exchange.credentials["hana"]) as hana:
        for params in ({"currency": "BTC"}, {"currency": "usdc"}, {"currency": "any"}):
            found = hana.get(method, **params)["result"]
            assert [o["order_id"] for o in found] == [ids["filled"]], params
        futures = hana.get(method, currency="BTC", kind="future", include_unfilled=True)
        assert [o["order_id"] for o in futures["result"]] == [ids["untouched"], ids["filled"]]
        assert hana.get(method, currency="BTC", kind="option")["result"] == []
        assert hana.get(method, currency="BTC", kind="spot")["result"] == []


def test_bad_history_requests_are_refused_in_deribit_shape(
    traded: tuple[Exchange, dict[str, str]],
) -> None:
    exchange, _ = traded
    method = "private/get_order_history_by_instrument"
    with Rest(exchange.url, exchange.credentials["hana"]) as hana:
        for params in (
            {"count": 0},
            {"count": 1001},
            {"count": "ten"},
            {"offset": -1},
            {"offset": 10**6},
            {"include_old": "maybe"},
        ):
            assert _error(hana.get(method, instrument_name=PERP, **params)) == -32602, params
        assert _error(hana.get(method, instrument_name="BTC-1JAN20-1-C")) == 10020
        assert _error(hana.get(method)) == -32602
        by_currency = "private/get_order_history_by_currency"
        assert _error(hana.get(by_currency, currency="XYZ")) == -32602
        assert _error(hana.get(by_currency, currency="BTC", kind="combo")) == -32602
    with Rest(exchange.url) as anonymous:
        assert _error(anonymous.get(method, instrument_name=PERP)) == 13009


def _wait_for_engine(rest: Rest) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "result" in rest.get("public/ticker", instrument_name=PERP):
            return
        time.sleep(0.1)
    raise AssertionError("the gateway did not reconnect to the engine")


def test_history_survives_an_engine_killed_and_one_stopped_cleanly(
    traded: tuple[Exchange, dict[str, str]],
) -> None:
    exchange, ids = traded
    with Rest(exchange.url, exchange.credentials["hana"]) as hana:
        before = _history(hana, include_unfilled=True)
        assert len(before) == 2
        exchange.engine.kill()
        exchange.engine.start()
        _wait_for_engine(hana)
        assert _history(hana, include_unfilled=True) == before
        assert exchange.engine.stop() == 0
        exchange.engine.start()
        _wait_for_engine(hana)
        assert _history(hana, include_unfilled=True) == before
        # The open order is still open, and closing it now adds it to the history.
        assert "result" in hana.get("private/cancel", order_id=ids["open"])
        after = _history(hana, include_unfilled=True)
        assert [o["order_id"] for o in after] == [ids["open"], *[o["order_id"] for o in before]]


# The engine's index on its own ------------------------------------------------------------


def _closed_orders(queries: Queries, account: str, first_id: int, n: int) -> None:
    pipeline = Pipeline()
    for order_id in range(first_id, first_id + n):
        accepted = OrderAccepted(
            ts_ms=order_id,
            order_id=order_id,
            account=account,
            client_order_id=None,
            instrument=PERP,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            price=1,
            quantity=1,
        )
        cancelled = OrderCancelled(
            ts_ms=order_id,
            order_id=order_id,
            account=account,
            instrument=PERP,
            quantity=1,
            reason=CancelReason.USER,
        )
        queries.observe(order_id, None, [accepted, cancelled], pipeline)


def _ids(queries: Queries, account: str) -> list[int]:
    answer = queries.answer(
        Pipeline(),
        "order_history",
        {"account": account, "count": 1000, "include_unfilled": True},
    )
    return [view["order_id"] for view in answer]


def test_the_index_keeps_at_most_the_bound_per_account_and_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queries = Queries()
    _closed_orders(queries, "busy", 1, query_module.CLOSED_PER_ACCOUNT + 50)
    kept = _ids(queries, "busy")
    assert len(kept) == query_module.CLOSED_PER_ACCOUNT
    assert kept[0] == query_module.CLOSED_PER_ACCOUNT + 50  # newest first, oldest dropped
    assert len(queries.orders) == query_module.CLOSED_PER_ACCOUNT
    # The global bound drops the oldest closed record of anyone.
    monkeypatch.setattr(query_module, "CLOSED_ORDERS_KEPT", query_module.CLOSED_PER_ACCOUNT + 10)
    _closed_orders(queries, "quiet", 10_000, 20)
    assert len(queries.orders) == query_module.CLOSED_PER_ACCOUNT + 10
    assert len(_ids(queries, "busy")) == query_module.CLOSED_PER_ACCOUNT - 10
    assert _ids(queries, "quiet") == list(range(10_019, 9_999, -1))


def test_saved_order_records_load_only_at_their_own_sequence() -> None:
    queries = Queries()
    _closed_orders(queries, "saver", 1, 30)
    data = queries.save(30)
    loaded = Queries.load(data, 30)
    assert loaded is not None and _ids(loaded, "saver") == _ids(queries, "saver")
    assert Queries.load(data, 31) is None
    assert Queries.load(b"\x00garbage", 30) is None
    assert Queries.load(data[:-3], 30) is None

"""``private/edit`` signs a replacement with the gateway's delegated key, so the order stays
provable on chain after the edit (docs/settlement.md, signed replacements)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from optex.crypto import PrivateKey, SignedOrder, decode_signed_order, sign_order
from optex.exchange import SETTLEMENT_WINDOW_MS, EngineClient
from tests.gateway.kit import CALL, Exchange, Rest
from tests.gateway.test_signed import delegate, encoded, intent

pytestmark = pytest.mark.integration


@pytest.fixture
def carol(exchange: Exchange) -> Iterator[Rest]:
    client = Rest(exchange.url, exchange.credentials["carol"])
    yield client
    client.get("private/cancel_all")
    client.close()


def governing(exchange: Exchange, account: str, order_id: int) -> SignedOrder | None:
    async def ask() -> bytes | None:
        client = await EngineClient.connect(*exchange.engine_address)
        try:
            data: bytes | None = await client.query(
                "signed_order", account=account, order_id=order_id
            )
            return data
        finally:
            await client.close()

    data = asyncio.run(ask())
    return None if data is None else decode_signed_order(data)


def test_an_edit_is_a_replacement_signed_by_the_key_that_signed_the_order(
    exchange: Exchange, carol: Rest
) -> None:
    placed = carol.get(
        "private/buy", instrument_name=CALL, amount="0.3", type="limit", price="3900"
    )["result"]["order"]
    order_id = int(placed["order_id"])
    original = governing(exchange, "carol", order_id)
    assert original is not None and original.intent.revision == 0
    edited = carol.get("private/edit", order_id=order_id, amount="0.5", price="3905")["result"]
    assert (edited["order"]["amount"], edited["order"]["price"]) == (0.5, 3905.0)
    replacement = governing(exchange, "carol", order_id)
    assert replacement is not None
    assert replacement.public_key == original.public_key
    assert (replacement.intent.revision, replacement.intent.replaces) == (1, original.order_hash)
    assert (replacement.intent.price, replacement.intent.quantity) == (3_905_000_000, 50_000_000)
    again = carol.get("private/edit", order_id=order_id, amount="0.4")["result"]
    assert again["order"]["amount"] == 0.4
    third = governing(exchange, "carol", order_id)
    assert third is not None and third.intent.revision == 2
    assert third.intent.origin == original.order_hash
    # Another account cannot read, let alone replace, carol's order.
    assert governing(exchange, "dave", order_id) is None


def test_an_order_the_user_signed_is_not_edited_with_the_gateways_key(
    exchange: Exchange,
) -> None:
    key = PrivateKey.generate()
    delegate(exchange, "dave", key)
    with Rest(exchange.url, exchange.credentials["dave"]) as dave:
        placed = dave.get(
            "private/optex_place_signed_order",
            signed_order=encoded(sign_order(key, intent("dave", 71))),
        )["result"]["order"]
        reply = dave.get("private/edit", order_id=placed["order_id"], amount="0.02")
        assert reply["error"]["code"] == -32602
        assert "signed replacement" in reply["error"]["data"]["message"]
        state = dave.get("private/get_order_state", order_id=placed["order_id"])["result"]
        assert state["amount"] == 0.01
        dave.get("private/cancel_all")


def test_a_good_til_day_order_trades_until_0800_utc_and_its_signature_lasts_beyond(
    exchange: Exchange, carol: Rest
) -> None:
    day_ms, eight_ms = 86_400_000, 8 * 3_600_000
    before = time.time_ns() // 1_000_000
    placed = carol.get(
        "private/buy",
        instrument_name=CALL,
        amount="0.1",
        type="limit",
        price="3800",
        time_in_force="good_til_day",
    )["result"]["order"]
    signed = governing(exchange, "carol", int(placed["order_id"]))
    assert signed is not None
    # Signed to the settlement window after the next 08:00 UTC, so the engine stops it at
    # 08:00. (Placed in the first minutes after 08:00, that would outlast what the gateway
    # signs for, just under a day: then it is capped there.)
    expiry = signed.intent.expiry_ms
    assert before < expiry <= before + day_ms
    capped = expiry >= before + day_ms - 600_000
    assert expiry % day_ms == eight_ms + SETTLEMENT_WINDOW_MS or capped

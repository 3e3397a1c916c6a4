"""Trade on an optex gateway with optex.client: read the market, place, amend and cancel.

Run against a gateway (``python -m optex.gateway ...``) with an API key for an account:

    OPTEX_URL=ws://127.0.0.1:8000 OPTEX_CLIENT_ID=... OPTEX_CLIENT_SECRET=... \\
        python examples/client_quickstart.py [INSTRUMENT]

The secret is used to sign the login (``client_signature``); it is never sent.
"""

from __future__ import annotations

import asyncio
import os
import sys

from optex.client import ApiError, AsyncClient, ClientSignature


async def main(instrument: str) -> None:
    credentials = ClientSignature(os.environ["OPTEX_CLIENT_ID"], os.environ["OPTEX_CLIENT_SECRET"])
    url = os.environ.get("OPTEX_URL", "ws://127.0.0.1:8000")
    async with AsyncClient(url, credentials=credentials, heartbeat_interval_s=10) as client:
        listed = {i.instrument_name: i for i in await client.get_instruments()}
        tick = listed[instrument].tick_size
        print(f"{len(listed)} instruments listed; {instrument} trades in steps of {tick}")
        book = await client.get_order_book(instrument, depth=5)
        print(f"bid {book.best_bid_price}, ask {book.best_ask_price}, mark {book.mark_price}")

        # every change to our orders arrives here, whoever caused it
        updates = await client.subscribe(f"user.orders.{instrument}.raw")
        price = round((book.mark_price or 1000.0) * 0.95 / tick) * tick  # well below the market
        placed = await client.buy(instrument, 0.01, price=price, label="quickstart")
        order_id = placed.order.order_id
        print(f"placed {order_id}: {placed.order.order_state}, {placed.order.amount} at {price}")
        edited = await client.edit(order_id, 0.02, price)
        print(f"amended to {edited.order.amount}")
        cancelled = await client.cancel(order_id)
        print(f"cancelled: {cancelled.order_state}")
        for _ in range(3):
            note = await anext(updates)
            print(f"  update on {note.channel}: {note.data.order_state} {note.data.amount}")
        try:
            await client.cancel(order_id)
        except ApiError as error:
            print(f"cancelling twice is refused: {error.code} {error.message}")
        await updates.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "BTC-PERPETUAL"))

"""What signing the devnet's quotes would cost: sign and verify time per quote leg, and the
signatures per second a full requote of the devnet's books needs at a given ``--step``.

A quote leg is a post-only limit ``OrderIntent`` of the market maker; signing is what the maker
does (``sign_order``: check, canonical encoding, Ed25519), verifying what the sequencer does per
leg (canonical encoding, Ed25519). Prints one JSON line.

    .venv/bin/python benchmarks/quote_signing.py [--legs 3000] [--step 1.0]
"""

from __future__ import annotations

import argparse
import json
import time

from optex.crypto import (
    ORDER_DOMAIN,
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    sign_order,
    verify,
)

FUTURE_BOOKS = 6
"""Per underlying (BTC, ETH) the perpetual and the two nearest futures."""
LADDER_LEVELS = 3
OPTION_BOOKS = 40
"""The defaults: 2 expiries x 5 strikes x call and put, per underlying."""
LEGS_PER_REQUOTE = FUTURE_BOOKS * LADDER_LEVELS * 2 + OPTION_BOOKS * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=3000)
    parser.add_argument("--step", type=float, default=1.0, help="the devnet's --step in seconds")
    args = parser.parse_args()
    key = PrivateKey.generate()
    intents = [
        OrderIntent(
            chain_id="optex-devnet",
            account="devnet-mm-btc",
            instrument="BTC-27DEC26-100000-C",
            side=Side.BUY if n % 2 else Side.SELL,
            order_type=OrderType.LIMIT,
            price=5_000_000_000 + n * 5_000_000,
            quantity=10_000_000,
            post_only=True,
            nonce=n,
            expiry_ms=2_000_000_000_000,
        )
        for n in range(args.legs)
    ]
    start = time.perf_counter()
    signed = [sign_order(key, intent) for intent in intents]
    signed_at = time.perf_counter()
    for order in signed:
        verify(order.public_key, order.signature, ORDER_DOMAIN, "optex-devnet", order.intent)
    done = time.perf_counter()
    sign_us = (signed_at - start) / args.legs * 1e6
    verify_us = (done - signed_at) / args.legs * 1e6
    per_second = LEGS_PER_REQUOTE / args.step
    print(
        json.dumps(
            {
                "legs_per_requote": LEGS_PER_REQUOTE,
                "step_s": args.step,
                "signatures_per_s": round(per_second),
                "sign_us": round(sign_us, 1),
                "verify_us": round(verify_us, 1),
                "core_share_sign_and_verify": round(per_second * (sign_us + verify_us) / 1e6, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

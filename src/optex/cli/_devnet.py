"""``optex devnet``: validators, the engine, the index feed and market makers on one machine."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from optex.devnet import DevnetConfig, run_devnet


def register(subparsers: Any) -> None:
    """Add ``devnet`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "devnet",
        help="run the whole exchange on this machine",
        description=(
            "Start the validators, the engine service, a simulated index feed and market "
            "makers quoting BTC and ETH options, futures and perpetuals; print the endpoints "
            "and funded accounts; stop everything on Ctrl-C. State stays in --home, so a "
            "restart on the same home resumes."
        ),
    )
    parser.add_argument(
        "--home", type=Path, default=Path(".optex-devnet"), help="state (default ./.optex-devnet)"
    )
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--expiries", type=int, default=2, help="option expiries per underlying")
    parser.add_argument("--strikes", type=int, default=5, help="strikes per expiry")
    parser.add_argument("--step", type=float, default=1.0, help="seconds between index moves")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--gateway-port", type=int, default=8000, help="127.0.0.1 port of the gateway (0: any)"
    )
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument(
        "--funding-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="perpetual funding interval of a new home's chain (default: 8 hours)",
    )
    parser.add_argument(
        "--background-nice",
        type=int,
        default=10,
        help="run validators and settlement this much below the engine and gateway (0-19)",
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the devnet until Ctrl-C."""
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    config = DevnetConfig(
        home=args.home,
        validators=args.validators,
        expiries=args.expiries,
        strikes=args.strikes,
        step_s=args.step,
        seed=args.seed,
        gateway_port=args.gateway_port,
        steps=args.steps,
        funding_interval_s=args.funding_interval,
        background_nice=args.background_nice,
    )
    return run_devnet(config)

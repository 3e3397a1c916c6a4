"""``python -m tests.settlement.skewed_node --home DIR --offset-file FILE``: one node whose block
time is the wall clock plus the offset in ``FILE`` (``optex node`` with a clock a test moves).

A test makes an instrument expire on a real chain by writing a later offset; every validator
reads the same file, so their proposals agree on time as real clocks would.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from optex.node import Node
from tests.settlement.chain_kit import OffsetClock


async def _run(home: Path, offset_file: Path) -> int:
    node = Node(home, clock_ms=OffsetClock(offset_file))
    await node.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    waiting = loop.create_task(node.wait())
    halted = loop.create_task(stopped.wait())
    await asyncio.wait({waiting, halted}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiting, halted):
        task.cancel()
    await node.stop()
    return 0 if node.failure is None else 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--offset-file", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return asyncio.run(_run(args.home, args.offset_file))


if __name__ == "__main__":
    sys.exit(main())

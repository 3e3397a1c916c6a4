"""``python -m tests.settlement.engine_main --home DIR --keys FILE``: the engine service as its
own process, with a key authority read from a JSON file of ``{account: trading key hex}``.

``optex engine`` has no key authority yet (it is to come from the chain), so it refuses signed
orders; this is the same service with the authority the test's chain registered.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from optex.exchange import ServiceConfig, run
from optex.journal import FsyncPolicy
from tests.settlement.kit import Keys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--keys", type=Path, required=True)
    parser.add_argument("--chain-id", default="optex-devnet")
    args = parser.parse_args()
    keys = {a: bytes.fromhex(k) for a, k in json.loads(args.keys.read_text()).items()}
    config = ServiceConfig(
        home=args.home,
        chain_id=args.chain_id,
        fsync=FsyncPolicy.NEVER,
        authority=Keys(keys),
    )
    return run(config)


if __name__ == "__main__":
    sys.exit(main())

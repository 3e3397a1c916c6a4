"""What keeping the gateway's sessions across restarts costs (``optex.gateway._sessions``).

For N API keys with F logins each, each refreshed R times, it measures: a login's save (one
appended, fsynced log line) and the part of it on the event loop; a compaction's part on the
loop (prune, export, encode: the loop must see one state); a start (snapshot restored, log
replayed, a fresh snapshot written). Prints one line per size.

    .venv/bin/python benchmarks/sessions.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from optex.crypto import Access, PrivateKey, Scopes, Session, TokenStore
from optex.gateway._sessions import SessionFile

SIZES = ((100, 4, 2), (1000, 4, 2), (1000, 32, 20))
"""(API keys, logins per key, refreshes per login); the last is the per-key cap, reached."""


def fill(store: TokenStore, keys: int, logins: int, refreshes: int, now_ms: int) -> None:
    """Log in and refresh as many clients would."""
    for k in range(keys):
        session = Session(f"acct{k}", f"client{k}", Scopes(Access.READ, Access.READ_WRITE))
        for _ in range(logins):
            pair = store.issue(session, now_ms=now_ms)
            for _ in range(refreshes):
                pair = store.refresh(pair.refresh_token, ip=None, now_ms=now_ms)


async def measure(keys: int, logins: int, refreshes: int, samples: int) -> str:
    gateway_key = PrivateKey.generate()
    now = int(time.time() * 1000)
    probe = Session("bench", "benchclient", Scopes(Access.READ, Access.READ_WRITE))
    with tempfile.TemporaryDirectory() as directory:
        home = Path(directory)
        store = TokenStore(keep_changes=True)
        files = SessionFile(home, gateway_key)
        files.load(store, now)
        fill(store, keys, logins, refreshes, now)
        await files.save(store, now)
        saves, on_loop = [], []
        for _ in range(samples):
            start = time.perf_counter()
            store.issue(probe, now_ms=now)
            task = asyncio.ensure_future(files.save(store, now))
            await asyncio.sleep(0)  # the save runs on the loop until its write goes to a thread
            on_loop.append(time.perf_counter() - start)
            await task
            saves.append(time.perf_counter() - start)
        start = time.perf_counter()
        files._compaction(store, now)  # the on-loop part alone
        compaction = time.perf_counter() - start
        files.close()
        start = time.perf_counter()
        again = SessionFile(home, gateway_key)
        again.load(TokenStore(keep_changes=True), now)
        load = time.perf_counter() - start
        again.close()
    return (
        f"{keys} keys x {logins} logins x {refreshes} refreshes = {len(store)} digests: "
        f"login save p50 {statistics.median(saves) * 1000:.2f} ms (max "
        f"{max(saves) * 1000:.1f}), on the loop p50 {statistics.median(on_loop) * 1000:.2f} ms; "
        f"compaction on the loop {compaction * 1000:.0f} ms; start {load * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smaller sizes only")
    args = parser.parse_args()
    for keys, logins, refreshes in SIZES[:2] if args.quick else SIZES:
        print(asyncio.run(measure(keys, logins, refreshes, samples=50)), flush=True)


if __name__ == "__main__":
    main()

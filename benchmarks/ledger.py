"""Ledger benchmark: verified fills per second, and the state root over many accounts.

Cases (one JSON line each):

* ``fills_cold``: every fill carries two fresh signed orders and the validator has verified
  none of them: two Ed25519 verifies per fill, the worst case.
* ``fills_resting_makers``: each maker order rests and fills ``--maker-fills`` times against fresh
  taker orders, as on a real book: the maker is verified once, then cached by order hash.
* ``fills_cached``: every signature was already verified (a proposer re-applying its own block,
  or a validator that saw the orders earlier): the cost of everything else.
* ``state_root``: the Merkle root over ``--accounts`` accounts from scratch, then after a block
  that changes 1,000 of them.

Each fills case decodes the block bytes and applies them on a fresh validator ledger (balances,
positions, fees, fill tracking, state root), single process, one core.
Run ``python benchmarks/ledger.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from typing import Any

from optex.chain import (
    Account,
    AssetSpec,
    Block,
    Fill,
    Genesis,
    GenesisAccount,
    Ledger,
    Position,
    RegisterTradingKey,
    SignedTx,
    State,
    TradeBatch,
    TradingParams,
    encode_record,
    sign_tx,
)
from optex.core import DEFAULT_LISTING_RULES, decode, encode
from optex.crypto import (
    OrderIntent,
    OrderType,
    PrivateKey,
    Side,
    SignedOrder,
    TradingKeyAuthorization,
    TradingScope,
    sign,
    sign_order,
)

CHAIN = "optex-bench"
T0 = 1_798_761_600_000
INSTRUMENTS = tuple(f"BTC-26MAR27-{k}-C" for k in (90000, 95000, 100000, 105000, 110000))
TICK, LOT = 5_000_000, 1_000_000


def _key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest())


OPERATOR = _key("operator")


class Setup:
    """A genesis with ``traders`` funded accounts whose trading keys are registered."""

    def __init__(self, traders: int) -> None:
        self.names = [f"t{i}" for i in range(traders)]
        self.owners = {n: _key("owner/" + n) for n in self.names}
        self.traders = {n: _key("trade/" + n) for n in self.names}
        self.genesis = Genesis(
            chain_id=CHAIN,
            genesis_time_ms=T0,
            assets=(AssetSpec("USDC", 6), AssetSpec("OPX", 6)),
            bridge_key=_key("bridge").public_key.hex(),
            operator_key=OPERATOR.public_key.hex(),
            underlyings={"BTC": DEFAULT_LISTING_RULES["BTC"]},
            accounts=tuple(
                GenesisAccount(n, self.owners[n].public_key.hex(), {"USDC": 10**15})
                for n in self.names
            ),
            trading=TradingParams(max_fills_per_batch=100_000),
        )
        self.now = T0
        self.order_nonce = 0
        self.operator_nonce = 0
        self.blocks: list[bytes] = []
        self.proposer = Ledger(self.genesis)
        registrations = []
        for n in self.names:
            message = TradingKeyAuthorization(
                chain_id=CHAIN,
                account=n,
                trading_key=self.traders[n].public_key.raw,
                scopes=(TradingScope.TRADE,),
                not_before_ms=0,
                expiry_ms=T0 + 10**9,
                nonce=1,
            )
            signature = sign(self.owners[n], "delegate/v1", CHAIN, message)
            body = RegisterTradingKey(
                chain_id=CHAIN, nonce=1, authorization=message, owner_signature=signature
            )
            registrations.append(sign_tx(self.owners[n], body))
        self.setup_blocks = [self.seal(registrations)]

    def seal(self, txs: list[SignedTx]) -> bytes:
        self.now += 1_000
        block = self.proposer.build_block(self.now, txs)
        result = self.proposer.apply_block(block)
        assert all(r.ok for r in result.txs), [r.message for r in result.txs if not r.ok]
        return encode(block)

    def order(self, account: str, side: Side, instrument: str, quantity: int) -> SignedOrder:
        self.order_nonce += 1
        intent = OrderIntent(
            chain_id=CHAIN,
            account=account,
            instrument=instrument,
            side=side,
            order_type=OrderType.LIMIT,
            price=100 * TICK,
            quantity=quantity,
            nonce=self.order_nonce,
            expiry_ms=self.now + 3_600_000,
        )
        return sign_order(self.traders[account], intent)

    def trade_blocks(self, fills: int, maker_fills: int, batch: int) -> list[bytes]:
        """Blocks of trade batches; each maker order fills ``maker_fills`` times."""
        all_fills: list[Fill] = []
        count = 0
        while len(all_fills) < fills:
            maker_name = self.names[count % len(self.names)]
            instrument = INSTRUMENTS[count % len(INSTRUMENTS)]
            maker = self.order(maker_name, Side.SELL, instrument, maker_fills * LOT)
            for j in range(maker_fills):
                taker_name = self.names[(count + 1 + j) % len(self.names)]
                if taker_name == maker_name:
                    taker_name = self.names[(count + 2 + j) % len(self.names)]
                taker = self.order(taker_name, Side.BUY, instrument, LOT)
                all_fills.append(Fill(maker=maker, taker=taker, price=100 * TICK, quantity=LOT))
            count += 1
        all_fills = all_fills[:fills]
        blocks = []
        for start in range(0, len(all_fills), batch):
            self.operator_nonce += 1
            body = TradeBatch(
                chain_id=CHAIN,
                nonce=self.operator_nonce,
                fills=tuple(all_fills[start : start + batch]),
            )
            blocks.append(self.seal([sign_tx(OPERATOR, body)]))
        return blocks


def _validator(setup: Setup) -> Ledger:
    ledger = Ledger(setup.genesis)
    for data in setup.setup_blocks:
        ledger.apply_block(decode(data, Block))
    return ledger


def _apply(ledger: Ledger, blocks: list[bytes]) -> float:
    start = time.perf_counter()
    for data in blocks:
        ledger.apply_block(decode(data, Block))
    return time.perf_counter() - start


def bench_fills(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    cases = (("fills_cold", 1), ("fills_resting_makers", args.maker_fills))
    for name, maker_fills in cases:
        setup = Setup(args.traders)
        blocks = setup.trade_blocks(args.fills, maker_fills, args.batch)
        validator = _validator(setup)
        validator.signatures.clear()
        elapsed = _apply(validator, blocks)
        assert validator.state_root() == setup.proposer.state_root()
        rows.append(
            {
                "case": name,
                "fills": args.fills,
                "maker_fills": maker_fills,
                "batch": args.batch,
                "seconds": round(elapsed, 4),
                "fills_per_s": round(args.fills / elapsed),
                "signature_verifies": validator.signatures.misses,
                "signature_cache_hits": validator.signatures.hits,
            }
        )
        if maker_fills == 1:
            cached = _validator(setup)
            cached.signatures = setup.proposer.signatures
            hits = cached.signatures.hits
            elapsed = _apply(cached, blocks)
            rows.append(
                {
                    "case": "fills_cached",
                    "fills": args.fills,
                    "batch": args.batch,
                    "seconds": round(elapsed, 4),
                    "fills_per_s": round(args.fills / elapsed),
                    "signature_cache_hits": cached.signatures.hits - hits,
                }
            )
    return rows


def bench_state_root(accounts: int) -> dict[str, Any]:
    owner = bytes(32)
    records: dict[str, Any] = {}
    for i in range(accounts):
        records[f"acct/a{i}"] = Account(
            owner=owner,
            balances={"USDC": 10**12 + i, "BTC": i},
            positions={INSTRUMENTS[i % 5]: Position(LOT * (i % 7 + 1))},
        )
    start = time.perf_counter()
    encoded = {k: encode_record(v) for k, v in records.items()}
    encode_s = time.perf_counter() - start
    state = State()
    start = time.perf_counter()
    state.load(records, encoded)
    root = state.root()
    cold_s = time.perf_counter() - start
    writes = {
        f"acct/a{i}": Account(owner=owner, balances={"USDC": i}) for i in range(0, accounts, 97)
    }
    writes = dict(list(writes.items())[:1000])
    start = time.perf_counter()
    state.stage(writes)
    updated = state.root()
    dirty_s = time.perf_counter() - start
    assert updated != root
    return {
        "case": "state_root",
        "accounts": accounts,
        "encode_s": round(encode_s, 4),
        "root_from_scratch_s": round(cold_s, 4),
        "changed_accounts": len(writes),
        "root_after_block_ms": round(dirty_s * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--fills", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--maker-fills", type=int, default=20)
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.quick:
        args.fills, args.batch, args.traders, args.accounts = 200, 100, 20, 2_000
    env = {"python": platform.python_version(), "machine": platform.machine()}
    for row in bench_fills(args):
        print(json.dumps({**row, **env}))
    print(json.dumps({**bench_state_root(args.accounts), **env}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

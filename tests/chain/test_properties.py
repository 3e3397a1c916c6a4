"""Property tests over random transaction histories.

Each history mixes deposits, withdrawals, transfers, trades, delegations and price votes with
replays, forgeries and transactions signed for another chain. After every block the ledger's own
supply count must equal its holdings, and move only by applied deposits and withdrawals; the bad
transactions must be refused with their reason and be inert (a twin chain that never saw them
reaches the same state root); and replaying the blocks on fresh memory and SQLite stores, or
reopening the SQLite file, gives the same root.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from optex.chain import (
    Block,
    Delegate,
    Deposit,
    Ledger,
    MemoryStore,
    PriceVote,
    SignedTx,
    SqliteStore,
    TradeBatch,
    Transfer,
    Undelegate,
    Withdraw,
    sign_tx,
)
from optex.chain._tx import tx_type
from optex.crypto import Side
from tests.chain.kit import (
    ACCOUNTS,
    BRIDGE,
    OPERATOR,
    OPTION,
    OPX,
    PERP,
    USDC,
    Chain,
    owner,
    validator_address,
    validator_key,
)

amounts = st.integers(1, 2_000_000_000_000)
accounts = st.sampled_from(ACCOUNTS)
action = st.one_of(
    st.tuples(st.just("deposit"), accounts, amounts, st.integers(0, 5)),
    st.tuples(st.just("withdraw"), accounts, amounts),
    st.tuples(st.just("transfer"), accounts, accounts, amounts),
    st.tuples(
        st.just("trade"),
        accounts,
        accounts,
        st.sampled_from([OPTION, PERP]),
        st.integers(1, 40),
        st.integers(1, 4),
        st.integers(1, 3),
    ),
    st.tuples(st.just("delegate"), accounts, st.integers(0, 3), st.integers(1, 10**9)),
    st.tuples(st.just("undelegate"), accounts, st.integers(0, 3), st.integers(1, 10**9)),
    st.tuples(st.just("vote"), st.integers(0, 3), st.integers(90_000, 110_000)),
    st.tuples(st.just("replay")),
    st.tuples(st.just("forge")),
    st.tuples(st.just("other_chain"), accounts),
    st.tuples(st.just("block"), st.integers(1, 30_000)),
)

BAD_REASONS = {
    "replay": {"nonce_reused"},
    "forge": {"bad_signature"},
    "other_chain": {"wrong_chain"},
}


def _trade(chain: Chain, action: tuple) -> SignedTx:  # type: ignore[type-arg]
    _, seller, buyer, instrument, ticks, lots, fills = action
    if instrument == OPTION:
        tick, lot = 5_000_000, 1_000_000
    else:
        tick, lot = 500_000, 10_000
        ticks *= 5_000
    price = ticks * tick
    maker = chain.order(seller, Side.SELL, price, lots * lot * fills, instrument=instrument)
    batch = []
    for _ in range(fills):
        taker = chain.order(buyer, Side.BUY, price, lots * lot, instrument=instrument)
        batch.append(chain.fill(maker, taker))
    return chain.sign(OPERATOR, TradeBatch, fills=tuple(batch))


def _good_tx(chain: Chain, action: tuple, deposits: int) -> SignedTx:  # type: ignore[type-arg]
    kind = action[0]
    if kind == "deposit":
        _, account, amount, reuse = action
        deposit_id = f"d{deposits - reuse if reuse < deposits else deposits}"
        return chain.sign(
            BRIDGE,
            Deposit,
            account=account,
            owner_key=owner(account).public_key.raw,
            asset=USDC,
            amount=amount,
            deposit_id=deposit_id,
        )
    if kind == "withdraw":
        _, account, amount = action
        return chain.sign(
            owner(account), Withdraw, account=account, asset=USDC, amount=amount, address="0xa"
        )
    if kind == "transfer":
        _, source, destination, amount = action
        return chain.sign(
            owner(source),
            Transfer,
            source=source,
            destination=destination,
            asset=USDC,
            amount=amount,
        )
    if kind == "trade":
        return _trade(chain, action)
    if kind in ("delegate", "undelegate"):
        _, account, index, amount = action
        body_type = Delegate if kind == "delegate" else Undelegate
        return chain.sign(
            owner(account),
            body_type,
            account=account,
            validator=validator_address(index),
            amount=amount,
        )
    _, index, price = action
    return chain.sign(validator_key(index), PriceVote, prices={"BTC": price * 1_000_000})


def _bad_tx(kind: str, applied: list[SignedTx], account: str) -> SignedTx:
    if kind == "replay":
        return applied[-1]
    if kind == "forge":
        tx = applied[-1]
        body = msgspec.structs.replace(tx.body, nonce=2**40 + len(applied))
        return SignedTx(body=body, signer=tx.signer, signature=tx.signature)
    body = Transfer(
        chain_id="optex-elsewhere", nonce=1, source=account, destination="bob", asset=USDC, amount=1
    )
    return sign_tx(owner(account), body)


def _without_meta(ledger: Ledger) -> dict[str, object]:
    """The state without its block bookkeeping (which names the block's hash)."""
    return {k: v for k, v in ledger.state.records.items() if k != "meta"}


def _replayed_root(blocks: list[Block], chain: Chain, store: MemoryStore | SqliteStore) -> bytes:
    ledger = Ledger(chain.genesis, store)
    for block in blocks:
        ledger.apply_block(block)
    return ledger.state_root()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(action, min_size=1, max_size=50))
def test_random_histories_conserve_supply_reject_bad_txs_and_replay_to_the_same_root(
    actions: list[tuple],  # type: ignore[type-arg]
) -> None:
    chain = Chain()
    twin = Chain(chain.genesis)
    setup = [chain.register(a) for a in ACCOUNTS]
    blocks: list[Block] = []

    def seal(txs: list[SignedTx], good: list[SignedTx], expected_bad: dict[int, set[str]]) -> None:
        chain.now += step[0]
        twin.now = chain.now
        block = chain.ledger.build_block(chain.now, txs)
        result = chain.ledger.apply_block(block)
        blocks.append(block)
        for index, reasons in expected_bad.items():
            assert result.txs[index].reason in reasons
        twin.ledger.apply_block(twin.ledger.build_block(twin.now, good))
        assert _without_meta(twin.ledger) == _without_meta(chain.ledger)
        applied.extend(tx for tx, r in zip(block.txs, result.txs, strict=True) if r.ok)
        for tx, r in zip(block.txs, result.txs, strict=True):
            event(f"{tx_type(tx.body)}: {r.reason or 'ok'}")
        usdc_moved = 0
        for tx, outcome in zip(block.txs, result.txs, strict=True):
            if outcome.ok and isinstance(tx.body, Deposit):
                usdc_moved += tx.body.amount
            if outcome.ok and isinstance(tx.body, Withdraw):
                usdc_moved -= tx.body.amount
        supply_before[0] += usdc_moved
        assert chain.ledger.supply(USDC) == supply_before[0] == chain.ledger.holdings(USDC)
        assert chain.ledger.supply(OPX) == chain.ledger.holdings(OPX)

    applied: list[SignedTx] = []
    step = [1_000]
    supply_before = [chain.ledger.supply(USDC)]
    seal(list(setup), list(setup), {})
    txs: list[SignedTx] = []
    good: list[SignedTx] = []
    bad: dict[int, set[str]] = {}
    deposits = 0
    for act in actions:
        kind = act[0]
        if kind == "block":
            step[0] = act[1]
            seal(txs, good, bad)
            txs, good, bad = [], [], {}
            continue
        if kind in BAD_REASONS:
            tx = _bad_tx(kind, applied, act[1] if len(act) > 1 else "alice")
            bad[len(txs)] = BAD_REASONS[kind]
            txs.append(tx)
            continue
        if kind == "deposit":
            deposits += 1
        tx = _good_tx(chain, act, deposits)
        txs.append(tx)
        good.append(tx)
    step[0] = 1_000
    seal(txs, good, bad)

    assert _replayed_root(blocks, chain, MemoryStore()) == chain.ledger.state_root()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.db"
        store = SqliteStore(path)
        assert _replayed_root(blocks, chain, store) == chain.ledger.state_root()
        store.close()
        reopened = SqliteStore(path)
        ledger = Ledger(chain.genesis, reopened)
        assert ledger.state_root() == chain.ledger.state_root()
        assert ledger.height == chain.ledger.height
        assert msgspec.json.encode(ledger.last_header) == msgspec.json.encode(
            chain.ledger.last_header
        )
        reopened.close()


money_action = st.one_of(
    st.tuples(st.just("deposit"), accounts, amounts, st.integers(0, 3)),
    st.tuples(st.just("withdraw"), accounts, amounts),
    st.tuples(st.just("transfer"), accounts, accounts, amounts),
    st.tuples(st.just("block"), st.integers(1, 5_000)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(money_action, min_size=1, max_size=40))
def test_balances_and_verdicts_match_a_naive_reference_ledger(
    actions: list[tuple],  # type: ignore[type-arg]
) -> None:
    chain = Chain()
    model = {a: chain.ledger.account(a).balances[USDC] for a in ACCOUNTS}  # type: ignore[union-attr]
    credited: set[str] = set()
    txs: list[SignedTx] = []
    expected: list[bool] = []
    deposits = 0

    def seal() -> None:
        result = chain.block(txs)
        assert [r.ok for r in result.txs] == expected
        for account, balance in model.items():
            assert chain.ledger.account(account).balances.get(USDC, 0) == balance  # type: ignore[union-attr]
        txs.clear()
        expected.clear()

    for act in actions:
        kind = act[0]
        if kind == "block":
            seal()
            continue
        if kind == "deposit":
            deposits += 1
        tx = _good_tx(chain, act, deposits)
        body = tx.body
        ok = False
        if isinstance(body, Deposit):
            ok = body.deposit_id not in credited
            if ok:
                credited.add(body.deposit_id)
                model[body.account] += body.amount
        elif isinstance(body, Withdraw):
            ok = model[body.account] >= body.amount
            if ok:
                model[body.account] -= body.amount
        elif isinstance(body, Transfer):
            ok = body.source != body.destination and model[body.source] >= body.amount
            if ok:
                model[body.source] -= body.amount
                model[body.destination] += body.amount
        txs.append(tx)
        expected.append(ok)
    seal()

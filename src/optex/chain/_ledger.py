"""The ledger: a pure, deterministic state machine from blocks to states.

:meth:`Ledger.apply_block` checks that a block follows the last one, runs its begin step (missed
signatures, the validator set it is signed by, unbonding and withdrawals that fall due, expiry
settlement, funding), each transaction on its own overlay (a rejected one changes nothing and
gets a reason code), and its end step (oracle prices, rewards and the next validator set at an
epoch). It then checks the resulting state root, results and next validator set against the
header and commits to the stores, or, if any differ, changes nothing and refuses the block. Time
comes only from the block header; I/O only through the store interfaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec

from optex.chain import _accounts, _oracle, _settle, _staking
from optex.chain._block import (
    Block,
    BlockResult,
    Event,
    Header,
    TxResult,
    block_hash,
    results_hash,
    txs_hash,
    validators_hash,
)
from optex.chain._codec import decode_record
from optex.chain._context import Context
from optex.chain._genesis import Genesis, hex_key, load_genesis
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    FEE_POOL,
    META,
    NEXT_SET,
    OPEN_INTEREST,
    PARAMS,
    SIGNING_SET,
    SUPPLY,
    UNBONDING,
    WITHDRAWALS,
    Account,
    Counter,
    Meta,
    OpenInterest,
    Validator,
    ValidatorSetRecord,
    account_key,
    nonce_key,
    record_type,
)
from optex.chain._state import Overlay, State
from optex.chain._store import BlockStore, MemoryStore, SqliteStore, StateStore
from optex.chain._trade import SignatureCache, apply_trade_batch, prune_expired_fills
from optex.chain._tx import (
    Delegate,
    Deposit,
    Evidence,
    PriceVote,
    Redelegate,
    RegisterTradingKey,
    RevokeTradingKey,
    SetWithdrawPolicy,
    SignedTx,
    Stake,
    TradeBatch,
    Transfer,
    TxBody,
    Undelegate,
    Unjail,
    Withdraw,
    tx_domain,
)
from optex.chain.consensus import Commit, ValidatorSet, address_of, verify_commit
from optex.core import (
    Conflict,
    Instrument,
    InvalidInput,
    NotFound,
    OptexError,
    Unauthorized,
    decode,
    encode,
)
from optex.crypto import verify

ZERO_HASH: Final = bytes(32)
GENESIS_FILE: Final = "genesis.json"
DATABASE_FILE: Final = "chain.db"
_U64: Final = 2**64


class Store(StateStore, BlockStore, Protocol):
    """A block store and a state store in one object (both built-in stores are)."""


_BUILT_KEPT: Final = 8


class _Run(msgspec.Struct, frozen=True):
    """The outcome of running ``block`` on the state whose last block hash is ``base``."""

    base: bytes
    block: Block
    view: Overlay
    results: list[TxResult]
    events: list[Event]
    signing: ValidatorSetRecord
    encoded: dict[str, bytes | None]
    """The canonical bytes of the run's writes, as staged to compute the header's root."""


class Ledger:
    """The settlement chain's state machine over a store."""

    def __init__(self, genesis: Genesis, store: Store | None = None) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.store: Store = store if store is not None else MemoryStore()
        self.state = State()
        self.signatures = SignatureCache()
        self._instruments: dict[str, Instrument] = {}
        self._bridge = hex_key(genesis.bridge_key, "bridge_key")
        self._operator = hex_key(genesis.operator_key, "operator_key")
        self.last_hash = ZERO_HASH
        self.last_header: Header | None = None
        # Blocks this ledger built (to propose, or to check a proposal) on its current state,
        # by block hash: committing one of them reuses that run instead of a second one.
        self._built: dict[bytes, _Run] = {}
        self.executions = 0
        """How many times a block's transactions were run (build or apply); for tests."""
        if self.store.state_height() < 0:
            self._write_genesis()
        else:
            self._load()

    @classmethod
    def open(cls, home: str | Path) -> Ledger:
        """The ledger of a node's home directory (``genesis.json`` and ``chain.db``)."""
        home = Path(home)
        path = home / GENESIS_FILE
        if not path.exists():
            raise NotFound(ChainReason.NOT_FOUND, f"no {GENESIS_FILE} in {home}")
        return cls(load_genesis(path), SqliteStore(home / DATABASE_FILE))

    # -- queries -----------------------------------------------------------------------------

    @property
    def meta(self) -> Meta:
        """Height and time of the last block."""
        return self.state.records[META]  # type: ignore[no-any-return]

    @property
    def height(self) -> int:
        """The last applied height (0 before the first block)."""
        return self.meta.height

    def state_root(self) -> bytes:
        """The Merkle root of the committed state."""
        return self.state.root()

    def get(self, key: str) -> Any | None:
        """The committed record under ``key``."""
        return self.state.get(key)

    def account(self, name: str) -> Account | None:
        """The committed account ``name``, if it exists."""
        return self.state.get(account_key(name))  # type: ignore[no-any-return]

    def validator(self, address: bytes) -> Validator | None:
        """The validator with this address, if any."""
        return self.state.get("val/" + address.hex())  # type: ignore[no-any-return]

    def signing_set(self) -> ValidatorSetRecord:
        """The validator set that signed the last block."""
        return self.state.records[SIGNING_SET]  # type: ignore[no-any-return]

    def supply(self, symbol: str) -> int:
        """How much of ``symbol`` the chain holds by its own count (genesis, deposits,
        withdrawals and slashes)."""
        record = self.state.get(SUPPLY + symbol)
        return 0 if record is None else record.value

    def holdings(self, symbol: str) -> int:
        """Everything of ``symbol`` the state holds, counted record by record (an audit).

        Balances, the fee pool, pending withdrawals, bonded and unbonding stake, less the cost
        basis of open futures (cash a closed position realizes comes out of it). It must equal
        :meth:`supply`; a full scan, for tests and audits.
        """
        total = 0
        for key, record in self.state.records.items():
            if isinstance(record, Account):
                total += record.balances.get(symbol, 0)
                for name, position in record.positions.items():
                    if position.cost and self._settlement_of(name) == symbol:
                        total -= position.cost
            elif isinstance(record, Validator) and symbol == self.genesis.staking.stake_asset:
                total += record.tokens
            elif key == FEE_POOL:
                total += record.amounts.get(symbol, 0)
            elif key == UNBONDING and symbol == self.genesis.staking.stake_asset:
                total += sum(e.amount for e in record.entries)
            elif key == WITHDRAWALS:
                total += sum(e.amount for e in record.entries if e.asset == symbol)
        return total

    def _settlement_of(self, name: str) -> str:
        ctx = Context(Overlay(self.state), self.genesis, 0, 0, self._instruments)
        return ctx.instrument(name).settlement

    # -- genesis and loading -----------------------------------------------------------------

    def _write_genesis(self) -> None:
        genesis = self.genesis
        view = Overlay(self.state)
        ctx = Context(view, genesis, 0, genesis.genesis_time_ms, self._instruments)
        view.put(PARAMS, genesis)
        for entry in genesis.accounts:
            balances = {k: v for k, v in entry.balances.items() if v}
            owner = hex_key(entry.owner_key, "owner_key")
            ctx.put_account(entry.account, Account(owner=owner, balances=balances))
            for symbol, amount in balances.items():
                ctx.add_supply(symbol, amount)
        for validator in genesis.validators:
            key = hex_key(validator.consensus_key, "consensus_key")
            record = Validator(
                operator=validator.account,
                consensus_key=key,
                commission_ppm=validator.commission_ppm,
                tokens=validator.stake,
                delegations={validator.account: validator.stake},
            )
            view.put("val/" + address_of(key).hex(), record)
            ctx.add_supply(genesis.staking.stake_asset, validator.stake)
        next_funding = genesis.genesis_time_ms + genesis.funding.interval_ms
        view.put(META, Meta(0, genesis.genesis_time_ms, ZERO_HASH, next_funding))
        view.put(OPEN_INTEREST, OpenInterest())
        active = _staking.elect(ctx)
        view.put(SIGNING_SET, active)
        encoded = self.state.stage(view.writes)
        self.state.commit(view.writes, encoded)
        self.store.save_state(0, encoded)

    def _load(self) -> None:
        raw = self.store.load_state()
        records = {key: decode_record(data, record_type(key)) for key, data in raw.items()}
        if records.get(PARAMS) != self.genesis:
            raise InvalidInput(ChainReason.INVALID_GENESIS, "the store belongs to another genesis")
        self.state.load(records, raw)
        height = self.height
        if height > 0:
            stored = self.store.load_block(height)
            if stored is None:
                raise InvalidInput(ChainReason.STORE_CORRUPT, f"block {height} is missing")
            self.last_header = decode(stored[0], Block).header
            self.last_hash = block_hash(self.last_header)
            # Callers take the last header's root as the state's (the node's status, proofs
            # checked against it): a stored state that does not hash to it is refused here.
            if self.state.root() != self.last_header.state_root:
                raise InvalidInput(
                    ChainReason.STORE_CORRUPT,
                    f"the stored state does not hash to block {height}'s state root",
                )
        for later in range(height + 1, self.store.block_height() + 1):
            stored = self.store.load_block(later)
            if stored is None:
                break
            self.apply_block(decode(stored[0], Block))

    # -- blocks ------------------------------------------------------------------------------

    def build_block(
        self,
        ts_ms: int,
        txs: Sequence[SignedTx],
        *,
        signers: Sequence[bytes] | None = None,
        proposer: bytes = b"",
    ) -> Block:
        """The next block with these transactions, its header computed by running it.

        ``signers`` are the addresses whose precommits for the last block were seen; by default
        the whole set that signed it. The state is left unchanged: apply the block to commit.
        """
        txs = tuple(txs)
        if signers is None:
            signers = [m.address for m in self.signing_set().members]
        header = Header(
            chain_id=self.chain_id,
            height=self.height + 1,
            ts_ms=ts_ms,
            prev_hash=self.last_hash,
            txs_hash=txs_hash(self.chain_id, txs),
            results_hash=ZERO_HASH,
            state_root=ZERO_HASH,
            validators_hash=ZERO_HASH,
            next_validators_hash=ZERO_HASH,
            proposer=proposer,
        )
        self._check_follows(header)
        view, results, events, signing = self._execute(header, txs, tuple(signers))
        try:
            encoded = self.state.stage(view.writes)
            root = self.state.root()
        finally:
            self.state.unstage(view.writes)
        header = msgspec.structs.replace(
            header,
            results_hash=results_hash(self.chain_id, results, events),
            state_root=root,
            validators_hash=validators_hash(self.chain_id, signing),
            next_validators_hash=validators_hash(self.chain_id, view.get(NEXT_SET)),
        )
        block = Block(header=header, txs=txs, signers=tuple(signers))
        if len(self._built) >= _BUILT_KEPT:
            # Rounds that fail to commit leave their proposals behind; keep the newest few.
            del self._built[next(iter(self._built))]
        self._built[block_hash(header)] = _Run(
            self.last_hash, block, view, results, events, signing, encoded
        )
        return block

    def apply_block(self, block: Block) -> BlockResult:
        """Run and commit a block, or refuse it and change nothing."""
        header = block.header
        self._check_follows(header)
        if header.txs_hash != txs_hash(self.chain_id, block.txs):
            raise InvalidInput(ChainReason.BAD_BLOCK, "the transactions do not match the header")
        built = self._built.get(block_hash(header))
        if built is not None and (built.base != self.last_hash or built.block != block):
            built = None
        if built is not None:
            # The same block on the same state: the run is deterministic, so its outcome is
            # what a second run would give. A validator has built almost every block it
            # commits (to propose it or to check the proposal), so this saves a second run.
            view, results, events, signing = built.view, built.results, built.events, built.signing
        else:
            view, results, events, signing = self._execute(header, block.txs, block.signers)
        expected = (
            validators_hash(self.chain_id, signing),
            results_hash(self.chain_id, results, events),
            validators_hash(self.chain_id, view.get(NEXT_SET)),
        )
        found = (header.validators_hash, header.results_hash, header.next_validators_hash)
        if expected != found:
            raise InvalidInput(ChainReason.STATE_MISMATCH, "results or validator sets differ")
        try:
            if built is not None:
                # The root of these writes on this state was computed to make the header: no
                # second hashing now; the tree rehashes their paths together with the next
                # block's, the next time a root is asked for.
                encoded = self.state.stage(view.writes, built.encoded)
                root = header.state_root
            else:
                encoded = self.state.stage(view.writes)
                root = self.state.root()
        except BaseException:
            self.state.unstage(view.writes)
            raise
        if root != header.state_root:
            self.state.unstage(view.writes)
            raise InvalidInput(
                ChainReason.STATE_MISMATCH,
                f"state root {root.hex()} differs from the header's {header.state_root.hex()}",
            )
        self.state.commit(view.writes, encoded)
        digest = block_hash(header)
        result = BlockResult(header.height, digest, root, tuple(results), tuple(events))
        self.store.save_block(header.height, encode(block), encode(result))
        self.store.save_state(header.height, encoded)
        self.last_hash = digest
        self.last_header = header
        self._built.clear()
        return result

    def save_commit(self, commit: Commit) -> None:
        """Check that ``commit`` seals the last block with >2/3 of the stake, and store it."""
        header = self.last_header
        if header is None or commit.height != header.height:
            raise InvalidInput(ChainReason.INVALID_COMMIT, "a commit is stored for the last block")
        try:
            verify_commit(
                consensus_set(self.signing_set()),
                self.chain_id,
                header.height,
                self.last_hash,
                commit,
            )
        except InvalidInput as exc:
            raise InvalidInput(ChainReason.INVALID_COMMIT, exc.message) from None
        self.store.save_commit(header.height, encode(commit))

    def load_block(self, height: int) -> tuple[Block, BlockResult]:
        """A stored block and its result."""
        stored = self.store.load_block(height)
        if stored is None:
            raise NotFound(ChainReason.NOT_FOUND, f"no block at height {height}")
        return decode(stored[0], Block), decode(stored[1], BlockResult)

    def load_commit(self, height: int) -> Commit:
        """The stored commit of ``height``."""
        stored = self.store.load_commit(height)
        if stored is None:
            raise NotFound(ChainReason.NOT_FOUND, f"no commit stored for height {height}")
        return decode(stored, Commit)

    def _check_follows(self, header: Header) -> None:
        if header.chain_id != self.chain_id:
            raise InvalidInput(ChainReason.BAD_BLOCK, f"the block is for chain {header.chain_id}")
        if header.height != self.height + 1:
            raise InvalidInput(ChainReason.BAD_BLOCK, f"expected height {self.height + 1}")
        if header.prev_hash != self.last_hash:
            raise InvalidInput(ChainReason.BAD_BLOCK, "the block does not follow the last block")
        if isinstance(header.ts_ms, bool) or not self.meta.ts_ms < header.ts_ms < _U64:
            raise InvalidInput(ChainReason.BAD_BLOCK, "block time must increase")

    def _execute(
        self, header: Header, txs: Sequence[SignedTx], signers: Sequence[bytes]
    ) -> tuple[Overlay, list[TxResult], list[Event], ValidatorSetRecord]:
        self.executions += 1
        view = Overlay(self.state)
        ctx = Context(view, self.genesis, header.height, header.ts_ms, self._instruments)
        meta: Meta = view.get(META)
        last_signing: ValidatorSetRecord = view.get(SIGNING_SET)
        if header.height > 1:
            _staking.record_signatures(ctx, last_signing, set(signers))
        signing: ValidatorSetRecord = view.get(NEXT_SET)
        if signing != last_signing:
            view.put(SIGNING_SET, signing)
        _staking.pay_unbonded(ctx)
        _settle.release_withdrawals(ctx)
        prune_expired_fills(ctx)
        _settle.settle_expired(ctx)
        next_funding = meta.next_funding_ms
        if header.ts_ms >= next_funding:
            _settle.pay_funding(ctx)
            interval = self.genesis.funding.interval_ms
            next_funding += ((header.ts_ms - next_funding) // interval + 1) * interval
        events = ctx.events
        results: list[TxResult] = []
        for tx in txs:
            child = ctx.child()
            try:
                self._apply_tx(child, tx, signing)
            except OptexError as exc:
                results.append(TxResult(int(exc.code), exc.reason, exc.message))
                continue
            child.view.merge_into(view)
            results.append(TxResult(0, "", "", tuple(child.events)))
        ctx.events = events
        _oracle.aggregate(ctx, signing)
        meta = view.get(META)
        if header.height % self.genesis.staking.epoch_blocks == 0:
            _staking.distribute_rewards(ctx, signing)
            _elect(ctx)
        elif meta.set_changed:
            _elect(ctx)
        view.put(META, Meta(header.height, header.ts_ms, header.prev_hash, next_funding))
        return view, results, events, signing

    def _apply_tx(self, ctx: Context, tx: SignedTx, signing: ValidatorSetRecord) -> None:
        body = tx.body
        if body.chain_id != self.chain_id:
            raise Unauthorized(ChainReason.WRONG_CHAIN, chain_id=body.chain_id)
        if isinstance(body.nonce, bool) or not 0 <= body.nonce < _U64 or len(tx.signer) != 32:
            raise InvalidInput(ChainReason.MALFORMED_TX, "the nonce is a u64, the signer 32 bytes")
        expected = self._expected_signer(ctx, body)
        if expected is not None and tx.signer != expected:
            raise Unauthorized(ChainReason.WRONG_SIGNER)
        last = ctx.view.get(nonce_key(tx.signer))
        if last is not None and body.nonce <= last.value:
            raise Conflict(ChainReason.NONCE_REUSED, last_nonce=last.value)
        try:
            verify(tx.signer, tx.signature, tx_domain(body), self.chain_id, body)
        except (Unauthorized, InvalidInput):
            raise Unauthorized(ChainReason.BAD_SIGNATURE) from None
        ctx.view.put(nonce_key(tx.signer), Counter(body.nonce))
        _dispatch(ctx, body, tx.signer, signing, self.signatures)

    def _expected_signer(self, ctx: Context, body: TxBody) -> bytes | None:
        if isinstance(body, Deposit):
            return self._bridge
        if isinstance(body, TradeBatch):
            return self._operator
        if isinstance(body, Transfer):
            return _accounts.owner_of(ctx, body.source)
        if isinstance(body, RegisterTradingKey):
            return _accounts.owner_of(ctx, body.authorization.account)
        if isinstance(body, RevokeTradingKey):
            return _accounts.owner_of(ctx, body.revocation.account)
        if isinstance(body, Withdraw | SetWithdrawPolicy | Stake | Delegate):
            return _accounts.owner_of(ctx, body.account)
        if isinstance(body, Undelegate | Redelegate):
            return _accounts.owner_of(ctx, body.account)
        if isinstance(body, Unjail):
            return _accounts.owner_of(ctx, _staking.get_validator(ctx, body.validator).operator)
        return None


def _elect(ctx: Context) -> None:
    previous = ctx.view.get(NEXT_SET)
    chosen = _staking.elect(ctx)
    if not chosen.members and previous is not None:
        ctx.view.put(NEXT_SET, previous)


def _dispatch(
    ctx: Context, body: TxBody, signer: bytes, signing: ValidatorSetRecord, cache: SignatureCache
) -> None:
    if isinstance(body, TradeBatch):
        apply_trade_batch(ctx, body, cache)
    elif isinstance(body, Deposit):
        _accounts.deposit(ctx, body)
    elif isinstance(body, Withdraw):
        _accounts.withdraw(ctx, body)
    elif isinstance(body, SetWithdrawPolicy):
        _accounts.set_withdraw_policy(ctx, body)
    elif isinstance(body, Transfer):
        _accounts.transfer(ctx, body)
    elif isinstance(body, RegisterTradingKey):
        _accounts.register_trading_key(ctx, body, signer)
    elif isinstance(body, RevokeTradingKey):
        _accounts.revoke_trading_key(ctx, body, signer)
    elif isinstance(body, PriceVote):
        _oracle.vote(ctx, body, signer, signing)
    elif isinstance(body, Stake):
        _staking.stake(ctx, body)
    elif isinstance(body, Delegate):
        _staking.delegate(ctx, body)
    elif isinstance(body, Undelegate):
        _staking.undelegate(ctx, body)
    elif isinstance(body, Redelegate):
        _staking.redelegate(ctx, body)
    elif isinstance(body, Unjail):
        _staking.unjail(ctx, body)
    elif isinstance(body, Evidence):
        _staking.evidence(ctx, body)
    else:
        raise InvalidInput(ChainReason.MALFORMED_TX, f"unknown transaction {type(body).__name__}")


def consensus_set(record: ValidatorSetRecord) -> ValidatorSet:
    """The consensus package's validator set for a ledger set (for commit checks)."""
    if not record.members:
        raise InvalidInput(ChainReason.INVALID_COMMIT, "there is no validator set")
    return ValidatorSet.genesis((m.public_key, m.power) for m in record.members)

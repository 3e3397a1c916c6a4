"""Shared builders for the ledger tests: keys, a genesis, signed orders and a driven chain."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from optex.chain import (
    AssetSpec,
    BlockResult,
    ChainReason,
    Fill,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    Ledger,
    MemoryStore,
    OracleParams,
    RegisterTradingKey,
    SignedTx,
    StakingParams,
    Store,
    TxBody,
    sign_commit,
    sign_tx,
)
from optex.chain.consensus import address_of
from optex.core import DEFAULT_LISTING_RULES
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

CHAIN = "optex-test"
T0 = 1_798_761_600_000  # 2027-01-01T00:00Z
OPTION = "BTC-26MAR27-100000-C"
PERP = "BTC-PERPETUAL"
USDC = "USDC"
OPX = "OPX"
ACCOUNTS = ("alice", "bob", "carol", "dave")
START_USDC = 1_000_000_000_000  # 1,000,000 USDC
START_OPX = 10_000_000_000


def key(label: str) -> PrivateKey:
    """A deterministic key for ``label``."""
    return PrivateKey(hashlib.sha256(label.encode()).digest())


BRIDGE = key("bridge")
OPERATOR = key("operator")


def owner(account: str) -> PrivateKey:
    """The owner key of ``account``."""
    return key("owner/" + account)


def trader(account: str) -> PrivateKey:
    """The trading key of ``account``."""
    return key("trading/" + account)


def validator_key(index: int) -> PrivateKey:
    """The consensus key of validator ``index``."""
    return key(f"validator/{index}")


def validator_address(index: int) -> bytes:
    """The address of validator ``index``."""
    return address_of(validator_key(index).public_key.raw)


def make_genesis(
    *, validators: int = 4, stakes: Sequence[int] | None = None, **staking: Any
) -> Genesis:
    """A genesis with funded accounts and ``validators`` validators run by ``val<i>``."""
    stakes = list(stakes or [1_000_000_000] * validators)
    accounts = [
        GenesisAccount(a, owner(a).public_key.hex(), {USDC: START_USDC, OPX: START_OPX})
        for a in ACCOUNTS
    ]
    accounts += [
        GenesisAccount(f"val{i}", owner(f"val{i}").public_key.hex(), {OPX: START_OPX})
        for i in range(validators)
    ]
    params = {"epoch_blocks": 5, "signed_blocks_window": 10, "unbonding_ms": 60_000}
    params.update(staking)
    return Genesis(
        chain_id=CHAIN,
        genesis_time_ms=T0,
        assets=(AssetSpec(USDC, 6), AssetSpec("BTC", 8), AssetSpec(OPX, 6)),
        bridge_key=BRIDGE.public_key.hex(),
        operator_key=OPERATOR.public_key.hex(),
        underlyings={"BTC": DEFAULT_LISTING_RULES["BTC"]},
        accounts=tuple(accounts),
        validators=tuple(
            GenesisValidator(f"val{i}", validator_key(i).public_key.hex(), stakes[i], 100_000)
            for i in range(validators)
        ),
        staking=StakingParams(**params),
        oracle=OracleParams(symbols=("BTC", PERP)),
    )


class Chain:
    """A ledger driven block by block, with nonces kept per signer."""

    def __init__(self, genesis: Genesis | None = None, store: Store | None = None) -> None:
        self.genesis = genesis or make_genesis()
        self.ledger = Ledger(self.genesis, store if store is not None else MemoryStore())
        self.nonces: dict[bytes, int] = {}
        self.now = T0
        self.order_nonce = 0

    def sign(self, signer: PrivateKey, body_type: type[Any], **fields: Any) -> SignedTx:
        """A transaction of ``body_type`` with the chain id and the signer's next nonce."""
        raw = signer.public_key.raw
        self.nonces[raw] = self.nonces.get(raw, 0) + 1
        body: TxBody = body_type(chain_id=CHAIN, nonce=self.nonces[raw], **fields)
        return sign_tx(signer, body)

    def block(
        self, txs: Sequence[SignedTx] = (), *, step_ms: int = 1_000, **kw: Any
    ) -> BlockResult:
        """Build and apply the next block ``step_ms`` after the last one."""
        self.now += step_ms
        block = self.ledger.build_block(self.now, txs, **kw)
        return self.ledger.apply_block(block)

    def run(self, *txs: SignedTx) -> BlockResult:
        """One block with these transactions."""
        return self.block(txs)

    def commit(self, validators: Sequence[int] | None = None) -> None:
        """Seal the last block with precommits of these validators (all by default)."""
        header = self.ledger.last_header
        assert header is not None
        indices = range(len(self.genesis.validators)) if validators is None else validators
        self.ledger.save_commit(sign_commit(header, [validator_key(i) for i in indices]))

    def register(self, account: str, *, expiry_ms: int | None = None) -> SignedTx:
        """A transaction registering ``account``'s trading key."""
        message = TradingKeyAuthorization(
            chain_id=CHAIN,
            account=account,
            trading_key=trader(account).public_key.raw,
            scopes=(TradingScope.CANCEL, TradingScope.TRADE),
            not_before_ms=0,
            expiry_ms=expiry_ms or T0 + 365 * 86_400_000,
            nonce=self.nonces.get(owner(account).public_key.raw, 0) + 1,
        )
        signature = sign(owner(account), "delegate/v1", CHAIN, message)
        return self.sign(
            owner(account), RegisterTradingKey, authorization=message, owner_signature=signature
        )

    def order(
        self,
        account: str,
        side: Side,
        price: int,
        quantity: int,
        *,
        instrument: str = OPTION,
        lifetime_ms: int = 3_600_000,
        signer: PrivateKey | None = None,
    ) -> SignedOrder:
        """An order signed by ``account``'s trading key."""
        self.order_nonce += 1
        intent = OrderIntent(
            chain_id=CHAIN,
            account=account,
            instrument=instrument,
            side=side,
            order_type=OrderType.LIMIT,
            price=price,
            quantity=quantity,
            nonce=self.order_nonce,
            expiry_ms=self.now + lifetime_ms,
        )
        return sign_order(signer or trader(account), intent)

    def fill(
        self, maker: SignedOrder, taker: SignedOrder, price: int | None = None, quantity: int = 0
    ) -> Fill:
        """A fill of ``maker`` against ``taker`` at the maker's price by default."""
        return Fill(
            maker=maker,
            taker=taker,
            price=price if price is not None else maker.intent.price,
            quantity=quantity or min(maker.intent.quantity, taker.intent.quantity),
        )


def assert_rejected_and_changes_nothing(
    chain: Chain, tx: SignedTx, reason: ChainReason | str
) -> None:
    """The tx is refused with ``reason`` and the state root equals that of an empty block."""
    twin = Chain(chain.genesis)
    for height in range(1, chain.ledger.height + 1):
        twin.ledger.apply_block(chain.ledger.load_block(height)[0])
    twin.now = chain.now
    result = chain.run(tx)
    assert result.txs[0].reason == (reason if isinstance(reason, str) else reason.reason)
    assert twin.block().state_root == result.state_root

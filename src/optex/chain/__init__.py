"""optex.chain: the settlement ledger that records, immutably, everything that moves money.

A pure, deterministic state machine (:class:`Ledger`) that every validator runs over the blocks
consensus orders: signed transactions (deposits, withdrawals, transfers, trading keys, operator
trade batches carrying both parties' signed orders, oracle price votes, staking, unjail,
double-sign evidence), integer-only state, a sparse Merkle root of the whole state in every
header, account proofs a light client checks against a commit of more than two thirds of the
stake, and block and state stores behind small interfaces (in memory, SQLite). The Tendermint
consensus itself is :mod:`optex.chain.consensus`. See docs/ledger.md.
"""

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
from optex.chain._codec import decode_record, encode_record
from optex.chain._genesis import (
    AssetSpec,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    OracleParams,
    StakingParams,
    TradingParams,
    dump_genesis,
    load_genesis,
)
from optex.chain._ledger import Ledger, Store, consensus_set
from optex.chain._merkle import MerkleProof, MerkleTree, proof_root, verify_proof
from optex.chain._proof import (
    AccountProof,
    ProvenAccount,
    decode_proof,
    encode_proof,
    prove_account,
    sign_commit,
    verify_account_proof,
)
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    Account,
    Member,
    Position,
    TradingKey,
    Validator,
    ValidatorSetRecord,
)
from optex.chain._state import Overlay, State
from optex.chain._store import BlockStore, MemoryStore, SqliteStore, StateStore
from optex.chain._trade import SignatureCache, fill_record_id
from optex.chain._tx import (
    Delegate,
    Deposit,
    Evidence,
    Fill,
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
    sign_tx,
    tx_domain,
    tx_hash,
)

__all__ = [
    "Account",
    "AccountProof",
    "AssetSpec",
    "Block",
    "BlockResult",
    "BlockStore",
    "ChainReason",
    "Delegate",
    "Deposit",
    "Event",
    "Evidence",
    "Fill",
    "Genesis",
    "GenesisAccount",
    "GenesisValidator",
    "Header",
    "Ledger",
    "Member",
    "MemoryStore",
    "MerkleProof",
    "MerkleTree",
    "OracleParams",
    "Overlay",
    "Position",
    "PriceVote",
    "ProvenAccount",
    "Redelegate",
    "RegisterTradingKey",
    "RevokeTradingKey",
    "SetWithdrawPolicy",
    "SignatureCache",
    "SignedTx",
    "SqliteStore",
    "Stake",
    "StakingParams",
    "State",
    "StateStore",
    "Store",
    "TradeBatch",
    "TradingKey",
    "TradingParams",
    "Transfer",
    "TxBody",
    "TxResult",
    "Undelegate",
    "Unjail",
    "Validator",
    "ValidatorSetRecord",
    "Withdraw",
    "block_hash",
    "consensus_set",
    "decode_proof",
    "decode_record",
    "dump_genesis",
    "encode_proof",
    "encode_record",
    "fill_record_id",
    "load_genesis",
    "proof_root",
    "prove_account",
    "results_hash",
    "sign_commit",
    "sign_tx",
    "tx_domain",
    "tx_hash",
    "txs_hash",
    "validators_hash",
    "verify_account_proof",
    "verify_proof",
]

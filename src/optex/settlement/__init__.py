"""optex.settlement: the engine's fills onto the chain, and the chain's money back to the engine.

Trading runs off-chain in the engine; the chain is where money is. The :class:`Batcher` follows
the engine's journal, replays it through its own deterministic ``optex.exchange.Pipeline`` (the
same fills the engine made, with no call to the engine), pairs every fill with both parties'
signed orders and settles them in operator-signed ``TradeBatch`` transactions, each fill exactly
once, across crashes of itself, the engine and the validators. Fills it cannot prove (orders
that were never signed, or amended past what was signed) are reported, never submitted.

The :class:`ChainWatcher` feeds decided blocks back: deposits credit the engine, withdrawals
debit it, once per chain transaction (idempotency keys from the transaction hash), and the
chain's expiry settlements and funding reach it with the chain's prices and amounts
(:func:`block_commands`). The
:class:`WithdrawalDesk` makes a withdrawal wait for the engine's debit (margin checked) before
the chain pays it. ``optex settle`` runs all three as one process. See docs/settlement.md.
"""

from optex.settlement._batcher import Batcher, BatcherConfig, BatcherStopped
from optex.settlement._chain import (
    ChainClient,
    DecidedBlock,
    LocalChain,
    Refused,
    RpcChain,
    TxOutcome,
)
from optex.settlement._collect import (
    CollectorState,
    FillCollector,
    PendingFill,
    Position,
    Unsettled,
    check_fill,
    nonce_of,
)
from optex.settlement._desk import Stage, WithdrawalDesk, WithdrawalRecord, refund_key
from optex.settlement._engine import EngineLink
from optex.settlement._events import Fed, block_commands, funding_key, settle_key
from optex.settlement._reasons import SettlementReason
from optex.settlement._service import SettleConfig, SettleService, run, serve
from optex.settlement._store import BadCheckpoint, Checkpoint, Snapshot
from optex.settlement._watch import (
    ChainWatcher,
    WatcherConfig,
    WatcherState,
    deposit_key,
    paid_key,
    withdraw_key,
)

__all__ = [
    "BadCheckpoint",
    "Batcher",
    "BatcherConfig",
    "BatcherStopped",
    "ChainClient",
    "ChainWatcher",
    "Checkpoint",
    "CollectorState",
    "DecidedBlock",
    "EngineLink",
    "Fed",
    "FillCollector",
    "LocalChain",
    "PendingFill",
    "Position",
    "Refused",
    "RpcChain",
    "SettleConfig",
    "SettleService",
    "SettlementReason",
    "Snapshot",
    "Stage",
    "TxOutcome",
    "Unsettled",
    "WatcherConfig",
    "WatcherState",
    "WithdrawalDesk",
    "WithdrawalRecord",
    "block_commands",
    "check_fill",
    "deposit_key",
    "funding_key",
    "nonce_of",
    "paid_key",
    "refund_key",
    "run",
    "serve",
    "settle_key",
    "withdraw_key",
]

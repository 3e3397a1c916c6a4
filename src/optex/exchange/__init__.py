"""optex.exchange: the sequencer and the engine service (the services layer's trading core).

The :class:`Sequencer` validates each command (shape, size, signed orders' signatures and
replay), stamps it with the clock's time and a message id, and journals it — a group of
concurrent commands with one write and one fsync — before the engine sees it. The
:class:`Pipeline` is the one place that wires the engine: journal entry → risk hold (the risk
engine as the matching engine's pre-trade check) → match → risk release and apply → events; its
:meth:`~Pipeline.state_hash` combines both engines' hashes and the last journal sequence, one
definition for restart, standby and replay. :class:`EngineService` is the process around them
(``optex engine``): snapshots written atomically, recovery from snapshot plus journal, a standby
replica that follows the primary's journal (file or NATS JetStream), events on an
:class:`EventBus` and on NATS subjects ``optex.events.<kind>``, and requests from
:class:`EngineClient` over loopback TCP: submissions, read-only queries of the live state
(:class:`Queries`) and a stream of every applied entry, for the gateway. A delegations file
(:class:`DelegationsFile`, read by :class:`FileAuthority`) is the key authority for signed
orders until the chain provides one. What the chain decided reaches the engine as commands too:
:class:`SettleExpiry` at the chain's settlement price and :class:`PayFunding` with the chain's
amount per account, each applied once. Market makers quote with :class:`SignedMassQuote`, each
leg a signed order, so their fills settle on chain too; a signed order stops trading
:data:`SETTLEMENT_WINDOW_MS` before its signature or its instrument ends (``trading_end_ms``), so
that its last fill still reaches the chain in time. See docs/exchange.md and docs/settlement.md.
"""

from optex.exchange._bus import EventBus, Published, Subscription
from optex.exchange._commands import (
    ChainCredit,
    Command,
    CommandFailed,
    Deposit,
    Deposited,
    Event,
    ExpirySettled,
    FundingPaid,
    GoverningLeg,
    PayFunding,
    PlaceSignedOrder,
    QuoteSlot,
    SetPrices,
    SettleExpiry,
    SignedMassQuote,
    SignedQuotesApplied,
    Withdraw,
    Withdrawn,
    event_kind,
    order_of,
)
from optex.exchange._pipeline import Pipeline
from optex.exchange._query import Queries
from optex.exchange._reasons import ExchangeReason, SnapshotCorrupt
from optex.exchange._sequencer import MAX_COMMAND_BYTES, Receipt, Sequencer
from optex.exchange._service import (
    DelegationRecord,
    DelegationsFile,
    EngineService,
    FileAuthority,
    ServiceConfig,
    delegations_from,
    load_delegations_file,
    run,
    save_delegations_file,
    serve,
)
from optex.exchange._snapshot import load_snapshot, save_snapshot
from optex.exchange._state import combined_hash
from optex.exchange._window import SETTLEMENT_WINDOW_MS, check_settles_in_time, trading_end_ms
from optex.exchange._wire import EngineClient, Status

__all__ = [
    "ChainCredit",
    "Command",
    "CommandFailed",
    "DelegationRecord",
    "DelegationsFile",
    "Deposit",
    "Deposited",
    "EngineClient",
    "EngineService",
    "Event",
    "EventBus",
    "ExchangeReason",
    "ExpirySettled",
    "FileAuthority",
    "FundingPaid",
    "GoverningLeg",
    "MAX_COMMAND_BYTES",
    "PayFunding",
    "Pipeline",
    "PlaceSignedOrder",
    "Published",
    "Queries",
    "QuoteSlot",
    "Receipt",
    "SETTLEMENT_WINDOW_MS",
    "Sequencer",
    "ServiceConfig",
    "SetPrices",
    "SettleExpiry",
    "SignedMassQuote",
    "SignedQuotesApplied",
    "SnapshotCorrupt",
    "Status",
    "Subscription",
    "Withdraw",
    "Withdrawn",
    "check_settles_in_time",
    "combined_hash",
    "delegations_from",
    "event_kind",
    "load_delegations_file",
    "load_snapshot",
    "order_of",
    "run",
    "save_delegations_file",
    "save_snapshot",
    "serve",
    "trading_end_ms",
]

"""The service's state as records: one definition for its hash, its snapshots and replay.

The combined state hash is what a restarted engine, a standby replica and an uninterrupted
replay must agree on::

    SHA-256("optex.exchange/state/v1" | engine.state_hash() | risk_hash | last_seq as u64
            | governing_hash | replay_hash)

``governing_hash`` is the SHA-256 of the canonical encoding of the signed-order hash that
governs each live order id (:func:`governing_hash`): it decides whether a later signed
replacement applies, so two replicas that disagree on it would diverge. ``replay_hash`` is the
SHA-256 of the canonical encoding of the replay guard's nonces (:func:`replay_hash`): they decide
whether a journaled signed order applies.

``risk_hash`` is the SHA-256 of the canonical encoding of :class:`RiskRecord` (the ledger, the
prices and the open orders the risk engine mirrors, by order id). Keys are sorted by the
encoder, so the hash depends on contents, never on the order dictionaries were filled in.

The risk engine has no snapshot of its own yet; its mirror of open orders is read from its one
private field here and written back through its public ``apply`` (an ``OrderAccepted`` per
order, with the price it reserved margin at), so the round trip is exact.
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from optex.core import encode
from optex.crypto import NonceRecord, ReplayGuard, SignedOrder
from optex.market import OrderAccepted, OrderType, Side
from optex.risk import Ledger, Prices, RestingOrder, RiskEngine

STATE_DOMAIN: Final = b"optex.exchange/state/v1"
FORMAT_VERSION: Final = 1


class RiskRecord(msgspec.Struct, frozen=True):
    """The risk engine's whole state, parameters aside (those are configuration)."""

    ledger: Ledger
    prices: Prices
    orders: list[RestingOrder]


class SnapshotRecord(msgspec.Struct, frozen=True):
    """Everything needed to resume after ``last_seq``: both engines, the signed orders that
    govern live orders, and the replay guard's nonces (``nonces``: they rebuild the sequencer's
    guard, so a signed order journaled before the snapshot cannot be replayed after a restart).
    """

    version: int
    last_seq: int
    state_hash: bytes
    engine: bytes
    risk: RiskRecord
    signed: list[SignedOrder]
    governing: dict[str, bytes] = {}
    """The signed order (by hash) that governs each live order id (decimal text keys)."""
    nonces: tuple[NonceRecord, ...] = ()


def risk_record(risk: RiskEngine) -> RiskRecord:
    """The risk engine's state as a record."""
    return RiskRecord(risk.ledger, risk.prices, risk.resting_orders())


def risk_hash(risk: RiskEngine) -> bytes:
    """SHA-256 of the risk engine's state record."""
    return hashlib.sha256(encode(risk_record(risk))).digest()


def restore_risk(risk: RiskEngine, record: RiskRecord) -> None:
    """Put ``record``'s open orders back into a risk engine built on its ledger and prices."""
    risk.apply(
        OrderAccepted(
            ts_ms=0,
            order_id=o.order_id,
            account=o.account,
            client_order_id=None,
            instrument=o.instrument,
            side=Side.BUY if o.signed > 0 else Side.SELL,
            order_type=OrderType.LIMIT,
            price=o.price,
            quantity=abs(o.signed),
        )
        for o in record.orders
    )


def governing_hash(governing: dict[int, bytes]) -> bytes:
    """SHA-256 of the governing signed-order hash per live order id (sorted by the encoder)."""
    return hashlib.sha256(encode({str(k): v for k, v in governing.items()})).digest()


def replay_hash(guard: ReplayGuard) -> bytes:
    """SHA-256 of the replay guard's nonces (its canonical export)."""
    return hashlib.sha256(encode(guard.export())).digest()


def combined_hash(
    engine_hash: bytes,
    risk_state_hash: bytes,
    last_seq: int,
    governing: bytes = b"",
    replay: bytes = b"",
) -> bytes:
    """The service's state hash from its parts (see the module docstring)."""
    digest = hashlib.sha256(STATE_DOMAIN)
    digest.update(engine_hash)
    digest.update(risk_state_hash)
    digest.update(last_seq.to_bytes(8, "big"))
    digest.update(governing)
    digest.update(replay)
    return digest.digest()

"""The records the ledger keeps, one per state key, and the key scheme.

Every record is an immutable msgspec Struct of integers, bytes and strings, encoded by
:func:`optex.chain._codec.encode_record`; a change writes a new record, never edits one, which is
what lets a transaction run on a copy-on-write overlay and vanish when it is rejected. An
account's balances and positions live in one record, so one Merkle proof shows all of them.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from optex.chain._genesis import Genesis

ACCOUNT: Final = "acct/"
TRADING_KEY: Final = "tkey/"
NONCE: Final = "nonce/"
FILLED: Final = "fill/"
DEPOSIT: Final = "deposit/"
VALIDATOR: Final = "val/"
VOTE: Final = "vote/"
PRICE: Final = "price/"
SETTLED: Final = "settled/"
EXPIRY_BUCKET: Final = "expiry/"
EXPIRY_INDEX: Final = "expiries"
EXPIRY_BUCKET_MS: Final = 60_000
SUPPLY: Final = "supply/"
FEE_POOL: Final = "pool/fees"
OPEN_INTEREST: Final = "open"
UNBONDING: Final = "queue/unbonding"
WITHDRAWALS: Final = "queue/withdrawals"
SIGNING_SET: Final = "valset/signing"
NEXT_SET: Final = "valset/next"
META: Final = "meta"
PARAMS: Final = "params"


class Position(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A signed quantity of an instrument (underlying base units; negative is short).

    ``cost`` is the settlement-asset value paid for a future or perpetual position at trade
    prices, realized into cash when the position closes or settles; options pay their premium in
    cash at the trade, so their cost stays zero.
    """

    quantity: int
    cost: int = 0


class Account(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An account: its owner key, balances per asset, positions per instrument, and the
    withdrawal policy (allowlisted addresses, delay) the owner set."""

    owner: bytes
    balances: dict[str, int] = msgspec.field(default_factory=dict)
    positions: dict[str, Position] = msgspec.field(default_factory=dict)
    allowlist: tuple[str, ...] = ()
    withdraw_delay_ms: int = 0
    auth_nonce: int = -1
    pending_policy: WithdrawPolicy | None = None

    def policy(self, now_ms: int) -> tuple[tuple[str, ...], int]:
        """The allowlist and time lock in force at ``now_ms`` (a loosening waits its turn)."""
        pending = self.pending_policy
        if pending is not None and pending.effective_ms <= now_ms:
            return pending.allowlist, pending.delay_ms
        return self.allowlist, self.withdraw_delay_ms


class WithdrawPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A looser withdrawal policy waiting for the old time lock to pass before it applies."""

    allowlist: tuple[str, ...]
    delay_ms: int
    effective_ms: int


class TradingKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trading key an account authorized (and perhaps revoked)."""

    scopes: tuple[str, ...]
    not_before_ms: int
    expiry_ms: int
    revoked: bool = False


class ExpiryBucket(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The hashes of filled orders that expire within one minute: their fill records are dropped
    once the minute has passed (an expired order is refused before its record is read)."""

    hashes: tuple[bytes, ...] = ()


class ExpiryIndex(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The minutes that have an :class:`ExpiryBucket`, in order."""

    minutes: tuple[int, ...] = ()


class Counter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A single integer: a signer's last nonce, a deposit's height."""

    value: int


class Filled(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How much a signed order and its replacements have filled, until the latest expires.

    Kept under the hash of the chain's first order (its ``origin``). ``revision``,
    ``order_hash``, ``signer`` and ``account`` describe the latest revision a fill used: an
    older revision is refused from then on, another order at that revision is a fork, and a
    replacement must come from the same key and account. ``expiry_ms`` is the latest expiry of
    the revisions seen (a replacement never expires earlier than what it replaces).
    """

    quantity: int
    expiry_ms: int
    revision: int = 0
    order_hash: bytes = b""
    signer: bytes = b""
    account: str = ""


class Validator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A validator: its operator account, consensus key, commission and delegations.

    ``tokens`` is the sum of ``delegations`` (the operator's self-stake included); slashing cuts
    every delegation by the same fraction. ``missed`` counts blocks missed in the signing window
    that started at ``window_start``.
    """

    operator: str
    consensus_key: bytes
    commission_ppm: int
    tokens: int
    delegations: dict[str, int]
    jailed_until_ms: int = 0
    jailed: bool = False
    tombstoned: bool = False
    missed: int = 0
    window_start: int = 0


class Member(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One validator of an active set with its voting power."""

    address: bytes
    public_key: bytes
    power: int


class ValidatorSetRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An active validator set, sorted by address."""

    members: tuple[Member, ...]

    @property
    def total_power(self) -> int:
        """The sum of the members' power."""
        return sum(m.power for m in self.members)


class Unbonding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Stake on its way back to an account, paid at ``complete_ms``."""

    account: str
    validator: bytes
    amount: int
    complete_ms: int


class PendingWithdrawal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A withdrawal waiting out the account's time lock."""

    account: str
    asset: str
    amount: int
    address: str
    release_ms: int


class UnbondingQueue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Unbonding entries in completion order."""

    entries: tuple[Unbonding, ...] = ()


class WithdrawalQueue(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Pending withdrawals in release order."""

    entries: tuple[PendingWithdrawal, ...] = ()


class PriceVote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A validator's latest price for one oracle symbol."""

    price: int
    ts_ms: int


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The stake-weighted median of fresh votes, and the time of the newest vote in it."""

    price: int
    ts_ms: int


class Balances(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Amounts per asset: the fee pool."""

    amounts: dict[str, int] = msgspec.field(default_factory=dict)


class OpenInterest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Long open interest per instrument: the instruments that need settlement or funding."""

    instruments: dict[str, int] = msgspec.field(default_factory=dict)


class Meta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the chain is: last height, its time and hash, and the next funding time."""

    height: int
    ts_ms: int
    last_block_hash: bytes
    next_funding_ms: int
    set_changed: bool = False


RECORD_TYPES: Final[dict[str, type[Any]]] = {
    ACCOUNT: Account,
    TRADING_KEY: TradingKey,
    NONCE: Counter,
    FILLED: Filled,
    DEPOSIT: Counter,
    VALIDATOR: Validator,
    VOTE: PriceVote,
    PRICE: Price,
    SETTLED: Price,
    EXPIRY_BUCKET: ExpiryBucket,
    EXPIRY_INDEX: ExpiryIndex,
    SUPPLY: Counter,
    FEE_POOL: Balances,
    OPEN_INTEREST: OpenInterest,
    UNBONDING: UnbondingQueue,
    WITHDRAWALS: WithdrawalQueue,
    SIGNING_SET: ValidatorSetRecord,
    NEXT_SET: ValidatorSetRecord,
    META: Meta,
}


def record_type(key: str) -> type[Any]:
    """The record type stored under ``key`` (the genesis parameters under ``params``)."""
    if key == PARAMS:
        return Genesis
    for prefix, kind in RECORD_TYPES.items():
        if key.startswith(prefix):
            return kind
    raise KeyError(key)


def expiry_bucket_key(minute: int) -> str:
    """The key of the bucket of orders expiring in ``minute`` (minutes since the epoch)."""
    return f"{EXPIRY_BUCKET}{minute:012d}"


def account_key(account: str) -> str:
    """The key of an account."""
    return ACCOUNT + account


def trading_key_key(account: str, public_key: bytes) -> str:
    """The key of one trading key of an account."""
    return f"{TRADING_KEY}{account}/{public_key.hex()}"


def nonce_key(signer: bytes) -> str:
    """The key of a signer's last nonce."""
    return NONCE + signer.hex()


def validator_key(address: bytes) -> str:
    """The key of a validator by its 20-byte address."""
    return VALIDATOR + address.hex()


def vote_key(symbol: str, address: bytes) -> str:
    """The key of one validator's vote for one oracle symbol."""
    return f"{VOTE}{symbol}/{address.hex()}"

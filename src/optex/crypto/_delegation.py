"""Delegated trading keys: an account owner authorizes a trading key to act for it.

The owner key never trades; it signs a :class:`TradingKeyAuthorization` (domain
``"delegate/v1"``) naming a trading key, its scopes and an expiry, and may later sign a
:class:`TradingKeyRevocation` (``"revoke/v1"``). API-key clients trade through a trading key the
account delegated to the gateway, so every order the ledger sees is still signed by a key the
owner authorized. :class:`Delegations` is the small state the ledger keeps of these messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Protocol

import msgspec

from optex.core import Conflict, Forbidden, InvalidInput, Unauthorized, check_domain
from optex.crypto._keys import PrivateKey, PublicKey, as_public_key, sign, verify
from optex.crypto._reasons import SecurityReason

DELEGATE_DOMAIN: Final = "delegate/v1"
REVOKE_DOMAIN: Final = "revoke/v1"
MAX_ACCOUNT_LENGTH: Final = 64
_U64: Final = 2**64


class TradingScope(StrEnum):
    """What a delegated trading key may do."""

    TRADE = "trade"
    CANCEL = "cancel"


class KeyAuthority(Protocol):
    """Answers whether a key may act for an account, raising a clear error when it may not."""

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        """Return if ``public_key`` may use ``scope`` for ``account`` at ``now_ms``; else raise."""
        ...


def check_types(message: msgspec.Struct) -> None:
    """Refuse a struct whose fields do not have their declared types.

    Structs built in Python skip validation (``price=1.5`` or ``nonce=True`` would be stored
    as given); decoding validates, so a round trip through ``convert`` checks both paths alike.
    """
    try:
        msgspec.convert(msgspec.structs.asdict(message), type(message), strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, str(exc)) from None


def check_account(account: object) -> str:
    """An account id: 1-64 ASCII letters, digits and ``_.:-``."""
    if (
        not isinstance(account, str)
        or not 0 < len(account) <= MAX_ACCOUNT_LENGTH
        or not account.isascii()
        or not all(ch.isalnum() or ch in "_.:-" for ch in account)
    ):
        raise InvalidInput(
            SecurityReason.MALFORMED_MESSAGE,
            f"an account id is 1-{MAX_ACCOUNT_LENGTH} ASCII letters, digits and '_.:-'",
            field="account",
        )
    return account


class TradingKeyAuthorization(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """The owner's statement: ``trading_key`` may act for ``account`` until ``expiry_ms``."""

    chain_id: str
    account: str
    trading_key: bytes
    scopes: tuple[TradingScope, ...]
    not_before_ms: int
    expiry_ms: int
    nonce: int

    def check(self) -> None:
        """Refuse a malformed authorization."""
        check_types(self)
        check_domain(DELEGATE_DOMAIN, self.chain_id)
        check_account(self.account)
        PublicKey(self.trading_key)
        if not self.scopes or len(set(self.scopes)) != len(self.scopes):
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "scopes must be distinct, >= 1")
        if tuple(sorted(self.scopes)) != self.scopes:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "scopes must be sorted")
        for value in (self.not_before_ms, self.expiry_ms, self.nonce):
            if not 0 <= value < _U64:
                raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "times and nonce are u64")
        if self.expiry_ms <= self.not_before_ms:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "expiry must be after start")


class TradingKeyRevocation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The owner's statement: ``trading_key`` may no longer act for ``account``."""

    chain_id: str
    account: str
    trading_key: bytes
    nonce: int

    def check(self) -> None:
        """Refuse a malformed revocation."""
        check_types(self)
        check_domain(REVOKE_DOMAIN, self.chain_id)
        check_account(self.account)
        PublicKey(self.trading_key)
        if not 0 <= self.nonce < _U64:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "the nonce is a u64")


class SignedAuthorization(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An authorization or revocation with the owner's public key and signature."""

    message: TradingKeyAuthorization | TradingKeyRevocation
    owner_key: bytes
    signature: bytes


def _domain(message: TradingKeyAuthorization | TradingKeyRevocation) -> str:
    return DELEGATE_DOMAIN if isinstance(message, TradingKeyAuthorization) else REVOKE_DOMAIN


def sign_authorization(
    owner: PrivateKey, message: TradingKeyAuthorization | TradingKeyRevocation
) -> SignedAuthorization:
    """Sign an authorization or revocation with the account's owner key."""
    message.check()
    signature = sign(owner, _domain(message), message.chain_id, message)
    return SignedAuthorization(message=message, owner_key=owner.public_key.raw, signature=signature)


def verify_authorization(
    signed: SignedAuthorization, *, owner_key: PublicKey | bytes, chain_id: str
) -> TradingKeyAuthorization | TradingKeyRevocation:
    """Check that the account's owner signed ``signed`` for this chain; return the message."""
    message = signed.message
    message.check()
    if message.chain_id != chain_id:
        raise Unauthorized(SecurityReason.WRONG_CHAIN, field="chain_id")
    if signed.owner_key != as_public_key(owner_key).raw:
        raise Unauthorized(SecurityReason.WRONG_KEY, "not signed by the account's owner key")
    verify(owner_key, signed.signature, _domain(message), chain_id, message)
    return message


class _Grant(msgspec.Struct, frozen=True):
    scopes: frozenset[TradingScope]
    not_before_ms: int
    expiry_ms: int
    nonce: int


class Delegations:
    """The trading keys each account has authorized: the ledger's record, as pure state.

    Each owner message carries a nonce that must increase per account, so an old
    authorization cannot be replayed after its revocation.
    """

    def __init__(self, chain_id: str, owners: Mapping[str, PublicKey | bytes] | None = None):
        check_domain(DELEGATE_DOMAIN, chain_id)
        self.chain_id = chain_id
        self._owners: dict[str, PublicKey] = {}
        self._grants: dict[tuple[str, bytes], _Grant] = {}
        self._last_nonce: dict[str, int] = {}
        self._revoked: set[tuple[str, bytes]] = set()
        for account, key in (owners or {}).items():
            self.set_owner(account, key)

    def set_owner(self, account: str, owner_key: PublicKey | bytes) -> None:
        """Record the owner key of ``account`` (the ledger does this when it opens accounts)."""
        self._owners[check_account(account)] = as_public_key(owner_key)

    def apply(self, signed: SignedAuthorization) -> None:
        """Verify and record an authorization or revocation; a bad one changes nothing."""
        account = check_account(signed.message.account)
        owner = self._owners.get(account)
        if owner is None:
            raise Unauthorized(SecurityReason.UNKNOWN_ACCOUNT, account=account)
        message = verify_authorization(signed, owner_key=owner, chain_id=self.chain_id)
        if message.nonce <= self._last_nonce.get(account, -1):
            raise Conflict(SecurityReason.ORDER_REPLAYED, "the owner message nonce was used")
        self._last_nonce[account] = message.nonce
        key = (account, message.trading_key)
        if isinstance(message, TradingKeyRevocation):
            self._grants.pop(key, None)
            self._revoked.add(key)
        else:
            self._revoked.discard(key)
            self._grants[key] = _Grant(
                frozenset(message.scopes), message.not_before_ms, message.expiry_ms, message.nonce
            )

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        """Raise unless ``public_key`` may use ``scope`` for ``account`` at ``now_ms``."""
        grant = self._grants.get((account, public_key))
        if grant is None:
            if (account, public_key) in self._revoked:
                raise Unauthorized(SecurityReason.KEY_REVOKED, account=account)
            raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, account=account)
        if now_ms >= grant.expiry_ms:
            raise Unauthorized(
                SecurityReason.KEY_EXPIRED, "the trading key's authorization expired"
            )
        if now_ms < grant.not_before_ms:
            raise Unauthorized(SecurityReason.DELEGATION_NOT_FOUND, "not valid yet")
        if scope not in grant.scopes:
            raise Forbidden(SecurityReason.DELEGATION_SCOPE, scope=scope.value)

    def trading_keys(self, account: str) -> list[bytes]:
        """The trading keys currently recorded for ``account`` (expired ones included)."""
        return sorted(key for (acct, key) in self._grants if acct == account)

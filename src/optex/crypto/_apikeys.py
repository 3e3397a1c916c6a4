"""API keys as on Deribit: client id and secret, scopes, expiry, IP allowlist, Ed25519 keys.

Secrets are encrypted at rest with AES-256-GCM under a server :class:`MasterKey`, bound to
their client id as associated data (a ciphertext moved to another key's record does not
decrypt), decrypted only to compute an HMAC, compared in constant time and never printed.
Creating, changing or revoking a key needs a TOTP code when the store has a
:class:`~optex.crypto.TotpGuard` (the default policy for a live gateway).
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from optex.core import Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound, Unauthorized
from optex.crypto._delegation import check_account
from optex.crypto._keys import PublicKey, Secret
from optex.crypto._reasons import SecurityReason
from optex.crypto._requests import (
    NonceCache,
    check_client_id,
    check_nonce,
    check_signature_hex,
    check_timestamp,
    check_window,
    client_signature_string,
    hmac_signature,
    http_string_to_sign,
)
from optex.crypto._scopes import Scopes
from optex.crypto._text import normalize_label
from optex.crypto._totp import TotpGuard

Random = Callable[[int], bytes]
MAX_KEYS_PER_ACCOUNT: Final = 64
MAX_IP_ALLOWLIST: Final = 32
_DUMMY_SECRET: Final = b"\x00" * 32


class MasterKey:
    """The server's 32-byte key that encrypts API-key secrets at rest."""

    __slots__ = ("_aead",)

    def __init__(self, key: Secret) -> None:
        if len(key) != 32:
            raise InvalidInput(SecurityReason.INVALID_KEY, "a master key is 32 bytes")
        self._aead = AESGCM(key.reveal())

    def encrypt(self, plaintext: bytes, context: bytes, rng: Random) -> bytes:
        """``nonce || ciphertext`` of ``plaintext``, bound to ``context``."""
        nonce = rng(12)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, sealed: bytes, context: bytes) -> bytes:
        """Undo :meth:`encrypt`; a tampered or moved ciphertext is an invariant violation."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], context)
        except InvalidTag:
            raise Unauthorized(
                SecurityReason.INVALID_CREDENTIALS, "stored secret unreadable"
            ) from None

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"


class ApiKeyKind(StrEnum):
    """A shared-secret (HMAC) key or an asymmetric (Ed25519) key."""

    HMAC = "hmac"
    ED25519 = "ed25519"


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """One API key's record; ``sealed_secret`` is the encrypted client secret (HMAC keys)."""

    client_id: str
    account: str
    name: str
    kind: ApiKeyKind
    scopes: Scopes
    created_ms: int
    expiry_ms: int | None = None
    ip_allowlist: tuple[str, ...] = ()
    enabled: bool = True
    public_key: bytes = b""
    sealed_secret: bytes = b""

    def __repr__(self) -> str:
        return (
            f"ApiKey(client_id={self.client_id!r}, account={self.account!r}, "
            f"kind={self.kind.value}, scopes={self.scopes.format()!r}, enabled={self.enabled})"
        )


def _networks(entries: Iterable[str]) -> tuple[str, ...]:
    result = []
    for entry in entries:
        try:
            result.append(str(ipaddress.ip_network(entry, strict=False)))
        except (ValueError, TypeError):
            raise InvalidInput(
                SecurityReason.INVALID_SCOPE, f"{entry!r} is not an IP or network"
            ) from None
    if len(result) > MAX_IP_ALLOWLIST:
        raise InvalidInput(SecurityReason.INVALID_SCOPE, f"at most {MAX_IP_ALLOWLIST} entries")
    return tuple(sorted(set(result)))


def _ip_allowed(allowlist: tuple[str, ...], ip: str | None) -> bool:
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in allowlist)


def _token(rng: Random, size: int) -> str:
    return base64.b32encode(rng(size)).decode("ascii").rstrip("=")


class ApiKeyStore:
    """The API keys of all accounts, with the authentication checks that use them."""

    def __init__(
        self,
        master_key: MasterKey,
        *,
        totp: TotpGuard | None = None,
        nonces: NonceCache | None = None,
        max_keys_per_account: int = MAX_KEYS_PER_ACCOUNT,
    ) -> None:
        self._master = master_key
        self._totp = totp
        self.nonces = nonces if nonces is not None else NonceCache()
        self.max_keys_per_account = max_keys_per_account
        self._keys: dict[str, ApiKey] = {}

    def get(self, client_id: str) -> ApiKey:
        """The key record for ``client_id``."""
        key = self._keys.get(client_id)
        if key is None:
            raise NotFound(SecurityReason.INVALID_CREDENTIALS, "no such API key")
        return key

    def keys_of(self, account: str) -> list[ApiKey]:
        """An account's keys, by client id."""
        return sorted(
            (k for k in self._keys.values() if k.account == account), key=lambda k: k.client_id
        )

    def _second_factor(self, account: str, code: str | None, now_ms: int) -> None:
        if self._totp is not None:
            self._totp.verify(account, code, now_ms)

    def create(
        self,
        account: str,
        *,
        name: str,
        scopes: Scopes,
        creator_scopes: Scopes,
        now_ms: int,
        totp_code: str | None = None,
        expiry_ms: int | None = None,
        ip_allowlist: Iterable[str] = (),
        public_key: PublicKey | None = None,
        rng: Random = secrets.token_bytes,
    ) -> tuple[ApiKey, Secret | None]:
        """Create a key; return its record and, for HMAC keys, the secret (shown once)."""
        check_account(account)
        label = normalize_label(name)
        allow = _networks(ip_allowlist)
        if not creator_scopes.includes(scopes):
            raise Forbidden(SecurityReason.SCOPE_EXCEEDED)
        if expiry_ms is not None and expiry_ms <= now_ms:
            raise InvalidInput(SecurityReason.API_KEY_EXPIRED, "the expiry is in the past")
        if len(self.keys_of(account)) >= self.max_keys_per_account:
            raise LimitExceeded(SecurityReason.API_KEY_LIMIT)
        self._second_factor(account, totp_code, now_ms)
        client_id = _token(rng, 10).lower()
        while client_id in self._keys:
            client_id = _token(rng, 10).lower()
        secret: Secret | None = None
        sealed = b""
        if public_key is None:
            secret = Secret(_token(rng, 20).encode("ascii"))
            sealed = self._master.encrypt(secret.reveal(), client_id.encode("ascii"), rng)
        key = ApiKey(
            client_id=client_id,
            account=account,
            name=label,
            kind=ApiKeyKind.HMAC if public_key is None else ApiKeyKind.ED25519,
            scopes=scopes,
            created_ms=now_ms,
            expiry_ms=expiry_ms,
            ip_allowlist=allow,
            public_key=b"" if public_key is None else public_key.raw,
            sealed_secret=sealed,
        )
        self._keys[client_id] = key
        return key, secret

    def _owned(self, client_id: str, account: str) -> ApiKey:
        key = self._keys.get(client_id)
        if key is None or key.account != account:
            raise NotFound(SecurityReason.INVALID_CREDENTIALS, "no such API key on this account")
        return key

    def change_scopes(
        self,
        client_id: str,
        account: str,
        *,
        scopes: Scopes,
        creator_scopes: Scopes,
        now_ms: int,
        totp_code: str | None = None,
    ) -> ApiKey:
        """Change a key's scopes (never above the caller's own)."""
        key = self._owned(client_id, account)
        if not creator_scopes.includes(scopes):
            raise Forbidden(SecurityReason.SCOPE_EXCEEDED)
        self._second_factor(account, totp_code, now_ms)
        key = msgspec.structs.replace(key, scopes=scopes)
        self._keys[client_id] = key
        return key

    def set_ip_allowlist(
        self,
        client_id: str,
        account: str,
        ips: Iterable[str],
        *,
        now_ms: int,
        totp_code: str | None = None,
    ) -> ApiKey:
        """Replace a key's IP allowlist (empty means any address)."""
        key = self._owned(client_id, account)
        allow = _networks(ips)
        self._second_factor(account, totp_code, now_ms)
        key = msgspec.structs.replace(key, ip_allowlist=allow)
        self._keys[client_id] = key
        return key

    def revoke(
        self, client_id: str, account: str, *, now_ms: int, totp_code: str | None = None
    ) -> ApiKey:
        """Disable a key for good; its tokens must be revoked too (the Authenticator does)."""
        key = self._owned(client_id, account)
        self._second_factor(account, totp_code, now_ms)
        key = msgspec.structs.replace(key, enabled=False)
        self._keys[client_id] = key
        return key

    def check_usable(self, key: ApiKey, *, ip: str | None, now_ms: int) -> None:
        """Raise unless the key is enabled, unexpired and used from an allowed address."""
        if not key.enabled:
            raise Unauthorized(SecurityReason.API_KEY_DISABLED)
        if key.expiry_ms is not None and now_ms >= key.expiry_ms:
            raise Unauthorized(SecurityReason.API_KEY_EXPIRED)
        if not _ip_allowed(key.ip_allowlist, ip):
            raise Forbidden(SecurityReason.IP_NOT_ALLOWED, ip=ip)

    def _secret_of(self, key: ApiKey | None) -> bytes:
        if key is None or key.kind is not ApiKeyKind.HMAC:
            return _DUMMY_SECRET
        return self._master.decrypt(key.sealed_secret, key.client_id.encode("ascii"))

    def authenticate_secret(
        self, client_id: str, client_secret: str, *, ip: str | None, now_ms: int
    ) -> ApiKey:
        """``client_credentials``: the client id and secret, compared in constant time.

        An unknown client id costs the same comparison as a known one and gives the same error.
        """
        key = self._keys.get(client_id) if isinstance(client_id, str) else None
        expected = self._secret_of(key)
        given = client_secret.encode("utf-8") if isinstance(client_secret, str) else b""
        if (
            not hmac.compare_digest(expected, given)
            or key is None
            or key.kind is not ApiKeyKind.HMAC
        ):
            raise Unauthorized(SecurityReason.INVALID_CREDENTIALS)
        self.check_usable(key, ip=ip, now_ms=now_ms)
        return key

    def authenticate_signature(
        self,
        client_id: str,
        *,
        timestamp: int | str,
        nonce: str,
        signature: str,
        string_to_sign: str,
        ip: str | None,
        now_ms: int,
    ) -> ApiKey:
        """A signed request: window, key state, signature, then the nonce cache.

        HMAC keys: lower-case hex HMAC-SHA256 under the secret. Ed25519 keys: lower-case hex
        Ed25519 signature over the same string.
        """
        check_client_id(client_id)
        ts = check_timestamp(timestamp)
        check_nonce(nonce)
        check_signature_hex(signature)
        check_window(ts, now_ms, self.nonces.window_ms)
        key = self._keys.get(client_id)
        if key is None:
            hmac.compare_digest(hmac_signature(_DUMMY_SECRET, string_to_sign), signature)
            raise Unauthorized(SecurityReason.INVALID_CREDENTIALS)
        if key.kind is ApiKeyKind.HMAC:
            expected = hmac_signature(self._secret_of(key), string_to_sign)
            if not hmac.compare_digest(expected, signature):
                raise Unauthorized(SecurityReason.INVALID_SIGNATURE)
        else:
            PublicKey(key.public_key).verify_raw(
                bytes.fromhex(signature), string_to_sign.encode("utf-8")
            )
        self.check_usable(key, ip=ip, now_ms=now_ms)
        self.nonces.use(client_id, ts, nonce, signature, now_ms)
        return key

    def authenticate_client_signature(
        self,
        client_id: str,
        *,
        timestamp: int | str,
        nonce: str,
        signature: str,
        data: str = "",
        ip: str | None,
        now_ms: int,
    ) -> ApiKey:
        """``public/auth`` with ``grant_type=client_signature``."""
        ts = check_timestamp(timestamp)
        return self.authenticate_signature(
            client_id,
            timestamp=ts,
            nonce=nonce,
            signature=signature,
            string_to_sign=client_signature_string(ts, check_nonce(nonce), _data(data)),
            ip=ip,
            now_ms=now_ms,
        )

    def authenticate_http(
        self,
        client_id: str,
        *,
        timestamp: int,
        nonce: str,
        signature: str,
        method: str,
        uri: str,
        body: str,
        ip: str | None,
        now_ms: int,
    ) -> ApiKey:
        """An HTTP request signed with ``deri-hmac-sha256`` (``uri`` exactly as received)."""
        return self.authenticate_signature(
            client_id,
            timestamp=timestamp,
            nonce=nonce,
            signature=signature,
            string_to_sign=http_string_to_sign(timestamp, check_nonce(nonce), method, uri, body),
            ip=ip,
            now_ms=now_ms,
        )

    def restore(self, keys: Iterable[ApiKey]) -> None:
        """Load saved records (the secrets stay sealed); a duplicate client id is refused."""
        for key in keys:
            if key.client_id in self._keys:
                raise Conflict(SecurityReason.KEY_EXISTS, client_id=key.client_id)
            self._keys[key.client_id] = key


def _data(data: object) -> str:
    if not isinstance(data, str) or len(data) > 4096:
        raise Unauthorized(SecurityReason.MALFORMED_AUTH, "data is text of at most 4096 chars")
    return data

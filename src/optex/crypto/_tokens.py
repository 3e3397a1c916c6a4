"""Access and refresh tokens, and ``public/auth`` as Deribit defines it.

Tokens are 32 random bytes, base64url. Only their SHA-256 is stored, so a copy of the token
table does not let anyone act as a client (the tokens have full entropy, so a plain hash is
enough). Access tokens are short-lived. Refresh tokens rotate: each use issues a new pair and
retires the old refresh token; presenting a retired one again (a stolen token raced against its
owner) revokes the whole family. Revoking an API key revokes its tokens.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from optex.core import Forbidden, InvalidInput, Unauthorized
from optex.crypto._apikeys import ApiKey, ApiKeyStore
from optex.crypto._reasons import SecurityReason
from optex.crypto._requests import (
    BasicCredentials,
    BearerCredentials,
    parse_authorization,
)
from optex.crypto._scopes import Scopes, parse_scope

Random = Callable[[int], bytes]
ACCESS_TTL_MS: Final = 15 * 60 * 1000
REFRESH_TTL_MS: Final = 30 * 24 * 3600 * 1000
MAX_TOKEN_LENGTH: Final = 128


class Session(msgspec.Struct, frozen=True):
    """Who a request acts for, and with which scopes."""

    account: str
    client_id: str
    scopes: Scopes


class _Token(msgspec.Struct):
    session: Session
    expires_ms: int
    family: str
    ip: str | None
    refresh: bool
    revoked: bool = False


class AuthResult(msgspec.Struct, frozen=True):
    """The ``result`` of ``public/auth`` in Deribit's shape."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    token_type: str = "bearer"  # noqa: S105 - the scheme name

    def __repr__(self) -> str:
        return f"AuthResult(scope={self.scope!r}, expires_in={self.expires_in}, <tokens hidden>)"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


class TokenStore:
    """Issued tokens by hash; pure state, time passed in."""

    def __init__(
        self, *, access_ttl_ms: int = ACCESS_TTL_MS, refresh_ttl_ms: int = REFRESH_TTL_MS
    ) -> None:
        self.access_ttl_ms = access_ttl_ms
        self.refresh_ttl_ms = refresh_ttl_ms
        self._tokens: dict[bytes, _Token] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def issue(
        self,
        session: Session,
        *,
        now_ms: int,
        rng: Random = secrets.token_bytes,
        access_ttl_ms: int | None = None,
        ip: str | None = None,
        family: str | None = None,
    ) -> AuthResult:
        """A new access and refresh token pair for ``session``."""
        ttl = min(access_ttl_ms or self.access_ttl_ms, self.access_ttl_ms)
        access = base64.urlsafe_b64encode(rng(32)).decode("ascii").rstrip("=")
        refresh = base64.urlsafe_b64encode(rng(32)).decode("ascii").rstrip("=")
        family = family or _digest(refresh).hex()
        self._tokens[_digest(access)] = _Token(session, now_ms + ttl, family, ip, refresh=False)
        self._tokens[_digest(refresh)] = _Token(
            session, now_ms + self.refresh_ttl_ms, family, ip, refresh=True
        )
        return AuthResult(access, refresh, ttl // 1000, session.scopes.format())

    def _find(self, token: str, *, refresh: bool, ip: str | None, now_ms: int) -> _Token:
        if (
            not isinstance(token, str)
            or not 0 < len(token) <= MAX_TOKEN_LENGTH
            or not token.isascii()
        ):
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        record = self._tokens.get(_digest(token))
        if record is None or record.refresh != refresh:
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        if record.revoked:
            raise Unauthorized(SecurityReason.TOKEN_REVOKED)
        if now_ms >= record.expires_ms:
            raise Unauthorized(SecurityReason.TOKEN_EXPIRED)
        if record.ip is not None and record.ip != ip:
            raise Forbidden(SecurityReason.IP_NOT_ALLOWED, ip=ip)
        return record

    def authenticate(self, access_token: str, *, ip: str | None, now_ms: int) -> Session:
        """The session of a valid, unexpired, unrevoked access token."""
        return self._find(access_token, refresh=False, ip=ip, now_ms=now_ms).session

    def refresh(
        self,
        refresh_token: str,
        *,
        ip: str | None,
        now_ms: int,
        rng: Random = secrets.token_bytes,
        check: Callable[[Session], None] | None = None,
    ) -> AuthResult:
        """Exchange a refresh token for a new pair; a reused refresh token kills its family.

        ``check`` may refuse the session (its API key was revoked) before anything changes.
        """
        digest = (
            _digest(refresh_token)
            if isinstance(refresh_token, str) and refresh_token.isascii()
            else b""
        )
        record = self._tokens.get(digest)
        if record is not None and record.refresh and record.revoked:
            self.revoke_family(record.family)
        record = self._find(refresh_token, refresh=True, ip=ip, now_ms=now_ms)
        if check is not None:
            check(record.session)
        record.revoked = True
        return self.issue(
            record.session, now_ms=now_ms, rng=rng, ip=record.ip, family=record.family
        )

    def revoke(self, token: str) -> None:
        """Revoke one token and every token of its family (``private/logout``)."""
        record = (
            self._tokens.get(_digest(token)) if isinstance(token, str) and token.isascii() else None
        )
        if record is None:
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        self.revoke_family(record.family)

    def revoke_family(self, family: str) -> None:
        """Revoke all tokens descended from one login."""
        for record in self._tokens.values():
            if record.family == family:
                record.revoked = True

    def revoke_client(self, client_id: str) -> None:
        """Revoke every token issued to an API key."""
        for record in self._tokens.values():
            if record.session.client_id == client_id:
                record.revoked = True

    def prune(self, now_ms: int) -> None:
        """Forget expired tokens (a revoked but unexpired one is kept, to detect reuse)."""
        for digest in [d for d, r in self._tokens.items() if now_ms >= r.expires_ms]:
            del self._tokens[digest]


class Authenticator:
    """``public/auth`` and per-request authentication, over an API-key store and tokens."""

    def __init__(self, keys: ApiKeyStore, tokens: TokenStore | None = None) -> None:
        self.keys = keys
        self.tokens = tokens if tokens is not None else TokenStore()

    def public_auth(
        self,
        params: Mapping[str, Any],
        *,
        ip: str | None,
        now_ms: int,
        rng: Random = secrets.token_bytes,
    ) -> AuthResult:
        """Deribit's ``public/auth``: ``client_credentials``, ``client_signature`` or
        ``refresh_token``; the token's scopes are the requested ones narrowed to the key's."""
        grant = params.get("grant_type")
        if grant == "refresh_token":

            def usable(session: Session) -> None:
                key = self.keys.get(session.client_id)
                self.keys.check_usable(key, ip=ip, now_ms=now_ms)

            return self.tokens.refresh(
                _str(params, "refresh_token"), ip=ip, now_ms=now_ms, rng=rng, check=usable
            )
        if grant == "client_credentials":
            key = self.keys.authenticate_secret(
                _str(params, "client_id"), _str(params, "client_secret"), ip=ip, now_ms=now_ms
            )
        elif grant == "client_signature":
            key = self.keys.authenticate_client_signature(
                _str(params, "client_id"),
                timestamp=params.get("timestamp"),  # type: ignore[arg-type]
                nonce=_str(params, "nonce"),
                signature=_str(params, "signature"),
                data=params.get("data", ""),
                ip=ip,
                now_ms=now_ms,
            )
        else:
            raise InvalidInput(SecurityReason.MALFORMED_AUTH, "unknown grant_type")
        requested = parse_scope(params.get("scope", ""), default=key.scopes)
        bind_ip = _bind_ip(requested.ip, ip)
        ttl = requested.expires_s * 1000 if requested.expires_s else None
        session = Session(key.account, key.client_id, key.scopes.narrow(requested.scopes))
        return self.tokens.issue(session, now_ms=now_ms, rng=rng, access_ttl_ms=ttl, ip=bind_ip)

    def authenticate_token(self, access_token: str, *, ip: str | None, now_ms: int) -> Session:
        """A bearer token, checked against its key too (a revoked key's tokens die with it)."""
        session = self.tokens.authenticate(access_token, ip=ip, now_ms=now_ms)
        self.keys.check_usable(self.keys.get(session.client_id), ip=ip, now_ms=now_ms)
        return session

    def authenticate_http(
        self, header: str, *, method: str, uri: str, body: str, ip: str | None, now_ms: int
    ) -> Session:
        """An HTTP ``Authorization`` header: ``deri-hmac-sha256``, ``bearer`` or ``Basic``."""
        credentials = parse_authorization(header)
        if isinstance(credentials, BearerCredentials):
            return self.authenticate_token(credentials.token, ip=ip, now_ms=now_ms)
        key: ApiKey
        if isinstance(credentials, BasicCredentials):
            key = self.keys.authenticate_secret(
                credentials.client_id, credentials.client_secret, ip=ip, now_ms=now_ms
            )
        else:
            key = self.keys.authenticate_http(
                credentials.client_id,
                timestamp=credentials.timestamp,
                nonce=credentials.nonce,
                signature=credentials.signature,
                method=method,
                uri=uri,
                body=body,
                ip=ip,
                now_ms=now_ms,
            )
        return Session(key.account, key.client_id, key.scopes)

    def revoke_key(
        self, client_id: str, account: str, *, now_ms: int, totp_code: str | None = None
    ) -> None:
        """Revoke an API key and every token it was used to obtain."""
        self.keys.revoke(client_id, account, now_ms=now_ms, totp_code=totp_code)
        self.tokens.revoke_client(client_id)


def _str(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise Unauthorized(SecurityReason.MALFORMED_AUTH, f"{name} is required", field=name)
    return value


def _bind_ip(requested: str | None, ip: str | None) -> str | None:
    if requested is None:
        return None
    try:
        return str(ipaddress.ip_address(requested))
    except ValueError:
        raise InvalidInput(SecurityReason.INVALID_SCOPE, "ip: needs an IP address") from None

"""``public/auth`` as Deribit defines it, and per-request authentication.

:class:`Authenticator` joins the API-key store (client credentials, client signatures, signed
HTTP requests) and the token store (:mod:`optex.crypto._tokens`): a login checks the key and
issues tokens with the requested scopes narrowed to the key's; every later use of a token
re-checks its key, so a revoked or expired key stops its tokens at once.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from typing import Any

from optex.core import InvalidInput, Unauthorized
from optex.crypto._apikeys import ApiKey, ApiKeyStore
from optex.crypto._reasons import SecurityReason
from optex.crypto._requests import BasicCredentials, BearerCredentials, parse_authorization
from optex.crypto._scopes import parse_scope
from optex.crypto._tokens import AuthResult, Random, Session, TokenStore


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

"""Access and refresh tokens: issued, checked, rotated, revoked, saved and replayed.

Tokens are 32 random bytes, base64url. Only their SHA-256 is stored, so a copy of the token
table does not let anyone act as a client (the tokens have full entropy, so a plain hash is
enough). Access tokens are short-lived. Refresh tokens rotate: each use issues a new pair and
retires the old refresh token; presenting a retired one again (a stolen token raced against its
owner) revokes the whole family. Revoking an API key revokes its tokens.

A *family* is every token descended from one login. The store is bounded so that a client
cannot grow it without limit, whatever it does: a family keeps its newest
:data:`MAX_ACCESS_PER_FAMILY` access tokens and newest :data:`MAX_RETIRED_PER_FAMILY` retired
refresh tokens, and an API key keeps at most ``max_families_per_key`` families — a new login
beyond that evicts the key's revoked families first, then the one that was issued a token
longest ago. So an API key holds at most ``max_families_per_key × (1 + 4 + 16)`` digests.
Every bound counts unexpired tokens only, at the time of the change, so the bounds decide the
same whether expired tokens were already pruned or not.

Across a restart: :meth:`TokenStore.export` gives the whole state and, with ``keep_changes``,
:meth:`TokenStore.take_changes` each change since (:mod:`optex.crypto._token_state`);
:meth:`TokenStore.restore` and :meth:`TokenStore.apply` take them back, checking every field,
and arrive at the same state the store had. A corrupt or hostile state or change is refused
whole, never half-applied.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Final

import msgspec

from optex.core import Forbidden, InvalidInput, Unauthorized
from optex.crypto._reasons import SecurityReason
from optex.crypto._scopes import Scopes
from optex.crypto._token_state import (
    FamilyRecord,
    FamilyRevoked,
    LoginRecord,
    TokenChange,
    TokenKind,
    TokenRecord,
    TokensIssued,
    TokenState,
    bad_state,
    check_digest,
    check_family_id,
    check_login,
    check_token,
)

Random = Callable[[int], bytes]
ACCESS_TTL_MS: Final = 15 * 60 * 1000
REFRESH_TTL_MS: Final = 30 * 24 * 3600 * 1000
MAX_TOKEN_LENGTH: Final = 128
MAX_FAMILIES_PER_KEY: Final = 32
"""Logins one API key may hold at once (each connection of a bot that logs in anew is one)."""
MAX_ACCESS_PER_FAMILY: Final = 4
"""Access tokens a family keeps: the current one and a few before it, for requests still in
flight while the client refreshes; older ones stop working before their 15 minutes are up."""
MAX_RETIRED_PER_FAMILY: Final = 16
"""Retired refresh tokens a family remembers for reuse detection. A thief's copy is caught if
it is presented within 16 rotations of being retired; an older one is merely invalid."""
_FAMILY_CAPS: Final = (
    (TokenKind.ACCESS, MAX_ACCESS_PER_FAMILY),
    (TokenKind.RETIRED, MAX_RETIRED_PER_FAMILY),
)


class Session(msgspec.Struct, frozen=True):
    """Who a request acts for, and with which scopes."""

    account: str
    client_id: str
    scopes: Scopes


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


class _Token:
    __slots__ = ("expires_ms", "family", "issued_ms", "kind")

    def __init__(self, family: _Family, kind: TokenKind, issued_ms: int, expires_ms: int) -> None:
        self.family = family
        self.kind = kind
        self.issued_ms = issued_ms
        self.expires_ms = expires_ms


class _Family:
    """One login's session and its tokens by digest, in the order they were issued."""

    __slots__ = ("id", "ip", "revoked", "session", "tokens")

    def __init__(self, family_id: str, session: Session, ip: str | None) -> None:
        self.id = family_id
        self.session = session
        self.ip = ip
        self.revoked = False
        self.tokens: dict[bytes, _Token] = {}

    def of_kind(self, kind: TokenKind) -> Iterator[bytes]:
        """Digests of ``kind``, oldest first."""
        return (d for d, t in self.tokens.items() if t.kind is kind)

    def live(self, now_ms: int) -> bool:
        """Whether any of its tokens is unexpired at ``now_ms``."""
        return any(now_ms < t.expires_ms for t in self.tokens.values())

    def login(self) -> LoginRecord:
        session = self.session
        return LoginRecord(session.account, session.client_id, session.scopes.format(), self.ip)


class TokenStore:
    """Issued tokens by hash, grouped in families; pure state, time passed in.

    :attr:`version` counts changes, so that a caller persisting the state knows when something
    changed (a failed login changes nothing and costs no write). With ``keep_changes`` every
    change is also kept, in order, for :meth:`take_changes`.
    """

    def __init__(
        self,
        *,
        access_ttl_ms: int = ACCESS_TTL_MS,
        refresh_ttl_ms: int = REFRESH_TTL_MS,
        max_families_per_key: int = MAX_FAMILIES_PER_KEY,
        keep_changes: bool = False,
    ) -> None:
        if max_families_per_key < 1:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "max_families_per_key >= 1")
        self.access_ttl_ms = access_ttl_ms
        self.refresh_ttl_ms = refresh_ttl_ms
        self.max_families_per_key = max_families_per_key
        self.version = 0
        self._changes: list[TokenChange] | None = [] if keep_changes else None
        self._tokens: dict[bytes, _Token] = {}
        # Both ordered from the family issued a token longest ago to the latest.
        self._families: dict[str, _Family] = {}
        self._by_key: dict[str, dict[str, _Family]] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def families(self, client_id: str) -> int:
        """How many families (logins) ``client_id`` holds."""
        return len(self._by_key.get(client_id, ()))

    def take_changes(self) -> list[TokenChange]:
        """The changes since the last call, oldest first (only with ``keep_changes``)."""
        if self._changes is None:
            return []
        changes, self._changes = self._changes, []
        return changes

    def _changed(self, change: TokenChange) -> None:
        self.version += 1
        if self._changes is not None:
            self._changes.append(change)

    # Issuing -------------------------------------------------------------------------------

    def issue(
        self,
        session: Session,
        *,
        now_ms: int,
        rng: Random = secrets.token_bytes,
        access_ttl_ms: int | None = None,
        ip: str | None = None,
    ) -> AuthResult:
        """A new family (a login) with its first access and refresh token for ``session``."""
        family_id = rng(32).hex()
        while family_id in self._families:
            family_id = rng(32).hex()
        family = _Family(family_id, session, ip)
        return self._issue(family, None, now_ms=now_ms, rng=rng, access_ttl_ms=access_ttl_ms)

    def _issue(
        self,
        family: _Family,
        retired: bytes | None,
        *,
        now_ms: int,
        rng: Random,
        access_ttl_ms: int | None = None,
    ) -> AuthResult:
        ttl = min(access_ttl_ms or self.access_ttl_ms, self.access_ttl_ms)
        access = base64.urlsafe_b64encode(rng(32)).decode("ascii").rstrip("=")
        refresh = base64.urlsafe_b64encode(rng(32)).decode("ascii").rstrip("=")
        change = TokensIssued(
            family.id,
            TokenRecord(_digest(access).hex(), TokenKind.ACCESS, now_ms, now_ms + ttl),
            TokenRecord(
                _digest(refresh).hex(), TokenKind.REFRESH, now_ms, now_ms + self.refresh_ttl_ms
            ),
            login=family.login() if retired is None else None,
            retired=None if retired is None else retired.hex(),
        )
        self._apply_issued(family, change, retired)
        self._changed(change)
        return AuthResult(access, refresh, ttl // 1000, family.session.scopes.format())

    def _apply_issued(self, family: _Family, change: TokensIssued, retired: bytes | None) -> None:
        """The one transition for a pair issued, shared by issuing and replaying."""
        if retired is not None:
            family.tokens[retired].kind = TokenKind.RETIRED
        for record in (change.access, change.refresh):
            self._add(
                family,
                bytes.fromhex(record.digest),
                record.kind,
                record.issued_ms,
                record.expires_ms,
            )
        self._touch(family)
        self._bound(family, change.access.issued_ms)

    def _add(
        self, family: _Family, digest: bytes, kind: TokenKind, issued_ms: int, expires_ms: int
    ) -> None:
        token = _Token(family, kind, issued_ms, expires_ms)
        family.tokens[digest] = token
        self._tokens[digest] = token

    def _touch(self, family: _Family) -> None:
        """Make ``family`` the latest issued, in the store's order and its key's."""
        self._families.pop(family.id, None)
        self._families[family.id] = family
        key_families = self._by_key.setdefault(family.session.client_id, {})
        key_families.pop(family.id, None)
        key_families[family.id] = family

    def _bound(self, family: _Family, now_ms: int) -> None:
        """Keep ``family`` and its API key within their caps (see the module docstring),
        counting only what is unexpired at ``now_ms``."""
        for digest in [d for d, t in family.tokens.items() if now_ms >= t.expires_ms]:
            self._drop(digest)
        for kind, cap in _FAMILY_CAPS:
            for digest in list(family.of_kind(kind))[:-cap]:
                self._drop(digest)
        key_families = self._by_key[family.session.client_id]
        for other in [f for f in key_families.values() if not f.live(now_ms)]:
            self._forget(other)
        while len(key_families) > self.max_families_per_key:
            ordered = list(key_families.values())
            self._forget(next((f for f in ordered if f.revoked), ordered[0]))

    def _drop(self, digest: bytes) -> None:
        token = self._tokens.pop(digest)
        del token.family.tokens[digest]

    def _forget(self, family: _Family) -> None:
        for digest in family.tokens:
            del self._tokens[digest]
        family.tokens.clear()
        del self._families[family.id]
        key_families = self._by_key[family.session.client_id]
        del key_families[family.id]
        if not key_families:
            del self._by_key[family.session.client_id]

    # Using ---------------------------------------------------------------------------------

    def _lookup(self, token: object) -> _Token | None:
        if (
            not isinstance(token, str)
            or not 0 < len(token) <= MAX_TOKEN_LENGTH
            or not token.isascii()
        ):
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        return self._tokens.get(_digest(token))

    def _check(self, record: _Token | None, *, ip: str | None, now_ms: int) -> _Token:
        if record is None:
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        if record.family.revoked:
            raise Unauthorized(SecurityReason.TOKEN_REVOKED)
        if now_ms >= record.expires_ms:
            raise Unauthorized(SecurityReason.TOKEN_EXPIRED)
        if record.family.ip is not None and record.family.ip != ip:
            raise Forbidden(SecurityReason.IP_NOT_ALLOWED, ip=ip)
        return record

    def authenticate(self, access_token: str, *, ip: str | None, now_ms: int) -> Session:
        """The session of a valid, unexpired, unrevoked access token."""
        record = self._lookup(access_token)
        if record is not None and record.kind is not TokenKind.ACCESS:
            record = None
        return self._check(record, ip=ip, now_ms=now_ms).family.session

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
        record = self._lookup(refresh_token)
        if record is not None and record.kind is TokenKind.RETIRED:
            # Someone holds a copy of a token its family already exchanged: the owner and a
            # thief raced, and which is which cannot be told, so neither keeps the session.
            self.revoke_family(record.family.id)
            raise Unauthorized(SecurityReason.TOKEN_REVOKED)
        if record is not None and record.kind is not TokenKind.REFRESH:
            record = None
        record = self._check(record, ip=ip, now_ms=now_ms)
        if check is not None:
            check(record.family.session)
        return self._issue(record.family, _digest(refresh_token), now_ms=now_ms, rng=rng)

    # Revoking ------------------------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """Revoke one token and every token of its family (``private/logout``)."""
        record = self._lookup(token)
        if record is None:
            raise Unauthorized(SecurityReason.TOKEN_INVALID)
        self.revoke_family(record.family.id)

    def revoke_family(self, family: str) -> None:
        """Revoke all tokens descended from one login (kept until they expire, so that using
        them says ``token_revoked``, and evicted first when the key needs room)."""
        record = self._families.get(family)
        if record is not None and not record.revoked:
            record.revoked = True
            self._changed(FamilyRevoked(family))

    def revoke_client(self, client_id: str) -> None:
        """Revoke every token issued to an API key."""
        for family in list(self._by_key.get(client_id, {}).values()):
            self.revoke_family(family.id)

    def prune(self, now_ms: int) -> None:
        """Forget expired tokens, and families with none left (a revoked but unexpired token
        is kept, to detect reuse). Not a change: no bound depends on expired tokens."""
        for digest in [d for d, t in self._tokens.items() if now_ms >= t.expires_ms]:
            self._drop(digest)
        for family in [f for f in self._families.values() if not f.tokens]:
            self._forget(family)

    # Saving and replaying ------------------------------------------------------------------

    def export(self, now_ms: int) -> TokenState:
        """The unexpired state, families oldest-issued first (what :meth:`restore` takes)."""
        families = []
        for family in self._families.values():
            tokens = tuple(
                TokenRecord(digest.hex(), t.kind, t.issued_ms, t.expires_ms)
                for digest, t in family.tokens.items()
                if now_ms < t.expires_ms
            )
            if tokens:
                families.append(FamilyRecord(family.id, family.login(), family.revoked, tokens))
        return TokenState(tuple(families))

    def restore(self, state: TokenState, *, now_ms: int) -> None:
        """Replace the store's contents with ``state`` (from :meth:`export`), what expired by
        ``now_ms`` dropped and the caps applied. Every field is checked first; anything
        malformed, duplicated or outside what :meth:`issue` could have produced is refused
        (``malformed_message``, naming the family and token) and the store is left unchanged."""
        if not isinstance(state, TokenState):
            raise bad_state("not a TokenState")
        fresh = TokenStore(
            access_ttl_ms=self.access_ttl_ms,
            refresh_ttl_ms=self.refresh_ttl_ms,
            max_families_per_key=self.max_families_per_key,
        )
        families: set[str] = set()
        digests: set[bytes] = set()
        for index, saved in enumerate(state.families):
            where = f"family {index}"
            if not isinstance(saved, FamilyRecord):
                raise bad_state(f"{where} is not a FamilyRecord")
            family = self._family(saved.family, saved.login, where)
            if family.id in families:
                raise bad_state(f"{where} repeats an earlier family's id")
            families.add(family.id)
            if not isinstance(saved.revoked, bool):
                raise bad_state(f"{where}: revoked is not a boolean")
            family.revoked = saved.revoked
            current = 0
            for position, token in enumerate(saved.tokens):
                here = f"{where}, token {position}"
                self._token(token, here)
                digest = bytes.fromhex(token.digest)
                if digest in digests:
                    raise bad_state(f"{here}: the digest appears twice")
                digests.add(digest)
                current += token.kind is TokenKind.REFRESH
                if now_ms < token.expires_ms:
                    fresh._add(family, digest, token.kind, token.issued_ms, token.expires_ms)
            if current > 1:
                raise bad_state(f"{where}: more than one current refresh token")
            if family.tokens:
                fresh._touch(family)
                fresh._bound(family, now_ms)
        self._tokens, self._families, self._by_key = fresh._tokens, fresh._families, fresh._by_key
        self.version += 1

    def apply(self, change: TokenChange) -> None:
        """Replay one change :meth:`take_changes` gave, onto the state it was made from (a
        restored state, then each later change in order): the store arrives where it was. A
        change that does not fit this state — malformed, a token already known, a family that
        does not exist, or already does — is refused and changes nothing."""
        if isinstance(change, FamilyRevoked):
            family = self._families.get(check_family_id(change.family, "revoked family"))
            if family is None or family.revoked:
                raise bad_state("revoked: no such live family")
            family.revoked = True
            self.version += 1
            return
        if not isinstance(change, TokensIssued):
            raise bad_state("not a TokenChange")
        check_family_id(change.family, "issued family")
        for record, kind in (
            (change.access, TokenKind.ACCESS),
            (change.refresh, TokenKind.REFRESH),
        ):
            self._token(record, f"issued {kind}")
            if record.kind is not kind or bytes.fromhex(record.digest) in self._tokens:
                raise bad_state(f"issued {kind}: the wrong kind, or a token already known")
        if change.access.digest == change.refresh.digest or (
            change.access.issued_ms != change.refresh.issued_ms
        ):
            raise bad_state("issued: the pair's digests or issue times do not match")
        retired: bytes | None = None
        if (change.login is None) == (change.retired is None):
            raise bad_state("issued: a pair is either a login or a rotation")
        if change.login is not None:
            if change.family in self._families:
                raise bad_state("issued: a login into a family that exists")
            family = self._family(change.family, change.login, "issued login")
        else:
            retired = check_digest(change.retired, "issued: the retired token")
            existing = self._families.get(change.family)
            token = self._tokens.get(retired)
            if (
                existing is None
                or existing.revoked
                or token is None
                or token.family is not existing
                or token.kind is not TokenKind.REFRESH
                or change.access.issued_ms >= token.expires_ms
            ):
                raise bad_state("issued: the retired token is not its family's current one")
            family = existing
        self._apply_issued(family, change, retired)
        self.version += 1

    def _family(self, family_id: object, login: object, where: str) -> _Family:
        check_family_id(family_id, where)
        assert isinstance(family_id, str)  # noqa: S101 - checked just above
        account, client_id, scopes, ip = check_login(login, where)
        return _Family(family_id, Session(account, client_id, scopes), ip)

    def _token(self, record: object, where: str) -> TokenRecord:
        return check_token(
            record, where, access_ttl_ms=self.access_ttl_ms, refresh_ttl_ms=self.refresh_ttl_ms
        )

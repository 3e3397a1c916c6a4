"""The token store's bounds, and its state carried across a restart by export and restore:
digests only, expired entries dropped, reuse detection and logouts kept, hostile states
refused whole."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.core import InvalidInput, OptexError, Unauthorized
from optex.crypto import (
    Access,
    AuthResult,
    FamilyRecord,
    FamilyRevoked,
    LoginRecord,
    Scopes,
    SecurityReason,
    Session,
    TokenChange,
    TokenKind,
    TokenRecord,
    TokensIssued,
    TokenState,
    TokenStore,
)
from optex.crypto._tokens import (
    ACCESS_TTL_MS,
    MAX_ACCESS_PER_FAMILY,
    MAX_FAMILIES_PER_KEY,
    MAX_RETIRED_PER_FAMILY,
    REFRESH_TTL_MS,
)
from tests.crypto.kit import NOW_MS, seeded_rng

SESSION = Session("acct-1", "client1", Scopes(Access.READ, Access.READ_WRITE))
OTHER = Session("acct-2", "client2", Scopes(trade=Access.READ_WRITE))


def _reason(error: pytest.ExceptionInfo[OptexError]) -> Any:
    return error.value.code


def _restarted(store: TokenStore, now_ms: int) -> TokenStore:
    """A new store holding what ``store`` exported, through its encoded bytes."""
    data = msgspec.json.encode(store.export(now_ms))
    fresh = TokenStore(max_families_per_key=store.max_families_per_key)
    fresh.restore(msgspec.json.decode(data, type=TokenState), now_ms=now_ms)
    return fresh


def _refused(store: TokenStore, token: str, now_ms: int, *, refresh: bool = False) -> Any:
    with pytest.raises(Unauthorized) as info:
        if refresh:
            store.refresh(token, ip=None, now_ms=now_ms)
        else:
            store.authenticate(token, ip=None, now_ms=now_ms)
    return _reason(info)


def test_a_restored_store_accepts_the_same_access_and_refresh_tokens() -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS, rng=seeded_rng(1))
    restored = _restarted(store, NOW_MS + 1)
    assert restored.authenticate(login.access_token, ip=None, now_ms=NOW_MS + 2) == SESSION
    renewed = restored.refresh(login.refresh_token, ip=None, now_ms=NOW_MS + 3)
    assert restored.authenticate(renewed.access_token, ip=None, now_ms=NOW_MS + 4) == SESSION
    # The old access token lives on until it expires, as it would have without a restart.
    assert restored.authenticate(login.access_token, ip=None, now_ms=NOW_MS + 5) == SESSION
    assert _refused(restored, login.access_token, NOW_MS + ACCESS_TTL_MS) == (
        SecurityReason.TOKEN_EXPIRED
    )


def test_the_exported_state_holds_digests_and_never_a_token() -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS)
    data = msgspec.json.encode(store.export(NOW_MS))
    for token in (login.access_token, login.refresh_token):
        assert token.encode() not in data
        assert hashlib.sha256(token.encode()).hexdigest().encode() in data


def test_a_refresh_token_retired_before_the_restart_still_kills_its_family_after() -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS)
    renewed = store.refresh(login.refresh_token, ip=None, now_ms=NOW_MS + 1)
    restored = _restarted(store, NOW_MS + 2)
    assert _refused(restored, login.refresh_token, NOW_MS + 3, refresh=True) == (
        SecurityReason.TOKEN_REVOKED
    )
    for token in (renewed.access_token, login.access_token):
        assert _refused(restored, token, NOW_MS + 4) == SecurityReason.TOKEN_REVOKED
    assert _refused(restored, renewed.refresh_token, NOW_MS + 5, refresh=True) == (
        SecurityReason.TOKEN_REVOKED
    )
    # And the family stays dead through the next restart.
    again = _restarted(restored, NOW_MS + 6)
    assert _refused(again, renewed.access_token, NOW_MS + 7) == SecurityReason.TOKEN_REVOKED


def test_a_logout_survives_a_restart_and_other_sessions_do_not_notice() -> None:
    store = TokenStore()
    gone = store.issue(SESSION, now_ms=NOW_MS)
    kept = store.issue(SESSION, now_ms=NOW_MS)
    store.revoke(gone.access_token)
    restored = _restarted(store, NOW_MS + 1)
    assert _refused(restored, gone.access_token, NOW_MS + 2) == SecurityReason.TOKEN_REVOKED
    assert _refused(restored, gone.refresh_token, NOW_MS + 2, refresh=True) == (
        SecurityReason.TOKEN_REVOKED
    )
    assert restored.authenticate(kept.access_token, ip=None, now_ms=NOW_MS + 3) == SESSION


def test_expired_tokens_are_neither_exported_nor_restored() -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS)
    later = NOW_MS + ACCESS_TTL_MS
    (family,) = store.export(later).families
    assert [t.kind for t in family.tokens] == [TokenKind.REFRESH]
    # A state saved before expiry and restored after it drops the expired token too.
    saved = store.export(NOW_MS)
    fresh = TokenStore()
    fresh.restore(saved, now_ms=later)
    assert len(fresh) == 1
    assert _refused(fresh, login.access_token, later) == SecurityReason.TOKEN_INVALID
    assert TokenStore().export(NOW_MS + REFRESH_TTL_MS) == TokenState()
    fresh.restore(saved, now_ms=NOW_MS + REFRESH_TTL_MS)
    assert len(fresh) == 0 and fresh.families(SESSION.client_id) == 0


def test_a_family_keeps_its_newest_access_and_retired_refresh_tokens_only() -> None:
    store = TokenStore()
    pairs = [store.issue(SESSION, now_ms=NOW_MS)]
    rotations = MAX_RETIRED_PER_FAMILY + 4
    for step in range(rotations):
        pairs.append(store.refresh(pairs[-1].refresh_token, ip=None, now_ms=NOW_MS + step))
    assert len(store) == MAX_ACCESS_PER_FAMILY + MAX_RETIRED_PER_FAMILY + 1
    now = NOW_MS + rotations
    for pair in pairs[-MAX_ACCESS_PER_FAMILY:]:
        assert store.authenticate(pair.access_token, ip=None, now_ms=now) == SESSION
    oldest = pairs[-MAX_ACCESS_PER_FAMILY - 1].access_token
    assert _refused(store, oldest, now) == SecurityReason.TOKEN_INVALID
    # A refresh token retired too long ago is merely unknown; it cannot kill the family.
    assert _refused(store, pairs[0].refresh_token, now, refresh=True) == (
        SecurityReason.TOKEN_INVALID
    )
    assert store.authenticate(pairs[-1].access_token, ip=None, now_ms=now) == SESSION
    # One still remembered does.
    remembered = pairs[-MAX_RETIRED_PER_FAMILY - 1].refresh_token
    assert _refused(store, remembered, now, refresh=True) == SecurityReason.TOKEN_REVOKED
    assert _refused(store, pairs[-1].access_token, now) == SecurityReason.TOKEN_REVOKED


def test_an_api_key_beyond_its_family_cap_loses_its_stalest_login() -> None:
    store = TokenStore(max_families_per_key=3)
    first, second, third = (store.issue(SESSION, now_ms=NOW_MS + i) for i in range(3))
    other = store.issue(OTHER, now_ms=NOW_MS)
    # Refreshing the first makes the second the one issued a token longest ago.
    first = store.refresh(first.refresh_token, ip=None, now_ms=NOW_MS + 10)
    fourth = store.issue(SESSION, now_ms=NOW_MS + 11)
    assert store.families(SESSION.client_id) == 3
    assert _refused(store, second.access_token, NOW_MS + 12) == SecurityReason.TOKEN_INVALID
    for login in (first, third, fourth):
        assert store.authenticate(login.access_token, ip=None, now_ms=NOW_MS + 12) == SESSION
    # Another key's sessions are not touched by this key's logins.
    assert store.authenticate(other.access_token, ip=None, now_ms=NOW_MS + 12) == OTHER


def test_a_revoked_family_is_evicted_before_any_live_one() -> None:
    store = TokenStore(max_families_per_key=2)
    live = store.issue(SESSION, now_ms=NOW_MS)
    dead = store.issue(SESSION, now_ms=NOW_MS + 1)
    store.revoke(dead.access_token)
    newest = store.issue(SESSION, now_ms=NOW_MS + 2)
    assert store.authenticate(live.access_token, ip=None, now_ms=NOW_MS + 3) == SESSION
    assert store.authenticate(newest.access_token, ip=None, now_ms=NOW_MS + 3) == SESSION
    assert _refused(store, dead.access_token, NOW_MS + 3) == SecurityReason.TOKEN_INVALID


def test_restoring_applies_the_family_cap_of_the_store_it_restores_into() -> None:
    store = TokenStore()
    logins = [store.issue(SESSION, now_ms=NOW_MS + i) for i in range(5)]
    smaller = TokenStore(max_families_per_key=2)
    smaller.restore(store.export(NOW_MS + 5), now_ms=NOW_MS + 5)
    assert smaller.families(SESSION.client_id) == 2
    assert _refused(smaller, logins[2].access_token, NOW_MS + 6) == SecurityReason.TOKEN_INVALID
    assert smaller.authenticate(logins[4].access_token, ip=None, now_ms=NOW_MS + 6) == SESSION


def test_the_version_moves_on_every_change_and_only_then() -> None:
    store = TokenStore()
    versions = [store.version]
    login = store.issue(SESSION, now_ms=NOW_MS)
    versions.append(store.version)
    store.authenticate(login.access_token, ip=None, now_ms=NOW_MS)
    for bad in ("nope", "x" * 200, login.access_token):
        with pytest.raises(Unauthorized):
            store.refresh(bad, ip=None, now_ms=NOW_MS)
    store.prune(NOW_MS)
    assert store.version == versions[-1]
    renewed = store.refresh(login.refresh_token, ip=None, now_ms=NOW_MS)
    versions.append(store.version)
    store.revoke(renewed.access_token)
    versions.append(store.version)
    store.revoke(renewed.access_token)  # already revoked: nothing changes
    assert store.version == versions[-1]
    assert versions == sorted(set(versions))


# Hostile states ----------------------------------------------------------------------------


def _token(kind: TokenKind = TokenKind.ACCESS, **changes: Any) -> TokenRecord:
    fields: dict[str, Any] = {
        "digest": "ab" * 32,
        "kind": kind,
        "issued_ms": NOW_MS,
        "expires_ms": NOW_MS + ACCESS_TTL_MS,
    }
    return TokenRecord(**{**fields, **changes})


def _family(*tokens: TokenRecord, **changes: Any) -> FamilyRecord:
    login: dict[str, Any] = {
        "account": "acct-1",
        "client_id": "client1",
        "scopes": "account:read trade:read_write",
        "ip": None,
    }
    fields: dict[str, Any] = {
        "family": "cd" * 32,
        "revoked": False,
        "tokens": tokens or (_token(),),
    }
    for name, value in changes.items():
        (login if name in login else fields)[name] = value
    return FamilyRecord(login=LoginRecord(**login), **fields)


REFRESH = _token(TokenKind.REFRESH, digest="ef" * 32, expires_ms=NOW_MS + REFRESH_TTL_MS)

HOSTILE: dict[str, TokenState] = {
    "digest not hex": TokenState((_family(_token(digest="zz" * 32)),)),
    "digest upper case": TokenState((_family(_token(digest="AB" * 32)),)),
    "digest short": TokenState((_family(_token(digest="ab" * 31)),)),
    "digest twice in a family": TokenState((_family(_token(), _token()),)),
    "digest twice across families": TokenState(
        (_family(), _family(family="ee" * 32)),
    ),
    "family id twice": TokenState(
        (_family(), _family(_token(digest="01" * 32))),
    ),
    "family id not hex": TokenState((_family(family="family"),)),
    "account with a slash": TokenState((_family(account="../etc"),)),
    "account empty": TokenState((_family(account=""),)),
    "client id with a space": TokenState((_family(client_id="a b"),)),
    "scopes unknown": TokenState((_family(scopes="root:read_write"),)),
    "scopes not canonical": TokenState((_family(scopes="trade:read_write account:read"),)),
    "ip not an address": TokenState((_family(ip="localhost"),)),
    "ip not canonical": TokenState((_family(ip="::0:1"),)),
    "expires before issued": TokenState((_family(_token(expires_ms=NOW_MS - 1)),)),
    "expires when issued": TokenState((_family(_token(expires_ms=NOW_MS)),)),
    "access lives too long": TokenState((_family(_token(expires_ms=NOW_MS + ACCESS_TTL_MS + 1)),)),
    "refresh lives too long": TokenState(
        (_family(_token(TokenKind.REFRESH, expires_ms=NOW_MS + REFRESH_TTL_MS + 1)),)
    ),
    "negative time": TokenState((_family(_token(issued_ms=-5, expires_ms=10)),)),
    "time beyond 2**62": TokenState((_family(_token(issued_ms=2**62, expires_ms=2**62 + 1)),)),
    "two current refresh tokens": TokenState(
        (_family(_token(TokenKind.REFRESH, expires_ms=NOW_MS + REFRESH_TTL_MS), REFRESH),)
    ),
    "revoked not a boolean": TokenState((_family(revoked=1),)),
    "a family that is not a record": TokenState(("family",)),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_state_is_refused_whole_and_changes_nothing(name: str) -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS)
    before = store.export(NOW_MS)
    with pytest.raises(InvalidInput) as info:
        store.restore(HOSTILE[name], now_ms=NOW_MS)
    assert info.value.code is SecurityReason.MALFORMED_MESSAGE
    assert "token state refused" in info.value.message
    assert store.export(NOW_MS) == before
    assert store.authenticate(login.access_token, ip=None, now_ms=NOW_MS) == SESSION


def test_the_well_formed_baseline_of_the_hostile_states_is_accepted() -> None:
    # The hostile cases each change one field of this state; it must itself restore, or the
    # tests above would pass for the wrong reason.
    store = TokenStore()
    store.restore(TokenState((_family(_token(), REFRESH, ip="10.0.0.1"),)), now_ms=NOW_MS)
    assert len(store) == 2 and store.families("client1") == 1


def test_a_restored_token_is_bound_to_its_ip_as_before() -> None:
    store = TokenStore()
    login = store.issue(SESSION, now_ms=NOW_MS, ip="10.0.0.1")
    restored = _restarted(store, NOW_MS)
    assert restored.authenticate(login.access_token, ip="10.0.0.1", now_ms=NOW_MS) == SESSION
    with pytest.raises(OptexError) as info:
        restored.authenticate(login.access_token, ip="10.0.0.2", now_ms=NOW_MS)
    assert info.value.code is SecurityReason.IP_NOT_ALLOWED


# Bounds under any sequence of operations ---------------------------------------------------

_OPERATION = st.tuples(
    st.sampled_from(["login", "refresh", "reuse", "logout", "restart"]),
    st.integers(min_value=0, max_value=1),  # which API key
    st.integers(min_value=0, max_value=40),  # which earlier pair
    st.integers(min_value=0, max_value=120_000),  # how much time passes
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_OPERATION, max_size=80))
def test_the_store_stays_within_its_caps_whatever_clients_do(
    operations: list[tuple[str, int, int, int]],
) -> None:
    cap = 3
    store = TokenStore(max_families_per_key=cap)
    pairs: list[AuthResult] = []
    now = NOW_MS
    for action, key, pick, elapsed in operations:
        now += elapsed
        session = (SESSION, OTHER)[key]
        chosen = pairs[pick % len(pairs)] if pairs else None
        issued = len(pairs)
        try:
            if action == "login" or chosen is None:
                pairs.append(store.issue(session, now_ms=now))
            elif action == "refresh":
                pairs.append(store.refresh(chosen.refresh_token, ip=None, now_ms=now))
            elif action == "reuse":
                store.refresh(chosen.refresh_token, ip=None, now_ms=now)
            elif action == "logout":
                store.revoke(chosen.access_token)
            else:
                store = _restarted(store, now)
        except Unauthorized:
            pass
        per_family = 1 + MAX_ACCESS_PER_FAMILY + MAX_RETIRED_PER_FAMILY
        for client in ("client1", "client2"):
            assert store.families(client) <= cap
        assert len(store) <= 2 * cap * per_family
        # A pair just issued always works, whatever the caps evicted to make room for it.
        if len(pairs) > issued:
            assert store.authenticate(pairs[-1].access_token, ip=None, now_ms=now) in (
                SESSION,
                OTHER,
            )


def test_the_default_cap_bounds_a_key_that_logs_in_without_end() -> None:
    store = TokenStore()
    for i in range(MAX_FAMILIES_PER_KEY * 3):
        store.issue(SESSION, now_ms=NOW_MS + i)
    assert store.families(SESSION.client_id) == MAX_FAMILIES_PER_KEY
    assert len(store) == 2 * MAX_FAMILIES_PER_KEY


# Changes: replayed onto the state they were made from, they give the same store ---------------


def _replayed(snapshot: TokenState, saved_ms: int, changes: list[TokenChange]) -> TokenStore:
    """A store restored from ``snapshot`` and then given ``changes``, through their bytes."""
    store = TokenStore(max_families_per_key=3)
    store.restore(snapshot, now_ms=saved_ms)
    for change in changes:
        data = msgspec.json.encode(change)
        store.apply(msgspec.json.decode(data, type=TokenChange))  # type: ignore[arg-type]
    return store


@settings(max_examples=80, deadline=None)
@given(st.lists(_OPERATION, max_size=60), st.integers(min_value=0, max_value=60))
def test_a_snapshot_and_the_changes_after_it_rebuild_the_same_store(
    operations: list[tuple[str, int, int, int]], cut: int
) -> None:
    store = TokenStore(max_families_per_key=3, keep_changes=True)
    pairs: list[AuthResult] = []
    now = NOW_MS
    snapshot, saved_ms = store.export(now), now
    changes: list[TokenChange] = []
    cut = min(cut, len(operations))
    for index in range(len(operations) + 1):
        if index == cut:
            store.prune(now)  # pruning is not a change: the replay must not need it
            snapshot, saved_ms = store.export(now), now
            store.take_changes()
            changes.clear()
        if index == len(operations):
            break
        action, key, pick, elapsed = operations[index]
        now += elapsed
        session = (SESSION, OTHER)[key]
        chosen = pairs[pick % len(pairs)] if pairs else None
        try:
            if action in ("login", "restart") or chosen is None:
                pairs.append(store.issue(session, now_ms=now))
            elif action == "refresh":
                pairs.append(store.refresh(chosen.refresh_token, ip=None, now_ms=now))
            elif action == "reuse":
                store.refresh(chosen.refresh_token, ip=None, now_ms=now)
            else:
                store.revoke(chosen.access_token)
        except Unauthorized:
            pass
        changes.extend(store.take_changes())
    replayed = _replayed(snapshot, saved_ms, changes)
    assert replayed.export(now) == store.export(now)
    for pair in pairs:
        for token in (pair.access_token, pair.refresh_token):
            assert _outcome(replayed, token, now) == _outcome(store, token, now)


def _outcome(store: TokenStore, token: str, now_ms: int) -> Any:
    try:
        return store.authenticate(token, ip=None, now_ms=now_ms)
    except Unauthorized as exc:
        return exc.code


def test_a_store_without_keep_changes_keeps_none() -> None:
    store = TokenStore()
    store.issue(SESSION, now_ms=NOW_MS)
    assert store.take_changes() == []


def _issued(**changes: Any) -> TokensIssued:
    fields: dict[str, Any] = {
        "family": "cd" * 32,
        "access": _token(digest="a1" * 32),
        "refresh": _token(TokenKind.REFRESH, digest="b1" * 32, expires_ms=NOW_MS + 60_000),
        "login": LoginRecord("acct-1", "client1", "account:read trade:read_write"),
        "retired": None,
    }
    return TokensIssued(**{**fields, **changes})


def _rotation(**changes: Any) -> TokensIssued:
    return _issued(
        **{
            "access": _token(digest="a2" * 32, issued_ms=NOW_MS + 1, expires_ms=NOW_MS + 100),
            "refresh": _token(
                TokenKind.REFRESH, digest="b2" * 32, issued_ms=NOW_MS + 1, expires_ms=NOW_MS + 100
            ),
            "login": None,
            "retired": "b1" * 32,
            **changes,
        }
    )


HOSTILE_CHANGES: dict[str, TokenChange] = {
    "revoking a family that does not exist": FamilyRevoked("ee" * 32),
    "revoking a family id that is not hex": FamilyRevoked("nope"),
    "a login into a family that exists": _issued(
        access=_token(digest="a3" * 32),
        refresh=_token(TokenKind.REFRESH, digest="b3" * 32, expires_ms=NOW_MS + 60_000),
    ),
    "a token already known": _issued(family="ee" * 32),
    "an access token of the refresh kind": _issued(
        family="ee" * 32, access=_token(TokenKind.REFRESH, digest="a3" * 32)
    ),
    "one digest for both tokens": _issued(
        family="ee" * 32,
        access=_token(digest="a3" * 32),
        refresh=_token(TokenKind.REFRESH, digest="a3" * 32),
    ),
    "a pair issued at two times": _issued(
        family="ee" * 32,
        access=_token(digest="a3" * 32, issued_ms=NOW_MS + 1),
        refresh=_token(TokenKind.REFRESH, digest="b3" * 32),
    ),
    "both a login and a rotation": _rotation(login=_issued().login),
    "neither a login nor a rotation": _issued(family="ee" * 32, login=None),
    "rotating a token that is not current": _rotation(retired="a1" * 32),
    "rotating a token of no family": _rotation(retired="99" * 32),
    "rotating into another family": _rotation(family="ee" * 32),
    "rotating after the token expired": _rotation(
        access=_token(digest="a2" * 32, issued_ms=NOW_MS + 60_000, expires_ms=NOW_MS + 60_001),
        refresh=_token(
            TokenKind.REFRESH,
            digest="b2" * 32,
            issued_ms=NOW_MS + 60_000,
            expires_ms=NOW_MS + 60_001,
        ),
    ),
    "an access token living too long": _issued(
        family="ee" * 32, access=_token(digest="a3" * 32, expires_ms=NOW_MS + ACCESS_TTL_MS + 1)
    ),
    "a login with a bad account": _issued(
        family="ee" * 32,
        access=_token(digest="a3" * 32),
        refresh=_token(TokenKind.REFRESH, digest="b3" * 32),
        login=LoginRecord("a/b", "client1", "trade:read"),
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CHANGES))
def test_a_change_that_does_not_fit_the_state_is_refused_and_changes_nothing(name: str) -> None:
    store = TokenStore()
    store.apply(_issued())
    before, version = store.export(NOW_MS), store.version
    with pytest.raises(InvalidInput) as info:
        store.apply(HOSTILE_CHANGES[name])
    assert info.value.code is SecurityReason.MALFORMED_MESSAGE
    assert (store.export(NOW_MS), store.version) == (before, version)


def test_the_baseline_of_the_hostile_changes_applies() -> None:
    store = TokenStore()
    store.apply(_issued())
    store.apply(_rotation())
    store.apply(FamilyRevoked("cd" * 32))
    (family,) = store.export(NOW_MS + 2).families
    assert family.revoked
    assert [t.kind for t in family.tokens] == [
        TokenKind.ACCESS,
        TokenKind.RETIRED,
        TokenKind.ACCESS,
        TokenKind.REFRESH,
    ]
    with pytest.raises(InvalidInput):
        store.apply(FamilyRevoked("cd" * 32))  # already revoked: not a change this store made

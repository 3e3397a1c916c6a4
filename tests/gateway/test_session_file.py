"""``HOME/tokens.json`` and ``HOME/tokens.log``: a snapshot and the changes since, written only
when the token store changed, private, digests only, authenticated with the gateway's key and
chained; a corrupt, altered, reordered, foreign or hostile file is refused with an error naming
it, a crash-cut last line is dropped, a compaction cut short is recovered, and missing files
mean no sessions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
from pathlib import Path

import msgspec
import pytest

from optex.core import InvalidInput, Unauthorized
from optex.crypto import (
    Access,
    AuthResult,
    FamilyRecord,
    LoginRecord,
    PrivateKey,
    Scopes,
    SecurityReason,
    Session,
    TokenKind,
    TokenRecord,
    TokenState,
    TokenStore,
)
from optex.gateway import GatewayReason, init_home, unlock
from optex.gateway._sessions import (
    TOKENS_FILE,
    TOKENS_LOG,
    SessionFile,
    encode_snapshot,
    file_key,
)
from tests.gateway.kit import PASSWORD

SESSION = Session("alice", "client1", Scopes(Access.READ, Access.READ_WRITE))
NOW_MS = 1_800_000_000_000


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> PrivateKey:
    home = tmp_path_factory.mktemp("session-home")
    init_home(home, password=PASSWORD, scrypt_n=2**14)
    return unlock(home, PASSWORD)


def _opened(home: Path, key: PrivateKey, now_ms: int = NOW_MS, **options: int) -> TokenStore:
    """A store loaded from ``home`` as the gateway loads it at start (the files compacted)."""
    store = TokenStore(keep_changes=True)
    sessions = SessionFile(home, key, **options)
    sessions.load(store, now_ms)
    sessions.close()
    return store


class Running:
    """A store with its session files, as a running gateway holds them."""

    def __init__(self, home: Path, key: PrivateKey, **options: int) -> None:
        self.store = TokenStore(keep_changes=True)
        self.files = SessionFile(home, key, **options)
        self.files.load(self.store, NOW_MS)

    async def login(self, now_ms: int = NOW_MS) -> AuthResult:
        result = self.store.issue(SESSION, now_ms=now_ms)
        await self.files.save(self.store, now_ms)
        return result

    async def refresh(self, token: str, now_ms: int = NOW_MS) -> AuthResult:
        result = self.store.refresh(token, ip=None, now_ms=now_ms)
        await self.files.save(self.store, now_ms)
        return result

    async def logout(self, token: str, now_ms: int = NOW_MS) -> None:
        self.store.revoke(token)
        await self.files.save(self.store, now_ms)


def _refusal(home: Path, key: PrivateKey, file: str = TOKENS_LOG) -> str:
    with pytest.raises(InvalidInput) as info:
        _opened(home, key)
    assert info.value.code is GatewayReason.INVALID_HOME
    assert info.value.message.startswith(str(home / file)), info.value.message
    assert "Refusing to start" in info.value.message
    return info.value.message


async def test_missing_files_mean_no_sessions_and_a_failed_login_writes_nothing(
    tmp_path: Path, key: PrivateKey
) -> None:
    running = Running(tmp_path, key)
    assert len(running.store) == 0
    log = (tmp_path / TOKENS_LOG).read_bytes()
    with pytest.raises(Unauthorized):
        running.store.refresh("not-a-token", ip=None, now_ms=NOW_MS)
    await running.files.save(running.store, NOW_MS)
    assert (tmp_path / TOKENS_LOG).read_bytes() == log


async def test_the_files_are_private_hold_digests_only_and_bring_the_sessions_back(
    tmp_path: Path, key: PrivateKey
) -> None:
    running = Running(tmp_path, key)
    first = await running.login()
    second = await running.refresh(first.refresh_token, NOW_MS + 1)
    for name in (TOKENS_FILE, TOKENS_LOG):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    data = (tmp_path / TOKENS_LOG).read_bytes()
    assert len(data.splitlines()) == 3  # the header and one line per change
    for token in (first.access_token, second.refresh_token):
        assert token.encode() not in data
        assert hashlib.sha256(token.encode()).hexdigest().encode() in data
    running.files.close()
    restored = _opened(tmp_path, key, NOW_MS + 2)
    assert restored.authenticate(first.access_token, ip=None, now_ms=NOW_MS + 2) == SESSION
    with pytest.raises(Unauthorized) as info:
        restored.refresh(first.refresh_token, ip=None, now_ms=NOW_MS + 3)
    assert info.value.code is SecurityReason.TOKEN_REVOKED


async def test_a_compacted_log_gives_the_same_sessions_and_starts_over(
    tmp_path: Path, key: PrivateKey
) -> None:
    # The log is folded once it holds as many changes as the store holds tokens (and at
    # least compact_after): here at the fourth change, when four tokens are stored.
    running = Running(tmp_path, key, compact_after=4)
    before = (tmp_path / TOKENS_FILE).read_bytes()
    first = await running.login(NOW_MS)
    await running.logout(first.access_token, NOW_MS + 1)
    second = await running.login(NOW_MS + 2)
    assert len((tmp_path / TOKENS_LOG).read_bytes().splitlines()) == 4
    assert (tmp_path / TOKENS_FILE).read_bytes() == before
    await running.logout(second.access_token, NOW_MS + 3)
    assert (tmp_path / TOKENS_FILE).read_bytes() != before  # compacted: a new snapshot
    assert len((tmp_path / TOKENS_LOG).read_bytes().splitlines()) == 1  # just the header
    expected = running.store.export(NOW_MS + 6)
    running.files.close()
    assert _opened(tmp_path, key, NOW_MS + 6).export(NOW_MS + 6) == expected


async def test_a_last_line_cut_short_by_a_crash_is_dropped(tmp_path: Path, key: PrivateKey) -> None:
    running = Running(tmp_path, key)
    kept = await running.login()
    cut = await running.login()
    running.files.close()
    log = tmp_path / TOKENS_LOG
    log.write_bytes(log.read_bytes()[:-20])
    restored = _opened(tmp_path, key)
    assert restored.authenticate(kept.access_token, ip=None, now_ms=NOW_MS) == SESSION
    with pytest.raises(Unauthorized):
        restored.authenticate(cut.access_token, ip=None, now_ms=NOW_MS)


async def test_a_compaction_cut_between_its_two_files_loses_nothing(
    tmp_path: Path, key: PrivateKey
) -> None:
    running = Running(tmp_path, key)
    login = await running.login()
    old_log = (tmp_path / TOKENS_LOG).read_bytes()
    running.files.close()
    # A restart compacts: new snapshot, then new log. Put the old log back, as if the crash
    # came between the two writes: the snapshot names its epoch as the one it replaced.
    _opened(tmp_path, key)
    (tmp_path / TOKENS_LOG).write_bytes(old_log)
    restored = _opened(tmp_path, key)
    assert restored.authenticate(login.access_token, ip=None, now_ms=NOW_MS) == SESSION
    assert len(restored) == 2


async def _two_changes(home: Path, key: PrivateKey) -> list[bytes]:
    running = Running(home, key)
    login = await running.login()
    await running.logout(login.access_token)
    running.files.close()
    return (home / TOKENS_LOG).read_bytes().splitlines(keepends=True)


async def test_log_lines_reordered_dropped_from_the_middle_or_altered_are_refused(
    tmp_path: Path, key: PrivateKey
) -> None:
    header, issued, revoked = await _two_changes(tmp_path, key)
    log = tmp_path / TOKENS_LOG
    altered = json.loads(issued)
    altered["change"]["access"]["expires_ms"] += 10**6
    for lines, why in (
        ([header, revoked], "line 2: its MAC does not match"),  # the logout kept, login dropped
        ([header, revoked, issued], "line 2: its MAC does not match"),
        ([header, json.dumps(altered).encode() + b"\n", revoked], "line 2: its MAC"),
        ([b'{"format": "x"}\n', issued], "line 1"),
        ([header, b"{not json\n"], "line 2 does not decode"),
    ):
        log.write_bytes(b"".join(lines))
        assert why in _refusal(tmp_path, key)


async def test_a_log_of_another_snapshot_or_without_one_is_refused(
    tmp_path: Path, key: PrivateKey
) -> None:
    await _two_changes(tmp_path, key)
    foreign = tmp_path / "other"
    foreign.mkdir()
    await _two_changes(foreign, key)
    (tmp_path / TOKENS_LOG).write_bytes((foreign / TOKENS_LOG).read_bytes())
    assert "belongs to another snapshot" in _refusal(tmp_path, key)
    (tmp_path / TOKENS_FILE).unlink()
    assert "a log without its snapshot" in _refusal(tmp_path, key)


@pytest.mark.parametrize("damage", [b"", b"\x00\xff garbage", b"[]", b'{"format": "x"}'])
async def test_a_corrupt_snapshot_is_refused_with_an_error_naming_it(
    tmp_path: Path, key: PrivateKey, damage: bytes
) -> None:
    await _two_changes(tmp_path, key)
    (tmp_path / TOKENS_FILE).write_bytes(damage)
    _refusal(tmp_path, key, TOKENS_FILE)


async def test_an_altered_snapshot_fails_its_mac(tmp_path: Path, key: PrivateKey) -> None:
    running = Running(tmp_path, key)
    await running.login()
    running.files.close()
    _opened(tmp_path, key)  # compacts the login into the snapshot
    document = json.loads((tmp_path / TOKENS_FILE).read_bytes())
    # Stretch the access token's life: what a forger would want, what the MAC refuses.
    document["state"]["families"][0]["tokens"][0]["expires_ms"] += 10**6
    (tmp_path / TOKENS_FILE).write_text(json.dumps(document))
    assert "MAC does not match" in _refusal(tmp_path, key, TOKENS_FILE)


def _planted(token: bytes, expires_ms: int) -> TokenState:
    login = LoginRecord("alice", "client1", "account:read_write trade:read_write wallet:read_write")
    record = TokenRecord(hashlib.sha256(token).hexdigest(), TokenKind.ACCESS, NOW_MS, expires_ms)
    return TokenState((FamilyRecord("cd" * 32, login, False, (record,)),))


def test_a_session_planted_by_someone_without_the_key_is_refused(
    tmp_path: Path, key: PrivateKey
) -> None:
    # Someone who can write the home but not unlock the gateway key adds a session for a
    # token they chose, MACed under a key of their own.
    foreign = file_key(PrivateKey.generate())
    planted = encode_snapshot(
        _planted(b"chosen", NOW_MS + 60_000),
        foreign,
        epoch="e1",
        previous_epoch=None,
        saved_ms=NOW_MS,
    )
    (tmp_path / TOKENS_FILE).write_bytes(planted)
    assert "MAC does not match" in _refusal(tmp_path, key, TOKENS_FILE)


def test_a_hostile_state_under_a_valid_mac_is_refused_by_the_store(
    tmp_path: Path, key: PrivateKey
) -> None:
    # A bug, or a key that leaked: the MAC passes, the store's own checks still refuse a
    # token living longer than any the gateway issues.
    hostile = encode_snapshot(
        _planted(b"chosen", NOW_MS + 10**12),
        file_key(key),
        epoch="e1",
        previous_epoch=None,
        saved_ms=NOW_MS,
    )
    (tmp_path / TOKENS_FILE).write_bytes(hostile)
    assert "lives too long" in _refusal(tmp_path, key, TOKENS_FILE)


async def test_a_snapshot_of_another_format_version_is_refused(
    tmp_path: Path, key: PrivateKey
) -> None:
    await _two_changes(tmp_path, key)
    document = msgspec.json.decode((tmp_path / TOKENS_FILE).read_bytes())
    document["format"] = "optex-tokens/2"
    (tmp_path / TOKENS_FILE).write_bytes(msgspec.json.encode(document))
    assert "is not 'optex-tokens/1'" in _refusal(tmp_path, key, TOKENS_FILE)


async def test_saves_racing_each_other_all_return_durable(tmp_path: Path, key: PrivateKey) -> None:
    running = Running(tmp_path, key)

    async def one(i: int) -> AuthResult:
        result = running.store.issue(SESSION, now_ms=NOW_MS + i)
        await running.files.save(running.store, NOW_MS + i)
        # Returned: this login must already be in the files.
        assert hashlib.sha256(result.access_token.encode()).hexdigest().encode() in (
            (tmp_path / TOKENS_LOG).read_bytes() + (tmp_path / TOKENS_FILE).read_bytes()
        )
        return result

    results = await asyncio.gather(*(one(i) for i in range(20)))
    running.files.close()
    restored = _opened(tmp_path, key, NOW_MS + 20)
    kept = [r for r in results if _works(restored, r.access_token)]
    assert len(kept) == restored.families("client1") == 20


def _works(store: TokenStore, token: str) -> bool:
    try:
        store.authenticate(token, ip=None, now_ms=NOW_MS + 20)
    except Unauthorized:
        return False
    return True

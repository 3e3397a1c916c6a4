"""The gateway's sessions kept across restarts: ``HOME/tokens.json`` and ``HOME/tokens.log``.

A gateway restart (a clean stop or SIGKILL) must not sign every client out, so the token store
(:class:`optex.crypto.TokenStore`) is kept in the home, as a snapshot and the changes since:

```
tokens.json   {"format": "optex-tokens/1", "epoch": E, "previous_epoch": P, "saved_ms": T,
               "mac": HEX, "state": TokenState}                  (replaced with write_atomic)
tokens.log    {"format": "optex-token-log/1", "epoch": E, "mac": HEX}     (the first line)
              {"mac": HEX, "change": TokensIssued | FamilyRevoked}        (one line a change)
```

Both hold the SHA-256 digest of each token, never the token, so they let no one act as a
client; both are mode 0600. A login, rotation or logout appends its change (a few hundred
bytes, fsynced) before ``public/auth`` or ``private/logout`` answers, so a client never holds a
token the gateway could forget; requests that merely present a token read memory only. When
the log holds more changes than the store holds tokens (and at least
:data:`COMPACT_AFTER`), the snapshot is written again and the log starts over — so each change
costs O(1) amortized, where rewriting the whole state on every login cost O(sessions), on the
event loop (measured: docs/gateway.md). At start the snapshot is restored, the log replayed
with :meth:`TokenStore.apply <optex.crypto.TokenStore.apply>` (which arrives at the state the
gateway had), expired entries dropped, and a fresh snapshot written.

Integrity: each file is authenticated with HMAC-SHA256 under a key derived (HKDF) from the
gateway's trading key, like API-key secrets are sealed under one; each log line's MAC chains
the previous line's, and the log's epoch is the snapshot's, so lines cannot be forged, altered,
reordered, dropped from the middle or moved between logs by someone who can write the home but
not unlock the keystore. A file that does not decode, fails a MAC, or holds a state or change
the store refuses stops the gateway at start with an error naming it (``invalid_home``); it is
never ignored, because starting empty would also forget which sessions were logged out. Only a
last line without its newline is dropped: an append a crash cut short, whose call never
answered. A missing snapshot (and log) means no sessions.

Crash safety of a compaction: the snapshot names the epoch it replaced, so a log still of that
epoch (the crash came between the two files) is known to be included in it and is skipped.

What the MACs cannot stop: someone with write access putting back older genuine files (or
cutting the log's tail), which revives sessions logged out since (docs/security.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from optex.core import InvalidInput, OptexError
from optex.crypto import PrivateKey, TokenChange, TokenState, TokenStore
from optex.gateway._reasons import GatewayReason
from optex.journal import write_atomic

TOKENS_FILE: Final = "tokens.json"
TOKENS_LOG: Final = "tokens.log"
FORMAT: Final = "optex-tokens/1"
LOG_FORMAT: Final = "optex-token-log/1"
COMPACT_AFTER: Final = 10_000
"""The fewest changes the log holds before it is folded into a new snapshot."""
MAX_FILE_BYTES: Final = 1 << 30
"""A file larger than this is refused before it is read (the caps keep real ones far below)."""
_MAC_INFO: Final = b"optex.gateway/token-file/v1"


class _Snapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    epoch: str
    previous_epoch: str | None
    saved_ms: int
    mac: str
    state: msgspec.Raw


class _LogHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    epoch: str
    mac: str


class _LogLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    mac: str
    change: msgspec.Raw


_CHANGE: Final = msgspec.json.Decoder(TokenChange)


def file_key(gateway_key: PrivateKey) -> bytes:
    """The key that authenticates the token files, derived from the gateway key (HKDF-SHA256,
    its own label, so it is not the key that seals API-key secrets)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MAC_INFO).derive(
        gateway_key.seed().reveal()
    )


def _mac(key: bytes, *parts: bytes) -> str:
    return hmac.new(key, b"\n".join(parts), hashlib.sha256).hexdigest()


def _same(mac: str, expected: str) -> bool:
    return hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode())


def _snapshot_mac(key: bytes, epoch: str, previous: str | None, saved_ms: int, state: bytes) -> str:
    fields = (FORMAT, epoch, previous or "", str(saved_ms))
    return _mac(key, *(field.encode() for field in fields), state)


def encode_snapshot(
    state: TokenState, key: bytes, *, epoch: str, previous_epoch: str | None, saved_ms: int
) -> bytes:
    """``tokens.json``'s bytes."""
    body = msgspec.json.encode(state)
    mac = _snapshot_mac(key, epoch, previous_epoch, saved_ms, body)
    return msgspec.json.encode(
        _Snapshot(FORMAT, epoch, previous_epoch, saved_ms, mac, msgspec.Raw(body))
    )


def decode_snapshot(data: bytes, key: bytes) -> tuple[_Snapshot, TokenState]:
    """The envelope and state of ``tokens.json``, or ``ValueError`` saying what is wrong."""
    try:
        snapshot = msgspec.json.decode(data, type=_Snapshot)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a token snapshot ({exc})") from None
    if snapshot.format != FORMAT:
        raise ValueError(f"format {snapshot.format[:40]!r} is not {FORMAT!r}")
    expected = _snapshot_mac(
        key, snapshot.epoch, snapshot.previous_epoch, snapshot.saved_ms, bytes(snapshot.state)
    )
    if not _same(snapshot.mac, expected):
        raise ValueError("its MAC does not match: not written by this gateway's key, or altered")
    try:
        return snapshot, msgspec.json.decode(snapshot.state, type=TokenState)
    except msgspec.DecodeError as exc:
        raise ValueError(f"the state does not decode ({exc})") from None


def _header_mac(key: bytes, epoch: str) -> str:
    return _mac(key, LOG_FORMAT.encode(), epoch.encode())


def _header(key: bytes, epoch: str) -> bytes:
    mac = _header_mac(key, epoch)
    return msgspec.json.encode(_LogHeader(LOG_FORMAT, epoch, mac)) + b"\n"


def _read(path: Path) -> bytes | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{size} bytes is more than {MAX_FILE_BYTES}")
    return path.read_bytes()


class SessionFile:
    """Loads the token store at start, appends its changes, and compacts the log."""

    def __init__(
        self, home: Path, gateway_key: PrivateKey, *, compact_after: int = COMPACT_AFTER
    ) -> None:
        self.snapshot_path = home / TOKENS_FILE
        self.log_path = home / TOKENS_LOG
        self.compact_after = compact_after
        self._key = file_key(gateway_key)
        self._lock = asyncio.Lock()
        self._epoch = ""
        self._chain = ""
        self._records = 0
        self._durable = 0
        self._fd: int | None = None
        self._must_compact = False

    # Start ---------------------------------------------------------------------------------

    def load(self, store: TokenStore, now_ms: int) -> None:
        """Restore ``store`` from the snapshot and log (nothing if there are none), refuse
        bad files, then write a fresh snapshot and open a new log."""
        current = self.snapshot_path
        try:
            data = _read(self.snapshot_path)
            snapshot: _Snapshot | None = None
            if data is not None:
                snapshot, state = decode_snapshot(data, self._key)
                store.restore(state, now_ms=snapshot.saved_ms)
                self._epoch = snapshot.epoch
            current = self.log_path
            log = _read(self.log_path)
            if log is not None:
                if snapshot is None:
                    raise ValueError(f"a log without its snapshot {TOKENS_FILE}")
                self._replay(store, log, snapshot)
        except (ValueError, OptexError) as exc:
            why = exc.message if isinstance(exc, OptexError) else str(exc)
            raise InvalidInput(
                GatewayReason.INVALID_HOME,
                f"{current}: {why}. Refusing to start; move {TOKENS_FILE} and {TOKENS_LOG} "
                "away to start with no sessions (every client logs in again)",
            ) from None
        store.take_changes()
        files, epoch = self._compaction(store, now_ms)
        self._write_files(*files)
        self._compacted(epoch)
        self._durable = store.version

    def _replay(self, store: TokenStore, log: bytes, snapshot: _Snapshot) -> None:
        lines = log.split(b"\n")
        # The last element is what follows the final newline: empty, or an append a crash cut
        # short (its call never answered, so dropping it forgets nothing a client holds).
        complete = lines[:-1]
        if not complete:
            return
        try:
            header = msgspec.json.decode(complete[0], type=_LogHeader)
        except msgspec.DecodeError as exc:
            raise ValueError(f"line 1 is not a log header ({exc})") from None
        expected = _header_mac(self._key, header.epoch)
        if header.format != LOG_FORMAT or not _same(header.mac, expected):
            raise ValueError("line 1: the header's format or MAC does not match")
        if header.epoch == snapshot.previous_epoch:
            return  # a compaction stopped between the files: the snapshot includes this log
        if header.epoch != snapshot.epoch:
            raise ValueError("the log belongs to another snapshot")
        chain = header.mac
        for number, raw in enumerate(complete[1:], start=2):
            try:
                line = msgspec.json.decode(raw, type=_LogLine)
            except msgspec.DecodeError as exc:
                raise ValueError(f"line {number} does not decode ({exc})") from None
            if not _same(line.mac, _mac(self._key, chain.encode(), bytes(line.change))):
                raise ValueError(f"line {number}: its MAC does not match (altered or moved)")
            chain = line.mac
            try:
                change = _CHANGE.decode(line.change)
            except msgspec.DecodeError as exc:
                raise ValueError(f"line {number} is not a token change ({exc})") from None
            try:
                store.apply(change)
            except OptexError as exc:
                raise ValueError(f"line {number}: {exc.message}") from None

    def _compaction(self, store: TokenStore, now_ms: int) -> tuple[tuple[bytes, bytes], str]:
        """A new snapshot of everything (expired entries dropped) and an empty log of its new
        epoch: the two files' bytes, and the epoch. Runs on the loop: it must see one state."""
        store.prune(now_ms)
        epoch = secrets.token_hex(16)
        snapshot = encode_snapshot(
            store.export(now_ms),
            self._key,
            epoch=epoch,
            previous_epoch=self._epoch or None,
            saved_ms=now_ms,
        )
        return (snapshot, _header(self._key, epoch)), epoch

    def _compacted(self, epoch: str) -> None:
        self._epoch, self._chain, self._records = epoch, _header_mac(self._key, epoch), 0
        self._must_compact = False

    def _write_files(self, snapshot: bytes, header: bytes) -> None:
        """Snapshot first, then the new log (see the module docstring on crash safety)."""
        self.close()
        write_atomic(self.snapshot_path, snapshot, mode=0o600)
        write_atomic(self.log_path, header, mode=0o600)
        self._fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)

    # Running -------------------------------------------------------------------------------

    async def save(self, store: TokenStore, now_ms: int) -> None:
        """Make every change so far durable; returns once it is.

        One save at a time: a caller whose change an earlier save already wrote returns at
        once. The lines are built on the loop (a change is a few hundred bytes); the write and
        its fsync run in a thread. A failed write leaves the log behind memory, so the next
        save writes a whole snapshot instead.
        """
        target = store.version
        async with self._lock:
            if self._durable >= target:
                return
            version = store.version
            changes = store.take_changes()
            try:
                if self._must_compact or self._records + len(changes) >= max(
                    self.compact_after, len(store)
                ):
                    files, epoch = self._compaction(store, now_ms)
                    await asyncio.to_thread(self._write_files, *files)
                    self._compacted(epoch)
                else:
                    await asyncio.to_thread(self._append, self._lines(changes))
                    self._records += len(changes)
            except BaseException:
                self._must_compact = True
                raise
            self._durable = version

    def _lines(self, changes: list[TokenChange]) -> bytes:
        out = []
        for change in changes:
            body = msgspec.json.encode(change)
            self._chain = _mac(self._key, self._chain.encode(), body)
            out.append(msgspec.json.encode(_LogLine(self._chain, msgspec.Raw(body))) + b"\n")
        return b"".join(out)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None  # noqa: S101 - load opened it
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the log (the gateway stopping)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

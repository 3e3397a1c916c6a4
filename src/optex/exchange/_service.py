"""The engine service: the I/O shell around the pipeline.

A primary recovers (latest snapshot, then the journal after it), opens the journal for writing,
runs a :class:`~optex.exchange.Sequencer` in front of the pipeline and answers requests on
loopback TCP. A standby recovers the same way and then follows the journal the primary writes,
read-only, so it reaches the same state hash; it answers ``status`` and refuses submissions.
Both publish every command's events on an in-process :class:`~optex.exchange.EventBus`; a
primary configured with a NATS address also publishes each event on the core subject
``optex.events.<kind>`` (with the journal sequence in the ``Optex-Seq`` header).

Beside the pipeline the service keeps :class:`~optex.exchange._query.Queries`, the derived
index that answers ``query`` requests (recent trades, order records), and it pushes every
applied entry to connections that asked to ``stream``: the gateway's market data and user
channels. With ``delegations`` (a file of account owners' keys and their signed
authorizations) the sequencer accepts signed orders from the keys those owners delegated; the
file is read again when it changes, so an account provisioned while the engine runs can trade.

Snapshots are taken every ``snapshot_every`` entries and at a clean stop. Killed at any moment,
the service restarts from its last snapshot plus the journal: nothing journaled is lost and
nothing is applied twice, because an entry is applied only when its sequence is the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import nats

from optex.core import Clock, InvalidInput, OptexError, SystemClock, decode, encode
from optex.crypto import (
    Delegations,
    KeyAuthority,
    ReplayGuard,
    SecurityReason,
    SignedAuthorization,
    TradingKeyAuthorization,
    TradingKeyRevocation,
    TradingScope,
    encode_signed_order,
)
from optex.exchange._bus import EventBus
from optex.exchange._commands import Command, Event, event_kind
from optex.exchange._pipeline import Pipeline
from optex.exchange._query import Queries
from optex.exchange._reasons import ExchangeReason, SnapshotCorrupt
from optex.exchange._sequencer import Sequencer
from optex.exchange._snapshot import load_snapshot, snapshot_file
from optex.exchange._wire import Reply, Request, Status, frame, read_frame
from optex.journal import (
    FileFollower,
    FsyncPolicy,
    Journal,
    JournalEntry,
    follow,
    open_journal,
    write_atomic,
)

JOURNAL_FILE: Final = "journal.optexj"
log = logging.getLogger("optex.exchange")

SNAPSHOT_FILE: Final = "snapshot.bin"
QUERIES_FILE: Final = "queries.bin"
"""The order records of the query index at the snapshot's sequence (``Queries.save``)."""
PREVIOUS_QUERIES_FILE: Final = "queries.prev.bin"
"""The records of the snapshot before: the pair that still matches if a crash falls between
writing the two files of a new snapshot."""
ADDRESS_FILE: Final = "engine.json"
SEQ_HEADER: Final = "Optex-Seq"
STREAM_QUEUE: Final = 100_000
"""Journal entries a streaming connection may fall behind by before its stream is stopped."""
MAX_DELEGATIONS_BYTES: Final = 64 << 20


class DelegationRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One owner-signed authorization or revocation as stored: exactly one of the two is set
    (:class:`~optex.crypto.SignedAuthorization` holds an untagged union, which cannot be
    decoded by type)."""

    owner_key: bytes
    signature: bytes
    authorization: TradingKeyAuthorization | None = None
    revocation: TradingKeyRevocation | None = None

    @classmethod
    def of(cls, signed: SignedAuthorization) -> DelegationRecord:
        """The record of a signed message."""
        message = signed.message
        if isinstance(message, TradingKeyAuthorization):
            return cls(signed.owner_key, signed.signature, authorization=message)
        return cls(signed.owner_key, signed.signature, revocation=message)

    def signed(self) -> SignedAuthorization:
        """The signed message this record holds."""
        message = self.authorization or self.revocation
        if message is None or (self.authorization and self.revocation):
            raise InvalidInput(
                SecurityReason.MALFORMED_MESSAGE, "a record holds one authorization or revocation"
            )
        return SignedAuthorization(
            message=message, owner_key=self.owner_key, signature=self.signature
        )


class DelegationsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Accounts' owner keys and the authorizations they signed, in order: the engine's key
    authority until the chain provides one (JSON; keys and signatures base64)."""

    chain_id: str
    owners: dict[str, bytes] = {}
    authorizations: list[DelegationRecord] = []


def load_delegations_file(path: Path) -> DelegationsFile:
    """Read a delegations file (an empty one for the chain if it does not exist yet)."""
    data = path.read_bytes()
    if len(data) > MAX_DELEGATIONS_BYTES:
        raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, f"{path} is too large")
    try:
        return msgspec.json.decode(data, type=DelegationsFile)
    except msgspec.DecodeError as exc:
        raise InvalidInput(ExchangeReason.MALFORMED_COMMAND, f"{path}: {exc}") from None


def save_delegations_file(path: Path, content: DelegationsFile) -> None:
    """Write a delegations file atomically (temporary file, fsync, rename)."""
    write_atomic(path, msgspec.json.format(msgspec.json.encode(content)))


def delegations_from(content: DelegationsFile, chain_id: str) -> Delegations:
    """Verify every authorization against its owner's key, in file order."""
    if content.chain_id != chain_id:
        raise InvalidInput(
            SecurityReason.WRONG_CHAIN, f"delegations for {content.chain_id}, not {chain_id}"
        )
    delegations = Delegations(chain_id, content.owners)
    for record in content.authorizations:
        delegations.apply(record.signed())
    return delegations


class FileAuthority:
    """A :class:`~optex.crypto.KeyAuthority` read from a delegations file, re-read when the
    file changes and a key is not (yet) authorized, so new accounts need no restart."""

    def __init__(self, path: Path, chain_id: str) -> None:
        self.path = path
        self.chain_id = chain_id
        self._stamp: tuple[int, int] | None = None
        self._current = Delegations(chain_id)
        self._reload()

    def _reload(self) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self._current = delegations_from(load_delegations_file(self.path), self.chain_id)
        self._stamp = stamp
        return True

    def check(self, account: str, public_key: bytes, scope: TradingScope, now_ms: int) -> None:
        """Raise unless ``public_key`` may use ``scope`` for ``account`` (see ``Delegations``)."""
        try:
            self._current.check(account, public_key, scope, now_ms)
        except OptexError:
            if not self._reload():
                raise
            self._current.check(account, public_key, scope, now_ms)


@dataclass(frozen=True)
class ServiceConfig:
    """How to run one engine service; ``journal`` is a path or ``nats://HOST:PORT``."""

    home: Path
    journal: str | None = None
    standby: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    stream: str = "OPTEX_JOURNAL"
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    snapshot_every: int = 10_000
    """Entries between snapshots: what a restart replays at most. A snapshot encodes and
    fsyncs the whole state, so taking one every thousand entries cost the devnet's engine an
    eighth of its time under load (py-spy); ten thousand entries replay in about a second."""
    chain_id: str = "optex-devnet"
    events: str | None = None
    """A NATS address to publish events on; a primary on a NATS journal uses that one."""
    clock: Clock = field(default_factory=SystemClock)
    authority: KeyAuthority | None = None
    delegations: Path | None = None
    """A delegations file (:class:`DelegationsFile`): the key authority when ``authority`` is
    not given."""

    @property
    def journal_address(self) -> str:
        """The journal's address: the configured one, or the file in ``home``."""
        return self.journal or str(self.home / JOURNAL_FILE)


class EngineService:
    """One engine service process's worth of state; :meth:`start`, then :meth:`stop`."""

    def __init__(self, config: ServiceConfig) -> None:
        if config.standby and config.journal is None:
            raise InvalidInput(
                ExchangeReason.STANDBY, "a standby follows another engine's journal: pass it"
            )
        self.config = config
        self.bus = EventBus()
        self.pipeline = Pipeline()
        self.queries = Queries()
        self.authority: KeyAuthority | None = config.authority
        if self.authority is None and config.delegations is not None:
            self.authority = FileAuthority(config.delegations, config.chain_id)
        self.snapshot_seq = 0
        self._snapshot_write: asyncio.Future[None] | None = None
        self.journal: Journal | None = None
        self.sequencer: Sequencer | None = None
        self.address: tuple[str, int] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._nats: Any = None
        self._outbox: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self.stopped = asyncio.Event()
        self.failure: BaseException | None = None

    @property
    def role(self) -> str:
        """``primary`` or ``standby``."""
        return "standby" if self.config.standby else "primary"

    # Starting ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover, then serve: the primary sequences, the standby follows."""
        config = self.config
        config.home.mkdir(parents=True, exist_ok=True)
        restored = load_snapshot(config.home / SNAPSHOT_FILE)
        if restored is not None:
            self.pipeline = restored
            self.snapshot_seq = restored.last_seq
            for name in (QUERIES_FILE, PREVIOUS_QUERIES_FILE):
                with contextlib.suppress(FileNotFoundError):
                    loaded = Queries.load((config.home / name).read_bytes(), restored.last_seq)
                    if loaded is not None:
                        self.queries = loaded
                        # QUERIES_FILE matches the snapshot again, as _write_snapshot expects.
                        os.replace(config.home / name, config.home / QUERIES_FILE)
                        break
        address = config.journal_address
        if config.standby and not address.startswith("nats://"):
            follower = FileFollower(address.removeprefix("file://"))
            self._spawn(self._follow(follower))
        else:
            self.journal = await open_journal(address, fsync=config.fsync, stream=config.stream)
            if self.journal.last_seq < self.pipeline.last_seq:
                raise SnapshotCorrupt(
                    f"the snapshot is at {self.pipeline.last_seq} but the journal ends at "
                    f"{self.journal.last_seq}: the journal lost entries"
                )
            if config.standby:
                self._spawn(self._follow(self.journal))
            else:
                async for entry in self.journal.read(self.pipeline.last_seq + 1):
                    self._apply_entry(entry, publish=False)
                self.sequencer = self._sequencer(self.journal)
        events_url = config.events
        if events_url is None and not config.standby and address.startswith("nats://"):
            events_url = address
        if events_url is not None:
            self._nats = await nats.connect(events_url, connect_timeout=5)
            self._spawn(self._publish_nats())
        self._server = await asyncio.start_server(self._serve, config.host, config.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        self._write_address()

    def _sequencer(self, journal: Journal) -> Sequencer:
        # Everything journaled has been applied by now, so the pipeline's guard is the
        # sequencer's as it was when it stopped.
        guard = ReplayGuard.restore(self.pipeline.replay.export())

        def apply(seq: int, command: Command) -> list[Event]:
            events = self.pipeline.apply(seq, command)
            self._applied(seq, command, events, publish=True)
            return events

        return Sequencer(
            journal,
            apply,
            clock=self.config.clock,
            chain_id=self.config.chain_id,
            authority=self.authority,
            guard=guard,
            last_ts_ms=self.pipeline.now_ms,
        )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failure = task.exception()
            self.stopped.set()

    def _write_address(self) -> None:
        if self.address is None:
            return
        record = {
            "host": self.address[0],
            "port": self.address[1],
            "pid": os.getpid(),
            "role": self.role,
        }
        target = self.config.home / ADDRESS_FILE
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, target)

    # Applying ------------------------------------------------------------------------------

    async def _follow(self, source: Journal | FileFollower) -> None:
        async for entry in follow(source, self.pipeline.last_seq + 1):
            self._apply_entry(entry)

    def _apply_entry(self, entry: JournalEntry, *, publish: bool = True) -> None:
        events = self.pipeline.apply_entry(entry)
        command: Command | None
        try:
            command = decode(entry.payload, Command)  # type: ignore[arg-type]
        except (OptexError, UnicodeDecodeError):
            command = None  # the pipeline recorded it as CommandFailed
        self._applied(entry.seq, command, events, publish=publish)

    def _applied(
        self, seq: int, command: Command | None, events: list[Event], *, publish: bool
    ) -> None:
        self.queries.observe(seq, command, events, self.pipeline)
        if publish:
            self.bus.publish(seq, events)
            if self._nats is not None:
                for event in events:
                    self._outbox.put_nowait((seq, event))
        due = seq - self.snapshot_seq >= self.config.snapshot_every
        if due and (self._snapshot_write is None or self._snapshot_write.done()):
            self._snapshot_in_background()

    def _snapshot_in_background(self) -> None:
        """Take a snapshot now and write it from a worker thread.

        Taking it (encoding the state) must happen between two entries; writing and fsyncing
        tens of megabytes need not, and on the event loop it held every order behind it for as
        long as the disk took. One write at a time: a snapshot that comes due while the last is
        still being written waits for the next entry after it finished.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop (a tool replaying a journal): write here
            self.save_snapshot()
            return
        seq = self.pipeline.last_seq
        files = (snapshot_file(self.pipeline), self.queries.save(seq))
        self.snapshot_seq = seq
        self._snapshot_write = loop.run_in_executor(None, self._write_snapshot, *files)
        self._snapshot_write.add_done_callback(_log_snapshot_failure)

    def _write_snapshot(self, snapshot: bytes, queries: bytes) -> None:
        # Queries.load() takes only records of the snapshot's own sequence. The records that
        # match the snapshot in place move aside first and the new snapshot is written last,
        # so at every moment one of the two files matches whichever snapshot a crash leaves
        # (start tries both): a SIGKILL mid-write lost the whole order index before.
        home = self.config.home
        with contextlib.suppress(FileNotFoundError):
            os.replace(home / QUERIES_FILE, home / PREVIOUS_QUERIES_FILE)
        write_atomic(home / QUERIES_FILE, queries)
        write_atomic(home / SNAPSHOT_FILE, snapshot)

    def save_snapshot(self) -> None:
        """Write a snapshot of the current state (atomically), here and now."""
        seq = self.pipeline.last_seq
        self._write_snapshot(snapshot_file(self.pipeline), self.queries.save(seq))
        self.snapshot_seq = seq

    async def _publish_nats(self) -> None:
        while True:
            seq, event = await self._outbox.get()
            await self._nats.publish(
                f"optex.events.{event_kind(event)}", encode(event), headers={SEQ_HEADER: str(seq)}
            )

    # Serving -------------------------------------------------------------------------------

    def status(self) -> Status:
        """Role, last applied sequence and combined state hash."""
        return Status(
            role=self.role,
            last_seq=self.pipeline.last_seq,
            state_hash=self.pipeline.state_hash().hex(),
            snapshot_seq=self.snapshot_seq,
            journal=self.config.journal_address,
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answering: set[asyncio.Task[None]] = set()
        streams: set[asyncio.Task[None]] = set()
        self._writers.add(writer)
        try:
            while (body := await read_frame(reader)) is not None:
                request = decode(body, Request)
                if request.op == "query":
                    # Answered at once, in arrival order, from the state as it is now.
                    self._send(writer, self._query(request))
                    continue
                loop = asyncio.get_running_loop()
                if request.op == "stream":
                    stream = loop.create_task(self._stream(request.id, writer))
                    streams.add(stream)
                    stream.add_done_callback(streams.discard)
                    continue
                task = loop.create_task(self._answer(request, writer))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except (OptexError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for stream in list(streams):
                stream.cancel()
            if answering or streams:
                await asyncio.gather(*answering, *streams, return_exceptions=True)
            self._writers.discard(writer)
            writer.close()

    def _query(self, request: Request) -> Reply:
        try:
            if request.query == "signed_order":
                result = self._signed_order(request.args)
            else:
                result = self.queries.answer(self.pipeline, request.query or "", request.args)
        except OptexError as exc:
            return Reply(request.id, code=int(exc.code), reason=exc.reason, message=exc.message)
        return Reply(request.id, result=result)

    def _signed_order(self, args: Any) -> bytes | None:
        """The canonical bytes of the signed order that governs a live order of an account
        (``None``: not open, another account's, or not signed): what a gateway's edit replaces.
        """
        order_id = args.get("order_id") if isinstance(args, dict) else None
        if type(order_id) is not int:
            raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, "order_id is an integer")
        order = self.pipeline.governing_order(order_id)
        if order is None or order.intent.account != args.get("account"):
            return None
        return encode_signed_order(order)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, reply: Reply) -> None:
        if not writer.is_closing():
            writer.write(frame(reply))

    async def _stream(self, request_id: int, writer: asyncio.StreamWriter) -> None:
        subscription = self.bus.subscribe(STREAM_QUEUE)
        # The first reply says where the stream starts: everything after this sequence follows.
        self._send(writer, Reply(request_id, seq=self.pipeline.last_seq))
        try:
            async for published in subscription:
                if writer.is_closing():
                    return
                writer.write(
                    frame(Reply(request_id, seq=published.seq, events=[*published.events]))
                )
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
            if subscription.overflowed:
                self._send(writer, Reply(request_id, end=True, message="the reader fell behind"))
        except (OSError, ConnectionError):
            pass
        finally:
            subscription.close()

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        try:
            if request.op == "status":
                reply = Reply(request.id, status=self.status())
            elif request.op == "submit":
                if self.sequencer is None:
                    raise InvalidInput(ExchangeReason.STANDBY)
                try:
                    receipt = await self.sequencer.submit(request.command or b"", request.key)
                finally:
                    if self.sequencer.failure is not None:
                        self.stopped.set()  # a fenced or failed journal: stop, do not guess
                reply = Reply(request.id, receipt=receipt)
            else:
                raise InvalidInput(ExchangeReason.UNKNOWN_REQUEST, f"no operation {request.op!r}")
        except OptexError as exc:
            reply = Reply(request.id, code=int(exc.code), reason=exc.reason, message=exc.message)
        if not writer.is_closing():
            writer.write(frame(reply))
            with contextlib.suppress(OSError):
                await writer.drain()

    # Stopping ------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop serving, finish what was accepted, snapshot and close the journal."""
        if self._server is not None:
            self._server.close()
        if self.sequencer is not None:
            await self.sequencer.close()
        # Close the clients' connections, so that each connection's handler ends by itself
        # rather than being cancelled when the loop closes.
        for writer in list(self._writers):
            writer.close()
        for _ in range(3):
            if not self._writers:
                break
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._snapshot_write is not None:
            # A background write still running must not land after (and over) the last one.
            with contextlib.suppress(OSError):
                await self._snapshot_write
        if self.failure is None:
            self.save_snapshot()
        if self.journal is not None:
            await self.journal.close()
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nats.drain(), timeout=5)
        (self.config.home / ADDRESS_FILE).unlink(missing_ok=True)


async def serve(config: ServiceConfig) -> int:
    """Run an engine service until SIGTERM or SIGINT; the process exit code."""
    service = EngineService(config)
    await service.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, service.stopped.set)
    await service.stopped.wait()
    failure = service.failure or (service.sequencer.failure if service.sequencer else None)
    await service.stop()
    if failure is not None and not isinstance(failure, InvalidInput):
        raise failure
    return 0


def run(config: ServiceConfig) -> int:
    """Run an engine service in a new event loop (the ``optex engine`` command)."""
    return asyncio.run(serve(config))


def _log_snapshot_failure(write: asyncio.Future[None]) -> None:
    """A snapshot that could not be written is logged; the journal still has every entry, and
    the next snapshot tries again."""
    if not write.cancelled() and write.exception() is not None:
        log.error("snapshot not written: %s", write.exception())

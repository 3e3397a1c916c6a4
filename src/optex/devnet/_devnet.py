"""``optex devnet``: the whole exchange on one machine, from one command.

Start order follows the dependencies: the validators first (the chain must commit before
anything settles on it), then the engine service, then the services that talk to both; the
simulated index feed and the market makers run inside the devnet process itself, as clients of
the engine. Everything lives under one home directory, so a devnet stopped with Ctrl-C and
started again on the same home resumes: the nodes from their stores and WALs, the engine from
its snapshot and journal, the market makers from a replica of the engine's journal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from optex.chain import Deposit as ChainDeposit
from optex.chain import RegisterTradingKey, load_genesis, sign_tx
from optex.chain.consensus import TimeoutConfig
from optex.core import (
    DEFAULT_LISTING_RULES,
    Instrument,
    InstrumentKind,
    InvalidInput,
    asset,
    listed_instruments,
)
from optex.crypto import (
    KeyRole,
    PrivateKey,
    TradingKeyAuthorization,
    TradingScope,
    decode_keystore,
    decrypt_key,
    encode_keystore,
    encrypt_key,
    sign_authorization,
)
from optex.devnet._errors import DevnetReason
from optex.devnet._feed import IndexFeed
from optex.devnet._oracle import OracleVoter, oracle_symbols
from optex.devnet._quoter import (
    LP_ACCOUNT,
    EngineSession,
    Quoting,
    ReplicaVenue,
    list_and_fund,
    maker_account,
    publish_prices,
)
from optex.devnet._signer import QuoteSigner
from optex.devnet._supervisor import Supervisor
from optex.exchange import (
    DelegationRecord,
    DelegationsFile,
    load_delegations_file,
    save_delegations_file,
)
from optex.gateway import GatewayConfig, WithdrawalPolicy, init_home, provision_account
from optex.node import RpcClient, free_ports, init_network, load_config

log = logging.getLogger(__name__)

SETTINGS_FILE: Final = "devnet.json"
CHAIN_DIR: Final = "chain"
ENGINE_DIR: Final = "engine"
GATEWAY_DIR: Final = "gateway"
SETTLE_DIR: Final = "settle"
REGISTERED_FILE: Final = "registered-keys.json"
USER_SCOPES: Final = "account:read_write trade:read_write wallet:read_write"
"""A devnet user owns the account: trading, withdrawals (with TOTP) and security settings."""
CREDENTIALS_FILE: Final = "credentials.json"
PASSWORD_FILE: Final = "devnet-password.txt"  # noqa: S105 - a file name
"""The devnet's one password for every keystore it writes (local use only; see docs/node.md)."""
FAST_TIMEOUTS: Final = TimeoutConfig(
    propose_ms=1000,
    propose_delta_ms=250,
    prevote_ms=300,
    prevote_delta_ms=150,
    precommit_ms=300,
    precommit_delta_ms=150,
    commit_ms=200,
)
MAKER_DEPOSIT_USDC: Final = 10_000_000
LP_DEPOSIT_USDC: Final = 100_000_000
MAKERS_DIR: Final = "makers"
"""The market makers' encrypted trading keys (their owner keys are in ``chain/keys``)."""
MAKER_DEPOSITS_FILE: Final = "maker-deposits.json"
MAKER_KEY_TTL_MS: Final = 365 * 24 * 3600 * 1000
CHAIN_WAIT_S: Final = 60.0
"""How long the devnet waits for a transaction it sent to be committed before giving up."""


@dataclass(frozen=True)
class DevnetConfig:
    """What a devnet runs. The home keeps the settings that cannot change on a restart."""

    home: Path
    validators: int = 4
    spots: dict[str, float] = field(default_factory=lambda: {"BTC": 95_000.0, "ETH": 3_500.0})
    vol: float = 0.55
    seed: int = 7
    expiries: int = 2
    """Option expiries quoted per underlying: the nearest ones at least two days away."""
    strikes: int = 5
    """Strikes quoted per expiry, the nearest to the index (each as a call and a put)."""
    step_s: float = 1.0
    """How often the index moves and the market makers requote."""
    gateway_port: int = 8000
    """Where the gateway listens on 127.0.0.1 (0: any free port)."""
    steps: int | None = None
    """Stop after this many steps (for tests and scripted runs); ``None`` runs until Ctrl-C."""
    funding_interval_s: float | None = None
    """The chain's perpetual funding interval, written into a new home's genesis (``None``: the
    genesis default, 8 hours). A home keeps its genesis: another value there is refused."""
    background_nice: int = 10
    """How many steps below the trading path (engine, gateway) the validators and the
    settlement replay run. They verify and replay every order again, so on a two-core machine
    they would otherwise take half the CPU from matching during a burst; lowered, they settle
    a burst a little after it instead (0: equal priority)."""

    def check(self) -> None:
        """Refuse settings a devnet cannot run with, before anything starts."""
        problems = [
            (1 <= self.validators <= 16, "--validators must be from 1 to 16"),
            (1 <= self.expiries <= 8, "--expiries must be from 1 to 8"),
            (1 <= self.strikes <= 40, "--strikes must be from 1 to 40"),
            (0.05 <= self.step_s <= 60, "--step must be from 0.05 to 60 seconds"),
            (0 < self.vol < 5, "the volatility must be in (0, 5)"),
            (self.steps is None or self.steps >= 0, "--steps must not be negative"),
            (0 <= self.gateway_port <= 65535, "--gateway-port must be from 0 to 65535"),
            (0 <= self.background_nice <= 19, "--background-nice must be from 0 to 19"),
            (
                self.funding_interval_s is None or 1 <= self.funding_interval_s <= 86_400,
                "--funding-interval must be from 1 to 86400 seconds",
            ),
        ]
        for ok, message in problems:
            if not ok:
                raise InvalidInput(DevnetReason.INVALID_DEVNET_CONFIG, message)


def select_instruments(config: DevnetConfig, now: datetime) -> list[Instrument]:
    """The devnet's books: per underlying the perpetual, the two nearest futures and the
    ``strikes`` strikes nearest the spot on each of the ``expiries`` nearest expiries that are
    at least two days away (so that none expires under a short-lived devnet)."""
    chosen: list[Instrument] = []
    horizon_ms = int((now + timedelta(days=2)).timestamp() * 1000)
    unit = asset("USDC").scale
    for underlying, spot in sorted(config.spots.items()):
        listed = listed_instruments(underlying, str(spot), now)
        chosen += [i for i in listed if i.kind is InstrumentKind.PERPETUAL]
        futures = sorted(
            (i for i in listed if i.kind is InstrumentKind.FUTURE and _expiry(i) > horizon_ms),
            key=_expiry,
        )
        chosen += futures[:2]
        options = [i for i in listed if i.kind is InstrumentKind.OPTION and _expiry(i) > horizon_ms]
        for expiry in sorted({_expiry(i) for i in options})[: config.expiries]:
            group = [i for i in options if _expiry(i) == expiry]
            strikes = sorted({i.strike or 0 for i in group}, key=lambda k: abs(k - spot * unit))
            near = set(strikes[: config.strikes])
            chosen += [i for i in group if i.strike in near]
    return sorted(chosen, key=lambda i: i.name)


def _expiry(instrument: Instrument) -> int:
    return instrument.expiry_ms or 0


class Devnet:
    """One devnet: its processes, its engine session and its market makers."""

    def __init__(self, config: DevnetConfig, console: Console) -> None:
        config.check()
        self.config = config
        self.console = console
        self.home = config.home
        self.supervisor = Supervisor(self.home / "logs")
        self.rpc_ports: list[int] = []
        self.engine_address: tuple[str, int] | None = None
        self.session: EngineSession | None = None
        self.users: list[str] = []
        self.gateway_url: str | None = None
        self.credentials: list[dict[str, str]] = []
        self.voter: OracleVoter | None = None
        self.maker_keys: dict[str, PrivateKey] = {}
        """Each market maker account's delegated trading key."""

    # Starting ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every service in order, reporting each step; stop what started on failure."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._check_settings()
        try:
            with self.console.status("starting the devnet") as status:
                status.update(f"validators: writing or reading {self.home / CHAIN_DIR}")
                homes = self._chain_homes()
                for i, node_home in enumerate(homes):
                    status.update(f"validators: starting node {i + 1} of {len(homes)}")
                    self._start_node(i, node_home)
                status.update("validators: waiting for the first block")
                self._wait_for_block()
                status.update("gateway: API keys and delegated trading key for each user")
                self._provision_gateway()
                status.update("market makers: owner and trading keys, deposits on chain")
                self._provision_makers()
                self._fund_makers()
                status.update("engine: recovering from its snapshot and journal")
                self._start_engine()
                status.update("engine: listing instruments, funding accounts, first prices")
                self._list_and_fund()
                status.update("gateway: connecting to the engine")
                self._start_gateway()
                status.update("settlement: registering the gateway's trading key on chain")
                self._register_trading_keys()
                status.update("settlement: following the engine's journal")
                self._start_settlement()
                status.update("oracle: each validator votes the index and marks on chain")
                self.voter = OracleVoter.open(self.home / CHAIN_DIR, self.rpc_ports)
                self.voter.start()
                status.update("market makers: catching up with the engine's journal")
                self._start_quoting()
        except BaseException:
            self.stop()
            raise

    def _check_settings(self) -> None:
        path = self.home / SETTINGS_FILE
        settings = {"validators": self.config.validators, "seed": self.config.seed}
        if path.exists():
            saved = json.loads(path.read_text())
            if saved != settings:
                raise InvalidInput(
                    DevnetReason.HOME_MISMATCH,
                    f"{self.home} holds a devnet with {saved}; start it with those settings "
                    "or use another --home",
                )
        else:
            path.write_text(json.dumps(settings))

    def _chain_homes(self) -> list[Path]:
        root = self.home / CHAIN_DIR
        count = self.config.validators
        if not (root / "genesis.json").exists():
            ports = free_ports(2 * count)
            network = init_network(
                root,
                validators=count,
                genesis_time_ms=time.time_ns() // 1_000_000,
                ports=[(ports[2 * i], ports[2 * i + 1]) for i in range(count)],
                timeouts=FAST_TIMEOUTS,
                underlyings={u: DEFAULT_LISTING_RULES[u] for u in self.config.spots},
                oracle_symbols=oracle_symbols(self.config.spots),
                funding_interval_ms=self._funding_interval_ms(),
            )
            self.users = sorted(network.users)
            return network.homes
        wanted = self._funding_interval_ms()
        written = load_genesis(root / "genesis.json").funding.interval_ms
        if wanted is not None and wanted != written:
            raise InvalidInput(
                DevnetReason.HOME_MISMATCH,
                f"{self.home}'s chain funds every {written / 1000:g} s; start it without "
                "--funding-interval or with that value, or use another --home",
            )
        homes = [root / f"node{i}" for i in range(count)]
        self.users = sorted(p.stem for p in (root / "keys").glob("user*.json"))
        return homes

    def _funding_interval_ms(self) -> int | None:
        interval = self.config.funding_interval_s
        return None if interval is None else round(interval * 1000)

    def _start_node(self, i: int, node_home: Path) -> None:
        config = load_config(node_home)
        self.rpc_ports.append(config.rpc_port)

        def ready() -> bool:
            return _node_height(config.rpc_port) is not None

        self.supervisor.start(
            f"node{i}",
            ["-m", "optex.node", "--home", str(node_home)],
            ready=ready,
            nice=self.config.background_nice,
        )

    def _wait_for_block(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            heights = [_node_height(port) for port in self.rpc_ports]
            if heights and all(h is not None and h >= 1 for h in heights):
                return
            self._check_children()
            time.sleep(0.2)
        raise InvalidInput(
            DevnetReason.SERVICE_FAILED,
            f"the validators committed no block in {timeout_s:.0f} s; see {self.home / 'logs'}",
        )

    def _start_engine(self) -> None:
        engine_home = self.home / ENGINE_DIR
        engine_home.mkdir(parents=True, exist_ok=True)
        address_file = engine_home / "engine.json"
        address_file.unlink(missing_ok=True)
        delegations = self.home / GATEWAY_DIR / "delegations.json"
        child = self.supervisor.start(
            "engine",
            [
                "-m",
                "optex",
                "engine",
                "--home",
                str(engine_home),
                "--fsync",
                "interval",
                "--delegations",
                str(delegations),
            ],
            ready=lambda: _address_ready(address_file),
            timeout_s=120.0,
        )
        record = json.loads(address_file.read_text())
        if record.get("pid") != child.process.pid:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, "another engine owns the home")
        self.engine_address = (str(record["host"]), int(record["port"]))

    def _provision_gateway(self) -> None:
        """Create the gateway's home and, once per user, an API key and the owner-signed
        delegation of the gateway's trading key (which the engine reads to verify orders)."""
        gateway_home = self.home / GATEWAY_DIR
        path = self.home / CREDENTIALS_FILE
        if path.exists():
            self.credentials = json.loads(path.read_text())
            return
        password = self._password()
        # The devnet's own settlement status tells users when a withdrawal completed.
        status = self.home / SETTLE_DIR / "status.json"
        # A new withdrawal address waits a minute, not the production day (docs/devnet.md).
        config = GatewayConfig(
            settle_status=str(status),
            withdrawals=WithdrawalPolicy(address_delay_ms=60_000),
        )
        init_home(gateway_home, password=password, config=config, scrypt_n=2**14)
        keys = self.home / CHAIN_DIR / "keys"
        for user in self.users:
            owner = decrypt_key(decode_keystore((keys / f"{user}.json").read_bytes()), password)
            made = provision_account(
                gateway_home, user, owner, USER_SCOPES, password=password, name="devnet"
            )
            self.credentials.append(
                {"account": user, "client_id": made.client_id, "client_secret": made.client_secret}
            )
        path.touch(mode=0o600)
        path.write_text(json.dumps(self.credentials, indent=1))

    def _password(self) -> str:
        return (self.home / CHAIN_DIR / PASSWORD_FILE).read_text().strip()

    def _maker_deposits(self) -> dict[str, int]:
        """What each market maker account is given on chain, in USDC base units."""
        unit = asset("USDC").scale
        deposits = {maker_account(u): MAKER_DEPOSIT_USDC * unit for u in self.config.spots}
        deposits[LP_ACCOUNT] = LP_DEPOSIT_USDC * unit
        return deposits

    def _provision_makers(self) -> None:
        """Once per market maker account: an owner key (beside the users' in ``chain/keys``),
        a trading key (``makers/``) and the owner-signed delegation of it in the delegations
        file the engine reads. ``_register_trading_keys`` records it on chain with the users'.
        Run before the engine and the gateway start, so nothing else writes the file."""
        password = self._password()
        keys = self.home / CHAIN_DIR / "keys"
        trading_dir = self.home / MAKERS_DIR
        trading_dir.mkdir(exist_ok=True)
        path = self.home / GATEWAY_DIR / "delegations.json"
        content = load_delegations_file(path)
        owners = dict(content.owners)
        records = list(content.authorizations)
        now = time.time_ns() // 1_000_000
        for account in sorted(self._maker_deposits()):
            owner = _key(keys / f"{account}.json", password, account, KeyRole.OWNER)
            trading = _key(trading_dir / f"{account}.json", password, account, KeyRole.TRADING)
            self.maker_keys[account] = trading
            owners[account] = owner.public_key.raw
            messages = [r.signed().message for r in records]
            mine = [m for m in messages if m.account == account]
            if any(
                isinstance(m, TradingKeyAuthorization)
                and m.trading_key == trading.public_key.raw
                and m.expiry_ms > now + 24 * 3600 * 1000
                for m in mine
            ):
                continue
            message = TradingKeyAuthorization(
                chain_id=content.chain_id,
                account=account,
                trading_key=trading.public_key.raw,
                scopes=(TradingScope.CANCEL, TradingScope.TRADE),
                not_before_ms=now - 60_000,
                expiry_ms=now + MAKER_KEY_TTL_MS,
                nonce=max((m.nonce for m in mine), default=-1) + 1,
            )
            records.append(DelegationRecord.of(sign_authorization(owner, message)))
        save_delegations_file(path, DelegationsFile(content.chain_id, owners, records))

    def _fund_makers(self) -> None:
        """Once per market maker: a bridge deposit on chain opens its account with its owner
        key and credits its USDC; ``optex settle``'s chain watcher then credits the engine, as
        for any deposit, so the engine's and the chain's balances start equal. Waits until the
        deposits are committed (the trading keys can only be registered on an open account)."""
        marker = self.home / CHAIN_DIR / MAKER_DEPOSITS_FILE
        done: list[str] = json.loads(marker.read_text()) if marker.exists() else []
        password = self._password()
        keys = self.home / CHAIN_DIR / "keys"
        genesis = load_genesis(self.home / CHAIN_DIR / "genesis.json")
        bridge = decrypt_key(decode_keystore((keys / "bridge.json").read_bytes()), password)
        client = RpcClient("127.0.0.1", self.rpc_ports[0])
        try:
            sent = []
            for n, (account, amount) in enumerate(sorted(self._maker_deposits().items())):
                if account in done:
                    continue
                owner = decrypt_key(
                    decode_keystore((keys / f"{account}.json").read_bytes()), password
                )
                body = ChainDeposit(
                    chain_id=genesis.chain_id,
                    nonce=time.time_ns() // 1_000 + n,
                    account=account,
                    owner_key=owner.public_key.raw,
                    asset="USDC",
                    amount=amount,
                    # The bridge credits one deposit id once: a devnet killed before it wrote
                    # the marker sends it again, and the chain refuses the second.
                    deposit_id=f"devnet:maker:{account}",
                )
                sent.append(client.broadcast_tx(sign_tx(bridge, body)))
                done.append(account)
            self._wait_committed(client, sent, accept=("deposit_replayed",))
        finally:
            client.close()
        marker.write_text(json.dumps(sorted(done)))

    def _wait_committed(
        self, client: RpcClient, hashes: list[str], accept: tuple[str, ...] = ()
    ) -> None:
        """Wait until a decided block holds each transaction; raise if one was refused (unless
        for a reason in ``accept``) or the chain did not commit them in time."""
        waiting = set(hashes)
        # Sent a moment ago: no block decided well before now can hold them.
        height = max(1, int(client.status()["height"]) - 10)
        deadline = time.monotonic() + CHAIN_WAIT_S
        while waiting:
            top = int(client.status()["height"])
            while height <= top and waiting:
                answer = client.block(height)
                for tx_hash, result in zip(answer["tx_hashes"], answer["results"], strict=True):
                    if tx_hash not in waiting:
                        continue
                    waiting.discard(tx_hash)
                    if result["code"] != 0 and result["reason"] not in accept:
                        raise InvalidInput(
                            DevnetReason.SERVICE_FAILED,
                            f"the chain refused the devnet's transaction {tx_hash}: "
                            f"{result['reason']}",
                        )
                height += 1
            if waiting:
                if time.monotonic() > deadline:
                    raise InvalidInput(
                        DevnetReason.SERVICE_FAILED,
                        f"{len(waiting)} transactions not committed in {CHAIN_WAIT_S:.0f} s",
                    )
                self._check_children()
                time.sleep(0.2)

    def _start_gateway(self) -> None:
        assert self.engine_address is not None  # noqa: S101 - set by _start_engine
        gateway_home = self.home / GATEWAY_DIR
        address_file = gateway_home / "gateway-address.json"
        address_file.unlink(missing_ok=True)
        host, port = self.engine_address
        child = self.supervisor.start(
            "gateway",
            [
                "-m",
                "optex",
                "gateway",
                "--home",
                str(gateway_home),
                "--engine",
                f"{host}:{port}",
                "--listen",
                f"127.0.0.1:{self.config.gateway_port}",
                "--password-file",
                str(self.home / CHAIN_DIR / PASSWORD_FILE),
                # Validator 0 answers the chain proofs of public/optex_get_proof.
                "--node",
                f"http://127.0.0.1:{self.rpc_ports[0]}",
            ],
            ready=lambda: _address_ready(address_file),
            timeout_s=60.0,
        )
        record = json.loads(address_file.read_text())
        if record.get("pid") != child.process.pid:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, "another gateway owns the home")
        self.gateway_url = f"http://{record['host']}:{record['port']}"

    def _register_trading_keys(self) -> None:
        """Record on chain, once per user, the owner-signed delegation of the gateway's
        trading key that the engine already trusts, so the ledger accepts the orders the
        gateway signs when their fills are settled."""
        marker = self.home / CHAIN_DIR / REGISTERED_FILE
        done: list[str] = json.loads(marker.read_text()) if marker.exists() else []
        records = load_delegations_file(self.home / GATEWAY_DIR / "delegations.json")
        password = self._password()
        keys = self.home / CHAIN_DIR / "keys"
        client = RpcClient("127.0.0.1", self.rpc_ports[0])
        sent = []
        try:
            for record in records.authorizations:
                authorization = record.authorization
                if authorization is None or authorization.account in done:
                    continue
                account = authorization.account
                owner = decrypt_key(
                    decode_keystore((keys / f"{account}.json").read_bytes()), password
                )
                body = RegisterTradingKey(
                    chain_id=authorization.chain_id,
                    # Microseconds: above any nonce this owner used before, across restarts.
                    nonce=time.time_ns() // 1_000,
                    authorization=authorization,
                    owner_signature=record.signature,
                )
                sent.append(client.broadcast_tx(sign_tx(owner, body)))
                done.append(account)
            # Committed before anything settles: a fill of a key the chain does not know yet
            # is refused for good (the market makers trade from their first step).
            self._wait_committed(client, sent)
        finally:
            client.close()
        marker.write_text(json.dumps(sorted(done)))

    def _start_settlement(self) -> None:
        keys = self.home / CHAIN_DIR / "keys"
        self.supervisor.start(
            "settle",
            [
                "-m",
                "optex",
                "settle",
                "--engine-home",
                str(self.home / ENGINE_DIR),
                "--node",
                f"http://127.0.0.1:{self.rpc_ports[0]}",
                "--operator-key",
                str(keys / "operator.json"),
                "--password-file",
                str(self.home / CHAIN_DIR / PASSWORD_FILE),
                "--home",
                str(self.home / SETTLE_DIR),
                "--log-level",
                "WARNING",
            ],
            nice=self.config.background_nice,
        )

    def _list_and_fund(self) -> None:
        """List the books, fund the makers and mirror the users' genesis balances, then send
        the first index and marks: all before the gateway lets a user in."""
        assert self.engine_address is not None  # noqa: S101 - set by _start_engine
        now = datetime.now(UTC)
        ts_ms = int(now.timestamp() * 1000)
        self.instruments = select_instruments(self.config, now)
        self.session = EngineSession(*self.engine_address)
        unit = asset("USDC").scale
        # The users' engine balances mirror what the genesis gave them on chain; the market
        # makers' come from their chain deposits, through the chain watcher (_fund_makers).
        deposits: dict[str, int] = {}
        genesis = load_genesis(self.home / CHAIN_DIR / "genesis.json")
        for account in genesis.accounts:
            if account.account in self.users:
                deposits[account.account] = account.balances.get("USDC", 0)
        list_and_fund(self.session, self.instruments, deposits, ts_ms)
        keys, chain_id = self.maker_keys, genesis.chain_id
        self.venue = ReplicaVenue(
            "devnet",
            self.home / ENGINE_DIR / "journal.optexj",
            self.session,
            signer=lambda replica: QuoteSigner(chain_id, keys, replica),
        )
        self.venue.catch_up()
        spots = dict(self.config.spots)
        # A restarted devnet continues from the index the engine last saw.
        scale = float(unit)
        for underlying, level in self.venue.risk.prices.index.items():
            if underlying in spots:
                spots[underlying] = level / scale
        self.feed = IndexFeed(spots, self.config.vol, self.config.seed + ts_ms)
        publish_prices(
            self.session, self.feed.units(), self.feed.marks(self.instruments, ts_ms), ts_ms
        )

    def _start_quoting(self) -> None:
        # The makers' engine accounts open when the chain watcher feeds their deposits.
        deadline = time.monotonic() + CHAIN_WAIT_S
        self.venue.catch_up()
        while any(a not in self.venue.risk.ledger.accounts for a in self._maker_deposits()):
            if time.monotonic() > deadline:
                raise InvalidInput(
                    DevnetReason.SERVICE_FAILED,
                    "the chain watcher did not credit the market makers' deposits to the engine",
                )
            self._check_children()
            time.sleep(0.2)
            self.venue.catch_up()
        ts_ms = time.time_ns() // 1_000_000
        self.quoting = Quoting(self.venue, self.instruments)
        self.quoting.start(ts_ms)

    # Running -------------------------------------------------------------------------------

    def run(self, on_step: Callable[[int], None] | None = None) -> int:
        """Move the index and requote every ``step_s`` until stopped; the steps run."""
        assert self.session is not None  # noqa: S101 - set by start
        steps = 0
        next_at = time.monotonic()
        while self.config.steps is None or steps < self.config.steps:
            next_at += self.config.step_s
            ts_ms = time.time_ns() // 1_000_000
            index = self.feed.step(self.config.step_s)
            marks = self.feed.marks(self.instruments, ts_ms)
            publish_prices(self.session, index, marks, ts_ms)
            if self.voter is not None:
                self.voter.submit(index, marks)
            self.quoting.step(ts_ms, index, self.config.vol, marks)
            self._check_children()
            steps += 1
            if on_step is not None:
                on_step(steps)
            time.sleep(max(next_at - time.monotonic(), 0.0))
        return steps

    def _check_children(self) -> None:
        failed = self.supervisor.failed()
        if failed:
            child = failed[0]
            raise InvalidInput(
                DevnetReason.SERVICE_FAILED,
                f"{child.name} exited with status {child.process.returncode}; see {child.log}",
            )

    def stop(self) -> None:
        """Close the engine session and stop every process, newest first."""
        if self.voter is not None:
            self.voter.stop()  # before the nodes go: no vote fails on a node being stopped
            self.voter = None
        if self.session is not None:
            with contextlib.suppress(OSError, RuntimeError):  # the engine may be gone already
                self.session.close()
            self.session = None
        self.supervisor.stop_all()

    # Telling the user ----------------------------------------------------------------------

    def endpoints(self) -> Table:
        """Where each service listens and what to log in with."""
        table = Table(title="optex devnet", show_header=True)
        table.add_column("service")
        # Fold, never truncate: a clipped URL or secret is worse than a tall table.
        table.add_column("address", overflow="fold")
        table.add_column("notes", overflow="fold")
        for i, port in enumerate(self.rpc_ports):
            table.add_row(f"validator {i}", f"http://127.0.0.1:{port}", "node RPC (/status)")
        if self.engine_address is not None:
            host, port = self.engine_address
            table.add_row("engine", f"{host}:{port}", "optex.exchange.EngineClient")
        if self.gateway_url is not None:
            url = self.gateway_url
            table.add_row("gateway HTTP", f"{url}/api/v2/", "Deribit API v2 JSON-RPC")
            table.add_row("gateway WebSocket", url.replace("http", "ws", 1) + "/ws/api/v2", "")
            table.add_row("OpenAPI", f"{url}/api/v2/openapi.json", "")
        options = sum(1 for i in self.instruments if i.kind is InstrumentKind.OPTION)
        table.add_row(
            "market makers",
            ", ".join(sorted(self.config.spots)),
            f"{options} options, {len(self.instruments) - options} futures and perpetuals",
        )
        keys = self.home / CHAIN_DIR / "keys"
        for entry in self.credentials:
            table.add_row(
                f"account {entry['account']}",
                f"client_id {entry['client_id']}",
                f"client_secret {entry['client_secret']}",
            )
        table.add_row("owner keys", str(keys), f"password in {keys.parent / PASSWORD_FILE}")
        table.add_row(
            "settlement", "optex settle", "fills of signed orders to the chain via validator 0"
        )
        table.add_row("logs", str(self.home / "logs"), "")
        return table


def _key(path: Path, password: str, label: str, role: KeyRole) -> PrivateKey:
    """The key in keystore ``path``, created (encrypted with the devnet password) if missing."""
    if path.exists():
        return decrypt_key(decode_keystore(path.read_bytes()), password)
    key = PrivateKey.generate()
    keystore = encrypt_key(key, password, label=label, role=role, scrypt_n=2**14)
    path.write_bytes(encode_keystore(keystore))
    path.chmod(0o600)
    return key


def _node_height(port: int) -> int | None:
    client = RpcClient("127.0.0.1", port, timeout_s=1.0)
    try:
        return int(client.status()["height"])
    except (OSError, ValueError, KeyError):
        return None
    finally:
        client.close()


def _address_ready(address_file: Path) -> bool:
    try:
        record: dict[str, Any] = json.loads(address_file.read_text())
    except (OSError, ValueError):
        return False
    return "port" in record


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so that both stop every process the same way."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_devnet(config: DevnetConfig, console: Console | None = None) -> int:
    """Start a devnet, print its endpoints, run it until Ctrl-C (or ``steps``), stop it."""
    console = console or Console()
    devnet = Devnet(config, console)
    with _terminate_as_interrupt():
        try:
            devnet.start()
            console.print(devnet.endpoints())
            console.print("running; Ctrl-C stops every process")
            steps = devnet.run()
            console.print(f"ran {steps} steps")
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            devnet.stop()
    console.print("stopped")
    return 0

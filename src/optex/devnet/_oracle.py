"""The devnet's oracle: every validator votes the feed's index and perpetual marks on chain.

The chain settles an expired instrument at the first oracle index price voted at or after its
expiry and moves perpetual funding from the voted mark and index (``optex.chain``'s
``_settle``); its prices are the stake-weighted median of ``PriceVote`` transactions, each
signed by an active validator's consensus key. On a devnet the feed (:class:`IndexFeed`) is the
only source of prices, so the devnet votes its numbers for each validator, with the keys
``optex node init`` wrote (``HOME/chain/nodeI/validator_key.json``, the devnet password), each
to that validator's own node RPC, as a validator's own price daemon would.

What is voted: the symbols the genesis lists under ``oracle.symbols`` (the devnet's genesis
lists each underlying, ``BTC``, and its perpetual, ``BTC-PERPETUAL``: exactly what the ledger
reads, ``ctx.price(underlying)`` for settlement and fees, ``ctx.price(perpetual)`` for funding),
taken from the same index and marks the engine receives as ``SetPrices``.

Cadence: at most one vote per validator every :data:`VOTE_PERIOD_S` of wall time, whatever the
devnet's ``--step``. A vote stays fresh for the genesis ``oracle.max_age_ms`` (60 s) and more
than half of the power must be fresh, so one vote a second leaves a validator 59 missed votes
before its price lapses; the ledger aggregates once per block (about one a second on the
devnet's timeouts), so voting faster only replaces a vote in the same block; and the price the
ledger settles or funds at lags the feed by at most a period and a block. At the fastest step
(0.05 s) voting every step would be twenty votes per validator per second for nothing.

Never in the way of quoting: :meth:`OracleVoter.submit` only swaps the newest prices into a
one-place slot per validator (a bounded queue that keeps the latest, not a backlog of stale
prices); a thread per validator signs and broadcasts. A broadcast that fails (node down,
refused) is logged, once per run of failures, and the next period votes the newer prices.

Nonces: microseconds of the wall clock, as the devnet's other chain transactions, and above the
last one used (``HOME/chain/oracle-nonces.json``, written before each broadcast), so a devnet
restarted on its home continues above its old votes even if the clock stepped back meanwhile.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from optex.chain import PriceVote, load_genesis, sign_tx
from optex.core import InstrumentKind, InstrumentName, InvalidInput
from optex.crypto import PrivateKey, decode_keystore, decrypt_key
from optex.devnet._errors import DevnetReason
from optex.journal import write_atomic
from optex.node import RpcClient, RpcError
from optex.risk import Mark

log = logging.getLogger(__name__)

VOTE_PERIOD_S: Final = 1.0
"""At most one vote per validator this often (see the module docstring for why)."""
RPC_TIMEOUT_S: Final = 2.0
"""A node that does not answer within this is counted as a failed vote; the next period votes
again. Each validator has its own thread, so a hung node delays only its own votes."""
VALIDATOR_KEY_FILE: Final = "validator_key.json"
"""Where ``optex node init`` writes a validator's consensus keystore in its home."""
PASSWORD_FILE: Final = "devnet-password.txt"  # noqa: S105 - a file name
NONCE_FILE: Final = "oracle-nonces.json"
_I64: Final = 2**63 - 1
_U64: Final = 2**64


def oracle_symbols(underlyings: Iterable[str]) -> tuple[str, ...]:
    """What a devnet's validators vote: each underlying's index (``BTC``) and its perpetual's
    mark (``BTC-PERPETUAL``), the prices the ledger reads for settlement, fees and funding."""
    symbols: set[str] = set()
    for underlying in underlyings:
        symbols.add(underlying)
        symbols.add(InstrumentName(underlying, InstrumentKind.PERPETUAL).format())
    return tuple(sorted(symbols))


def vote_prices(
    symbols: Iterable[str], index: Mapping[str, int], marks: Mapping[str, Mark]
) -> dict[str, int]:
    """The prices one vote carries: for each of ``symbols``, the index of that underlying or
    the mark of that instrument, if the feed has it. A price the ledger would refuse (not a
    positive 64-bit integer) is left out rather than spoil the whole vote."""
    prices: dict[str, int] = {}
    for symbol in symbols:
        price = index.get(symbol)
        if price is None and symbol in marks:
            price = marks[symbol].price
        if isinstance(price, int) and not isinstance(price, bool) and 0 < price <= _I64:
            prices[symbol] = price
    return prices


class NonceBook:
    """Each consensus key's last vote nonce, kept in a file across devnet restarts.

    A nonce is the wall clock in microseconds, but never at or below the last one handed out:
    the file covers a clock that stepped back between two runs, the counter two votes in one
    microsecond. The file is written before the vote leaves, so a crash cannot lose a nonce
    that reached a node.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InvalidInput(
                    DevnetReason.INVALID_DEVNET_CONFIG, f"cannot read {path}: {exc}"
                ) from None
            if not isinstance(loaded, dict) or not all(
                isinstance(k, str)
                and isinstance(v, int)
                and not isinstance(v, bool)
                # The chain's nonces are u64 and the next one must still fit.
                and 0 <= v < _U64 - 1
                for k, v in loaded.items()
            ):
                raise InvalidInput(
                    DevnetReason.INVALID_DEVNET_CONFIG,
                    f"{path} must map public keys (hex) to nonces (u64)",
                )
            self._last = loaded

    def last(self, key: PrivateKey) -> int | None:
        """The last nonce handed out for ``key``."""
        with self._lock:
            return self._last.get(key.public_key.hex())

    def next(self, key: PrivateKey) -> int:
        """A nonce above every one handed out for ``key``, saved before it is returned."""
        name = key.public_key.hex()
        with self._lock:
            nonce = max(time.time_ns() // 1_000, self._last.get(name, 0) + 1)
            self._last[name] = nonce
            write_atomic(self.path, json.dumps(self._last, sort_keys=True).encode(), mode=0o600)
            return nonce


class _Latest:
    """A one-place slot: :meth:`put` replaces what is there, :meth:`take` waits for a value.

    The quoting loop never waits on it, and a validator that falls behind votes the newest
    prices, not a backlog.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._value: dict[str, int] | None = None
        self._closed = False

    def put(self, value: dict[str, int]) -> None:
        with self._ready:
            self._value = value
            self._ready.notify()

    def take(self) -> dict[str, int] | None:
        """The newest value (emptying the slot), or ``None`` once closed."""
        with self._ready:
            self._ready.wait_for(lambda: self._value is not None or self._closed)
            if self._closed:
                return None
            value, self._value = self._value, None
            return value

    def wait_closed(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` without taking anything; whether the slot was closed."""
        with self._ready:
            return self._ready.wait_for(lambda: self._closed, timeout_s)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


@dataclass(frozen=True)
class VoterStatus:
    """What one validator's voter has done since it started."""

    admitted: int
    """Votes its node admitted to the mempool (the ledger applies them in the next blocks)."""
    failed: int
    """Votes that did not reach the mempool (node down or slow, or refused)."""
    last_nonce: int | None
    last_prices: dict[str, int]
    """The prices of the last admitted vote."""


class _ValidatorVoter:
    """One validator: waits for prices, signs a vote with its consensus key, sends it to its
    own node, then rests until the period has passed."""

    def __init__(
        self,
        number: int,
        key: PrivateKey,
        port: int,
        *,
        chain_id: str,
        nonces: NonceBook,
        period_s: float,
    ) -> None:
        self.number = number
        self.key = key
        self.port = port
        self.chain_id = chain_id
        self.nonces = nonces
        self.period_s = period_s
        self.slot = _Latest()
        self.admitted = 0
        self.failed = 0
        self.last_prices: dict[str, int] = {}
        self._failing = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"oracle-vote-{number}", daemon=True)

    def status(self) -> VoterStatus:
        with self._lock:
            return VoterStatus(
                self.admitted, self.failed, self.nonces.last(self.key), dict(self.last_prices)
            )

    def _run(self) -> None:
        client = RpcClient("127.0.0.1", self.port, timeout_s=RPC_TIMEOUT_S)
        try:
            while (prices := self.slot.take()) is not None:
                started = time.monotonic()
                self._vote(client, prices)
                # Rest for the rest of the period; prices that arrive meanwhile replace each
                # other in the slot and the newest is voted next.
                rest = self.period_s - (time.monotonic() - started)
                if rest > 0 and self.slot.wait_closed(rest):
                    return
        finally:
            client.close()

    def _vote(self, client: RpcClient, prices: dict[str, int]) -> None:
        try:
            nonce = self.nonces.next(self.key)
        except OSError as exc:
            # Without the nonce on file a restarted devnet might reuse it: do not send.
            self._failed(f"cannot record the nonce in {self.nonces.path}: {exc}")
            return
        body = PriceVote(chain_id=self.chain_id, nonce=nonce, prices=prices)
        try:
            client.broadcast_tx(sign_tx(self.key, body))
        except RpcError as exc:
            self._failed(f"node {self.number} refused the vote: {exc.body.get('reason')}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._failed(f"node {self.number} unreachable: {exc}")
        else:
            with self._lock:
                self.admitted += 1
                self.last_prices = prices
            if self._failing:
                log.info("validator %d votes again", self.number)
            self._failing = False

    def _failed(self, why: str) -> None:
        where = (self.number, why)
        with self._lock:
            self.failed += 1
        # One warning per run of failures: a node that is down for a minute is one line.
        if not self._failing:
            log.warning("validator %d's price vote failed (retried each period): %s", *where)
        else:
            log.debug("validator %d's price vote failed again: %s", *where)
        self._failing = True


class OracleVoter:
    """Every validator of a devnet votes the feed's prices on chain, off the quoting loop."""

    def __init__(
        self,
        chain_id: str,
        symbols: Sequence[str],
        keys: Sequence[PrivateKey],
        rpc_ports: Sequence[int],
        nonces: NonceBook,
        *,
        period_s: float = VOTE_PERIOD_S,
    ) -> None:
        if len(keys) != len(rpc_ports):
            raise InvalidInput(
                DevnetReason.INVALID_DEVNET_CONFIG, "one node RPC port per validator key"
            )
        if not 0 < period_s <= 30:
            raise InvalidInput(
                DevnetReason.INVALID_DEVNET_CONFIG,
                "the vote period must be in (0, 30] s: a vote lapses after the genesis max age",
            )
        self.symbols = tuple(symbols)
        self._voters = [
            _ValidatorVoter(i, key, port, chain_id=chain_id, nonces=nonces, period_s=period_s)
            for i, (key, port) in enumerate(zip(keys, rpc_ports, strict=True))
        ]
        self._started = False

    @classmethod
    def open(
        cls, chain_root: Path, rpc_ports: Sequence[int], *, period_s: float = VOTE_PERIOD_S
    ) -> OracleVoter:
        """The voter of the devnet chain at ``chain_root`` (``HOME/chain``): its genesis's
        oracle symbols, the consensus key of ``node0`` ... for each port, the nonce file."""
        genesis = load_genesis(chain_root / "genesis.json")
        password = (chain_root / PASSWORD_FILE).read_text().strip()
        keys = []
        for i in range(len(rpc_ports)):
            keystore = decode_keystore((chain_root / f"node{i}" / VALIDATOR_KEY_FILE).read_bytes())
            keys.append(decrypt_key(keystore, password))
        symbols = genesis.oracle.symbols
        if not symbols:
            log.warning(
                "the genesis in %s lists no oracle symbols (a devnet home written before the "
                "devnet voted prices): nothing is voted, so nothing settles or funds on chain",
                chain_root,
            )
        nonces = NonceBook(chain_root / NONCE_FILE)
        return cls(genesis.chain_id, symbols, keys, rpc_ports, nonces, period_s=period_s)

    def start(self) -> None:
        """Start one voting thread per validator (none if there is nothing to vote)."""
        if self._started or not self.symbols:
            return
        self._started = True
        for voter in self._voters:
            voter.thread.start()

    def submit(self, index: Mapping[str, int], marks: Mapping[str, Mark]) -> None:
        """Hand the newest prices to every validator's voter; returns at once."""
        if not self._started:
            return
        prices = vote_prices(self.symbols, index, marks)
        if not prices:
            return
        for voter in self._voters:
            voter.slot.put(dict(prices))

    def stop(self, timeout_s: float = RPC_TIMEOUT_S + 1.0) -> None:
        """Stop every voting thread; a vote in flight gets ``timeout_s`` to finish."""
        for voter in self._voters:
            voter.slot.close()
        deadline = time.monotonic() + timeout_s
        for voter in self._voters:
            if voter.thread.is_alive():
                voter.thread.join(max(deadline - time.monotonic(), 0.0))

    def status(self) -> list[VoterStatus]:
        """Each validator's counters, in validator order."""
        return [voter.status() for voter in self._voters]

"""``optex devnet`` as a user runs it: real validator and engine processes, Ctrl-C, restart."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from optex.chain import Ledger
from optex.core import InstrumentKind, decode, instrument_from_name
from optex.exchange import Command, Pipeline
from optex.journal import FileFollower
from optex.market import AddInstrument
from tests.devnet.kit import bearer

pytestmark = pytest.mark.integration


def _processes_under(home: Path) -> list[int]:
    """Pids of live processes whose command line names ``home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(home).encode() in cmdline:
            found.append(int(entry.name))
    return found


def _replay(home: Path) -> tuple[Pipeline, collections.Counter[str], collections.Counter[str]]:
    """The engine's state rebuilt from its journal, its events by kind, and how many times
    each instrument was listed."""
    pipeline = Pipeline()
    follower = FileFollower(home / "engine" / "journal.optexj")
    kinds: collections.Counter[str] = collections.Counter()
    listed: collections.Counter[str] = collections.Counter()
    while entries := follower.poll():
        for entry in entries:
            kinds.update(type(e).__name__ for e in pipeline.apply_entry(entry))
            command = decode(entry.payload, Command)
            if isinstance(command, AddInstrument):
                listed[command.instrument.name] += 1
    return pipeline, kinds, listed


def _trade_through_the_gateway(home: Path) -> None:
    """A user of the printed credentials lists the books, logs in, buys the perpetual from the
    market makers' quotes and sees the position."""
    address = json.loads((home / "gateway" / "gateway-address.json").read_text())
    user = json.loads((home / "credentials.json").read_text())[0]
    with httpx.Client(base_url=f"http://127.0.0.1:{address['port']}/api/v2", timeout=10) as http:
        btc = http.get("/public/get_instruments", params={"currency": "BTC"}).json()["result"]
        assert len(btc) == 23  # the perpetual, two futures, 2 expiries x 5 strikes x C/P
        auth = bearer(http, user)
        bought = http.get(
            "/private/buy",
            params={"instrument_name": "BTC-PERPETUAL", "amount": "0.1", "type": "market"},
            headers=auth,
        ).json()
        assert bought["result"]["order"]["order_state"] == "filled", bought
        positions = http.get(
            "/private/get_positions", params={"currency": "BTC"}, headers=auth
        ).json()["result"]
        assert [p["size"] for p in positions if p["instrument_name"] == "BTC-PERPETUAL"] != [0]


def _cross_two_users_and_see_it_settled(home: Path) -> None:
    """user0 offers inside the market makers' spread on an option, user1 lifts it: both orders
    are signed by the gateway's delegated key, so the batcher settles the fill on chain."""
    address = json.loads((home / "gateway" / "gateway-address.json").read_text())
    users = json.loads((home / "credentials.json").read_text())
    with httpx.Client(base_url=f"http://127.0.0.1:{address['port']}/api/v2", timeout=10) as http:
        tokens = []
        for user in users[:2]:
            tokens.append(bearer(http, user))
        options = http.get(
            "/public/get_instruments", params={"currency": "BTC", "kind": "option"}
        ).json()["result"]
        # The market makers requote every 0.2 s; if one steps in between the two orders, the
        # buyer trades with it instead: cancel and try again on a fresh book.
        for _attempt in range(5):
            name, price = _inside_the_spread(http, options)
            params = {"instrument_name": name, "amount": "0.1", "type": "limit", "price": price}
            sold = http.get("/private/sell", params=params, headers=tokens[0]).json()
            order_id = sold["result"]["order"]["order_id"]
            http.get("/private/buy", params=params, headers=tokens[1])
            state = http.get(
                "/private/get_order_state", params={"order_id": order_id}, headers=tokens[0]
            ).json()["result"]
            if state["order_state"] == "filled":
                break
            for token in tokens:
                http.get("/private/cancel_all", headers=token)
        else:
            raise AssertionError("user1 never lifted user0's offer")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ledger = Ledger.open(home / "chain" / "node0")
        try:
            seller, buyer = ledger.account("user0"), ledger.account("user1")
        finally:
            ledger.store.close()  # type: ignore[attr-defined]
        if seller is not None and buyer is not None and name in buyer.positions:
            assert buyer.positions[name].quantity == -seller.positions[name].quantity > 0
            return
        time.sleep(0.5)
    raise AssertionError(f"the fill on {name} was not settled on chain in 30 s")


def _inside_the_spread(http: httpx.Client, options: list[dict[str, Any]]) -> tuple[str, str]:
    """An option whose spread is at least two ticks wide, and a price one tick under its ask."""
    for option in options:
        name, tick = option["instrument_name"], option["tick_size"]
        book = http.get("/public/get_order_book", params={"instrument_name": name}).json()
        bid, ask = book["result"]["best_bid_price"], book["result"]["best_ask_price"]
        if bid and ask and ask - bid >= 2 * tick:
            return name, str(round(ask - tick, 8))
    raise AssertionError("no option with a spread of two ticks")


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optex",
            "devnet",
            "--home",
            str(home),
            "--step",
            "0.2",
            "--gateway-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout_s: float) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} in the devnet's output:\n{''.join(seen)}")


def test_devnet_quotes_every_book_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    process = _start(home)
    try:
        output = _wait_for_line(process, "running", timeout_s=150)
        assert "validator 3" in output and "engine" in output and "user0" in output
        time.sleep(2.0)  # about ten requotes
        _trade_through_the_gateway(home)
        _cross_two_users_and_see_it_settled(home)
        time.sleep(1.0)  # the ladder requotes what the user took
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "stopped" in rest
    assert _processes_under(home) == [], "a devnet process outlived Ctrl-C"

    pipeline, kinds, _ = _replay(home)
    # two option market makers, the futures ladder and the four users' genesis balances
    assert kinds["Deposited"] == 7
    instruments = [instrument_from_name(n) for n in pipeline.risk.prices.marks]
    assert {i.underlying for i in instruments} == {"BTC", "ETH"}
    options = [i for i in instruments if i.kind is InstrumentKind.OPTION]
    assert len(options) == 40
    for instrument in instruments:
        book = pipeline.engine.book(instrument.name)
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None and ask is not None and bid < ask, instrument.name
        assert bid % instrument.tick_size == 0 and ask % instrument.tick_size == 0
    for option in options:
        assert pipeline.risk.prices.marks[option.name].iv is not None
    first_seq = pipeline.last_seq

    # The same home again: the chain and the engine resume; nothing is listed or funded twice.
    again = _start(home, "--steps", "3")
    rest, _ = again.communicate(timeout=180)
    assert again.returncode == 0, rest
    assert "ran 3 steps" in rest
    pipeline, kinds, listed = _replay(home)
    assert pipeline.last_seq > first_seq
    assert kinds["Deposited"] == 7
    assert set(listed.values()) == {1}
    assert _processes_under(home) == []


def test_journal_lists_each_instrument_once_across_restarts(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    for _ in range(2):
        run = _start(home, "--steps", "1", "--validators", "1", "--expiries", "1", "--strikes", "1")
        output, _ = run.communicate(timeout=180)
        assert run.returncode == 0, output
    _, _, listed = _replay(home)
    assert listed and set(listed.values()) == {1}
    assert len(listed) == 2 * (1 + 2 + 2)  # per underlying: a perpetual, two futures, a C and a P


def test_a_killed_devnet_leaves_no_service_running(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    process = _start(home, "--validators", "1", "--expiries", "1", "--strikes", "1")
    try:
        _wait_for_line(process, "running", timeout_s=150)
        assert len(_processes_under(home)) >= 4  # node, engine, gateway, settlement
    finally:
        process.kill()  # no chance to stop anything itself
        process.wait()
    deadline = time.monotonic() + 30
    while _processes_under(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(home) == [], "a service outlived its devnet"

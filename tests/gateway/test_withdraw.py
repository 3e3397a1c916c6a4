"""Withdrawals with TOTP through the gateway (issue 10).

A gateway and an engine of this file's own (real processes on loopback) for the checks of
``private/optex_enable_totp``, ``private/optex_confirm_totp``, ``private/withdraw`` and
``private/get_withdrawals``; then the whole path through ``optex devnet``: TOTP, an
owner-signed chain withdrawal, the engine's debit, ``optex settle`` broadcasting it, the chain
paying it once and its state root moving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from optex.chain import Ledger, SignedTx, decode_proof, sign_tx, tx_hash, verify_account_proof
from optex.chain import Withdraw as ChainWithdraw
from optex.core import decode, encode
from optex.crypto import PrivateKey, decode_keystore, decrypt_key
from optex.exchange import Command, Deposit, EngineClient, Withdraw
from optex.gateway import Credentials, WithdrawalPolicy, provision_account
from optex.gateway._addresses import GuardStore
from optex.journal import FileFollower
from optex.settlement import withdraw_key
from tests.gateway.kit import (
    PASSWORD,
    USDC,
    Exchange,
    Rest,
    allow_address,
    exchange_gateway,
    start_exchange,
)

pytestmark = pytest.mark.integration

WALLET_SCOPES = "account:read_write trade:read_write wallet:read_write"
ACCOUNTS = ("wanda", "xavier", "yusuf", "zoe", "quinn", "romeo", "sage", "tara", "uma", "vic")
ADDRESS = "0xfeed0000cafe"
DELAY_MS = 3_000
"""This file's gateway makes a new address wait 3 s (the default is a day)."""
DAILY_LIMIT = 2_000_000 * USDC


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Exchange, dict[str, Any]]]:
    exchange = start_exchange(
        tmp_path_factory.mktemp("withdraw"),
        ACCOUNTS,
        withdrawals=WithdrawalPolicy(address_delay_ms=DELAY_MS, daily_limits={"USDC": DAILY_LIMIT}),
    )
    try:
        keys = {
            account: provision_account(
                exchange.home,
                account,
                exchange.owners[account],
                WALLET_SCOPES,
                password=PASSWORD,
                name="wallet",
            )
            for account in ACCOUNTS
        }
        yield exchange, keys
    finally:
        exchange.stop()


def signed_tx(
    owner: PrivateKey,
    account: str,
    amount: int,
    address: str = ADDRESS,
    *,
    nonce: int | None = None,
    chain_id: str = "optex-devnet",
    asset: str = "USDC",
) -> str:
    body = ChainWithdraw(
        chain_id=chain_id,
        nonce=time.time_ns() // 1000 if nonce is None else nonce,
        account=account,
        asset=asset,
        amount=amount,
        address=address,
    )
    return base64.b64encode(encode(sign_tx(owner, body))).decode("ascii")


class Codes:
    """An authenticator: each code it gives is of a later time step than the last one used
    (the gateway accepts the current step and one either side, each once)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.used = -1

    def next(self) -> str:
        # Wait while the step after the last one used is beyond the drift window.
        while int(time.time()) // 30 + 1 < self.used + 1:
            time.sleep(0.2)
        self.used = max(self.used + 1, int(time.time()) // 30)
        return str(self.totp.at(self.used * 30))

    def wrong(self) -> str:
        """A six-digit code that is none of the accepted ones."""
        now = int(time.time()) // 30
        accepted = {self.totp.at(step * 30) for step in range(now - 1, now + 3)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def enroll(rest: Rest) -> Codes:
    started = rest.get("private/optex_enable_totp")["result"]
    codes = Codes(started["secret"])
    confirmed = rest.get("private/optex_confirm_totp", code=codes.next())
    assert confirmed["result"] == {"confirmed": True}, confirmed
    return codes


def engine_state(exchange: Exchange, account: str) -> tuple[int, int]:
    """The engine's last journal sequence and the account's balance."""

    async def read() -> tuple[int, int]:
        client = await EngineClient.connect(*exchange.engine_address)
        try:
            status = await client.status()
            record = await client.query("account", account=account)
            return status.last_seq, int(record["balance"])
        finally:
            await client.close()

    return asyncio.run(read())


def error_of(answer: dict[str, Any]) -> tuple[int, str]:
    assert "error" in answer, answer
    return answer["error"]["code"], answer["error"]["data"]["reason"]


def test_enrolment_gives_a_uri_once_and_keeps_the_secret_sealed(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    with Rest(exchange.url, keys["wanda"]) as rest:
        started = rest.get("private/optex_enable_totp")["result"]
        assert started["uri"].startswith("otpauth://totp/")
        assert f"secret={started['secret']}" in started["uri"]
        codes = Codes(started["secret"])
        assert error_of(rest.get("private/optex_confirm_totp", code=codes.wrong())) == (
            12000,
            "totp_invalid",
        )
        assert rest.get("private/optex_confirm_totp", code=codes.next())["result"]["confirmed"]
        again = rest.get("private/optex_enable_totp")
        assert error_of(again)[1] == "totp_already_enrolled"
    stored = (exchange.home / "totp.json").read_text()
    assert "wanda" in stored
    assert started["secret"] not in stored
    assert base64.b64encode(base64.b32decode(started["secret"])).decode() not in stored


def test_an_account_without_totp_cannot_withdraw_and_nothing_is_journaled(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    before = engine_state(exchange, "xavier")
    with Rest(exchange.url, keys["xavier"]) as rest:
        answer = rest.get(
            "private/withdraw",
            currency="USDC",
            amount="10",
            address=ADDRESS,
            signed_tx=signed_tx(exchange.owners["xavier"], "xavier", 10 * USDC),
            tfa="123456",
        )
    assert error_of(answer) == (13668, "totp_not_enrolled")
    assert "two-factor" in answer["error"]["data"]["message"]
    assert engine_state(exchange, "xavier") == before


def test_a_withdrawal_needs_a_fresh_code_and_debits_the_engine_once(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    owner = exchange.owners["yusuf"]
    allow_address(exchange.home, "yusuf", ADDRESS)
    with Rest(exchange.url, keys["yusuf"]) as rest:
        totp = enroll(rest)
        seq, balance = engine_state(exchange, "yusuf")
        tx = signed_tx(owner, "yusuf", 25 * USDC)
        params: dict[str, Any] = {
            "currency": "USDC",
            "amount": "25",
            "address": ADDRESS,
            "signed_tx": tx,
        }
        assert error_of(rest.get("private/withdraw", **params))[1] == "totp_required"
        assert error_of(rest.get("private/withdraw", **params, tfa=totp.wrong())) == (
            12000,
            "totp_invalid",
        )
        assert engine_state(exchange, "yusuf") == (seq, balance)

        code = totp.next()
        done = rest.get("private/withdraw", **params, tfa=code)["result"]
        assert done["state"] == "unconfirmed"
        assert (done["currency"], done["amount"], done["address"]) == ("USDC", 25.0, ADDRESS)
        after_seq, after_balance = engine_state(exchange, "yusuf")
        assert after_balance == balance - 25 * USDC
        assert after_seq == seq + 1

        # The code is spent: even with another valid transaction it is refused.
        other: dict[str, Any] = {**params, "signed_tx": signed_tx(owner, "yusuf", 25 * USDC)}
        assert error_of(rest.get("private/withdraw", **other, tfa=code)) == (
            12999,
            "totp_reused",
        )
        assert engine_state(exchange, "yusuf") == (after_seq, after_balance)

        listed = rest.get("private/get_withdrawals", currency="USDC")["result"]
        assert listed["count"] == 1
        assert listed["data"][0]["transaction_id"] == done["transaction_id"]
        assert listed["data"][0]["state"] == "unconfirmed"

    # The journal carries the owner-signed chain transaction with the debit.
    follower = FileFollower(exchange.engine.home / "journal.optexj")
    entries = [e for batch in iter(follower.poll, []) for e in batch]
    command: Command = decode(entries[after_seq - 1].payload, Command)  # type: ignore[arg-type]
    assert isinstance(command, Withdraw)
    assert command.chain_tx == base64.b64decode(tx)
    assert command.withdrawal_id == done["transaction_id"]


def test_a_signed_tx_that_does_not_match_is_refused_without_spending_the_code(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    owner = exchange.owners["zoe"]
    allow_address(exchange.home, "zoe", ADDRESS)
    with Rest(exchange.url, keys["zoe"]) as rest:
        totp = enroll(rest)
        before = engine_state(exchange, "zoe")
        code = totp.next()
        base: dict[str, Any] = {"currency": "USDC", "amount": "5", "address": ADDRESS, "tfa": code}
        mismatches = [
            signed_tx(owner, "zoe", 6 * USDC),  # another amount
            signed_tx(owner, "zoe", 5 * USDC, "0xbad00000000"),  # another address
            signed_tx(owner, "wanda", 5 * USDC),  # another account
            signed_tx(owner, "zoe", 5 * USDC, chain_id="optex-mainnet"),
            signed_tx(exchange.owners["wanda"], "zoe", 5 * USDC),  # not the owner's key
            "bm90IGEgdHg=",  # base64, not a transaction
            "%%%",
        ]
        for bad in mismatches:
            answer = rest.get("private/withdraw", **base, signed_tx=bad)
            assert error_of(answer) == (-32602, "withdrawal_invalid"), bad
        usdt = rest.get(
            "private/withdraw",
            **{**base, "currency": "BTC"},
            signed_tx=signed_tx(owner, "zoe", 5 * USDC),
        )
        assert error_of(usdt)[0] == -32602
        assert engine_state(exchange, "zoe") == before
        # None of those spent the code.
        good = rest.get("private/withdraw", **base, signed_tx=signed_tx(owner, "zoe", 5 * USDC))
        assert good["result"]["state"] == "unconfirmed", good


def test_a_withdrawal_beyond_the_balance_is_refused_by_the_engine(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    owner = exchange.owners["romeo"]
    allow_address(exchange.home, "romeo", ADDRESS)
    with Rest(exchange.url, keys["romeo"]) as rest:
        totp = enroll(rest)
        _, balance = engine_state(exchange, "romeo")
        too_much = balance + USDC
        answer = rest.get(
            "private/withdraw",
            currency="USDC",
            amount=str(too_much // USDC),
            address=ADDRESS,
            signed_tx=signed_tx(owner, "romeo", too_much),
            tfa=totp.next(),
        )
        assert error_of(answer)[0] == 10009, answer
        assert engine_state(exchange, "romeo")[1] == balance
        assert rest.get("private/get_withdrawals")["result"]["count"] == 0
    # What the engine refused does not count towards the daily limit.
    assert GuardStore(exchange.home).load("romeo").history.get("USDC", ()) == ()


def test_lockout_and_used_codes_survive_a_gateway_restart(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    owner = exchange.owners["quinn"]
    allow_address(exchange.home, "quinn", ADDRESS)
    with Rest(exchange.url, keys["quinn"]) as rest:
        totp = enroll(rest)
        code = totp.next()
        first = rest.get(
            "private/withdraw",
            currency="USDC",
            amount="1",
            address=ADDRESS,
            signed_tx=signed_tx(owner, "quinn", USDC),
            tfa=code,
        )
        assert first["result"]["state"] == "unconfirmed", first
    exchange.gateway.stop()
    host, port = exchange_gateway(exchange, exchange.engine_address, ())
    exchange.url = f"http://{host}:{port}"
    params: dict[str, Any] = {"currency": "USDC", "amount": "1", "address": ADDRESS}
    with Rest(exchange.url, keys["quinn"]) as rest:
        again = rest.get(
            "private/withdraw", **params, signed_tx=signed_tx(owner, "quinn", USDC), tfa=code
        )
        assert error_of(again) == (12999, "totp_reused")
        for _ in range(5):
            wrong = rest.get(
                "private/withdraw", **params, signed_tx=signed_tx(owner, "quinn", USDC), tfa="x1"
            )
            assert error_of(wrong)[1] == "totp_invalid"
    exchange.gateway.stop()
    host, port = exchange_gateway(exchange, exchange.engine_address, ())
    exchange.url = f"http://{host}:{port}"
    with Rest(exchange.url, keys["quinn"]) as rest:
        # The lockout is checked before the code: the authenticator's current code is refused.
        current = totp.totp.now()
        locked = rest.get(
            "private/withdraw", **params, signed_tx=signed_tx(owner, "quinn", USDC), tfa=current
        )
        assert error_of(locked) == (12998, "totp_locked")
        assert rest.get("private/get_withdrawals")["result"]["count"] == 1


def withdraw_params(exchange: Exchange, account: str, amount: int, **more: Any) -> dict[str, Any]:
    """``private/withdraw``'s parameters for ``amount`` base units to ADDRESS, freshly signed."""
    return {
        "currency": "USDC",
        "amount": str(amount / USDC),
        "address": ADDRESS,
        "signed_tx": signed_tx(exchange.owners[account], account, amount),
        **more,
    }


def test_the_address_book_needs_totp_and_a_new_address_waits_its_delay(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    book: dict[str, Any] = {"currency": "USDC", "type": "withdrawal", "address": ADDRESS}
    with Rest(exchange.url, keys["tara"]) as rest:
        assert error_of(rest.get("private/add_to_address_book", **book, tfa="123456")) == (
            13668,
            "totp_not_enrolled",
        )
        totp = enroll(rest)
        assert error_of(rest.get("private/add_to_address_book", **book))[1] == "totp_required"
        assert error_of(rest.get("private/add_to_address_book", **book, tfa=totp.wrong()))[0] == (
            12000
        )
        for bad in (
            {**book, "currency": "BTC"},
            {**book, "type": "transfer"},
            {**book, "address": "0xfeed\u200bcafe".encode().decode("unicode_escape")},
            {**book, "label": "\u0430dmin".encode().decode("unicode_escape")},
        ):
            assert error_of(rest.get("private/add_to_address_book", **bad, tfa="123456"))[0] == (
                -32602
            ), bad
        assert (
            rest.get("private/get_address_book", currency="USDC", type="withdrawal")["result"] == []
        )

        # Not on the list: refused before the code is looked at, so the code stays unused.
        seq, balance = engine_state(exchange, "tara")
        code = totp.next()
        refused = rest.get("private/withdraw", **withdraw_params(exchange, "tara", USDC, tfa=code))
        assert error_of(refused) == (13021, "address_not_allowed")
        assert engine_state(exchange, "tara") == (seq, balance)

        # The next code, taken now: waiting for it after adding would outlast the delay.
        later = totp.next()
        added = rest.get("private/add_to_address_book", **book, label="cold wallet", tfa=code)
        entry = added["result"]
        assert (entry["address"], entry["label"], entry["status"]) == (
            ADDRESS,
            "cold wallet",
            "waiting",
        )
        assert entry["waiting_timestamp"] - entry["creation_timestamp"] == DELAY_MS

        # Still in its delay: refused, nothing journaled, the code not spent.
        code = later
        pending = rest.get("private/withdraw", **withdraw_params(exchange, "tara", USDC, tfa=code))
        assert error_of(pending) == (13021, "address_pending")
        assert pending["error"]["data"]["active_from_ms"] == entry["waiting_timestamp"]
        assert engine_state(exchange, "tara") == (seq, balance)
        time.sleep(max(0.0, (entry["waiting_timestamp"] - time.time() * 1000) / 1000) + 0.2)
        done = rest.get("private/withdraw", **withdraw_params(exchange, "tara", USDC, tfa=code))
        assert done["result"]["state"] == "unconfirmed", done
        assert engine_state(exchange, "tara")[1] == balance - USDC
        (listed,) = rest.get("private/get_address_book", currency="USDC", type="withdrawal")[
            "result"
        ]
        assert listed["status"] == "confirmed"

        # Removing an address it does not know costs no code; removing needs one.
        unknown = rest.get(
            "private/remove_from_address_book",
            **{**book, "address": "0xabcdef0123"},
            tfa=totp.wrong(),
        )
        assert error_of(unknown) == (13021, "address_not_allowed")
        assert error_of(rest.get("private/remove_from_address_book", **book))[1] == "totp_required"

    # The book outlives a gateway restart.
    exchange.gateway.stop()
    host, port = exchange_gateway(exchange, exchange.engine_address, ())
    exchange.url = f"http://{host}:{port}"
    with Rest(exchange.url, keys["tara"]) as rest:
        kept = rest.get("private/get_address_book", currency="USDC", type="withdrawal")["result"]
        assert [e["address"] for e in kept] == [ADDRESS]
        removed = rest.get("private/remove_from_address_book", **book, tfa=totp.next())
        assert removed["result"] == "ok", removed
        assert (
            rest.get("private/get_address_book", currency="USDC", type="withdrawal")["result"] == []
        )
        gone = rest.get("private/withdraw", **withdraw_params(exchange, "tara", USDC, tfa="1"))
        assert error_of(gone) == (13021, "address_not_allowed")


def test_a_withdrawal_over_the_daily_limit_is_refused_and_changes_nothing(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    asyncio.run(exchange.submit(Deposit(int(time.time() * 1000), "sage", 2 * DAILY_LIMIT)))
    allow_address(exchange.home, "sage", ADDRESS)
    with Rest(exchange.url, keys["sage"]) as rest:
        totp = enroll(rest)
        first = rest.get(
            "private/withdraw",
            **withdraw_params(exchange, "sage", DAILY_LIMIT - 500_000 * USDC, tfa=totp.next()),
        )
        assert first["result"]["state"] == "unconfirmed", first
        seq, balance = engine_state(exchange, "sage")
        code = totp.next()
        over = rest.get(
            "private/withdraw", **withdraw_params(exchange, "sage", 500_000 * USDC + 1, tfa=code)
        )
        assert error_of(over) == (13021, "daily_limit_exceeded")
        assert over["error"]["data"]["remaining"] == 500_000 * USDC
        assert engine_state(exchange, "sage") == (seq, balance)
        # The code was not spent, and exactly the rest of the limit still goes through.
        last = rest.get(
            "private/withdraw", **withdraw_params(exchange, "sage", 500_000 * USDC, tfa=code)
        )
        assert last["result"]["state"] == "unconfirmed", last
        assert engine_state(exchange, "sage")[1] == balance - 500_000 * USDC


def test_totp_is_disabled_only_with_a_current_code_and_can_be_enrolled_again(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    with Rest(exchange.url, keys["uma"]) as rest:
        assert error_of(rest.get("private/optex_disable_totp", code="123456")) == (
            13668,
            "totp_not_enrolled",
        )
        totp = enroll(rest)
        assert error_of(rest.get("private/optex_disable_totp", code=totp.wrong())) == (
            12000,
            "totp_invalid",
        )
        assert error_of(rest.get("private/optex_disable_totp"))[0] == -32602
        assert error_of(rest.get("private/optex_enable_totp"))[1] == "totp_already_enrolled"
        code = totp.next()
        assert rest.get("private/optex_disable_totp", code=code)["result"] == {"enabled": False}
        # Replayed: there is nothing left to disable, and withdrawals need TOTP again.
        assert error_of(rest.get("private/optex_disable_totp", code=code))[1] == (
            "totp_not_enrolled"
        )
        allow_address(exchange.home, "uma", ADDRESS)
        refused = rest.get("private/withdraw", **withdraw_params(exchange, "uma", USDC, tfa=code))
        assert error_of(refused)[1] == "totp_not_enrolled"
        again = Codes(rest.get("private/optex_enable_totp")["result"]["secret"])
        assert again.totp.secret != totp.totp.secret
        assert rest.get("private/optex_confirm_totp", code=again.next())["result"]["confirmed"]
    assert "uma" in (exchange.home / "totp.json").read_text()


def test_disabling_totp_counts_wrong_codes_towards_the_same_lockout(
    wallet: tuple[Exchange, dict[str, Credentials]],
) -> None:
    exchange, keys = wallet
    with Rest(exchange.url, keys["vic"]) as rest:
        totp = enroll(rest)
        for _ in range(5):
            assert error_of(rest.get("private/optex_disable_totp", code=totp.wrong()))[0] == 12000
        locked = rest.get("private/optex_disable_totp", code=totp.totp.now())
        assert error_of(locked) == (12998, "totp_locked")
        # Still enrolled: enrolment cannot be restarted around the lockout.
        assert error_of(rest.get("private/optex_enable_totp"))[1] == "totp_already_enrolled"


def test_the_gateway_debits_under_the_key_the_settlement_watcher_uses() -> None:
    from optex.gateway._withdraw import withdrawal_key

    assert withdrawal_key("ab" * 32) == withdraw_key("ab" * 32)


# End to end through optex devnet -----------------------------------------------------------


def _devnet(home: Path) -> subprocess.Popen[str]:
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
            "--expiries",
            "1",
            "--strikes",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_running(process: subprocess.Popen[str], timeout_s: float) -> None:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "running" in line:
            return
    raise AssertionError("the devnet did not start:\n" + "".join(seen))


def _chain(home: Path, account: str) -> tuple[int, str, int]:
    """The account's chain USDC, the state root and the height (validator 0's store)."""
    ledger = Ledger.open(home / "chain" / "node0")
    try:
        record = ledger.account(account)
        header = ledger.last_header
        assert record is not None and header is not None
        return record.balances.get("USDC", 0), header.state_root.hex(), ledger.height
    finally:
        ledger.store.close()  # type: ignore[attr-defined]


def _engine_balance(http: httpx.Client, auth: dict[str, str]) -> float:
    summary = http.get(
        "/private/get_account_summary", params={"currency": "USDC"}, headers=auth
    ).json()
    return float(summary["result"]["balance"])


def _withdraw(http: httpx.Client, auth: dict[str, str], tx: SignedTx, code: str) -> Any:
    body = tx.body
    assert isinstance(body, ChainWithdraw)
    return http.get(
        "/private/withdraw",
        params={
            "currency": body.asset,
            "amount": str(body.amount / USDC),
            "address": body.address,
            "signed_tx": base64.b64encode(encode(tx)).decode(),
            "tfa": code,
        },
        headers=auth,
    ).json()


def _chain_txs(home: Path, after: int) -> list[str]:
    """Hashes of every transaction decided after height ``after``."""
    ledger = Ledger.open(home / "chain" / "node0")
    try:
        return [
            tx_hash(tx).hex()
            for height in range(after + 1, ledger.height + 1)
            for tx in ledger.load_block(height)[0].txs
        ]
    finally:
        ledger.store.close()  # type: ignore[attr-defined]


DEVNET_DELAY_MS = 60_000
"""How long the devnet's gateway makes a new withdrawal address wait."""


def _devnet_withdrawal(owner: PrivateKey, amount: int) -> SignedTx:
    return sign_tx(
        owner,
        ChainWithdraw(
            chain_id="optex-devnet",
            nonce=time.time_ns() // 1000,
            account="user2",
            asset="USDC",
            amount=amount,
            address=ADDRESS,
        ),
    )


def test_withdraw_with_totp_end_to_end_through_the_devnet(tmp_path: Path) -> None:
    home = tmp_path / "devnet"
    process = _devnet(home)
    try:
        _wait_running(process, timeout_s=150)
        password = (home / "chain" / "devnet-password.txt").read_text().strip()
        owner = decrypt_key(
            decode_keystore((home / "chain" / "keys" / "user2.json").read_bytes()), password
        )
        # The operator gives user2 a key with the wallet scope (the devnet's keys trade only).
        made = provision_account(
            home / "gateway", "user2", owner, WALLET_SCOPES, password=password, name="wallet"
        )
        # The devnet's gateway makes a new address wait a minute, not a day (docs/devnet.md).
        config = json.loads((home / "gateway" / "gateway.json").read_text())
        assert config["withdrawals"]["address_delay_ms"] == DEVNET_DELAY_MS
        port = json.loads((home / "gateway" / "gateway-address.json").read_text())["port"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=10) as http:
            login = http.get(
                "/public/auth",
                params={
                    "grant_type": "client_credentials",
                    "client_id": made.client_id,
                    "client_secret": made.client_secret,
                },
            ).json()
            assert "result" in login, login
            auth = {"Authorization": f"Bearer {login['result']['access_token']}"}
            secret = http.get("/private/optex_enable_totp", headers=auth).json()["result"]
            codes = Codes(secret["secret"])
            confirmed = http.get(
                "/private/optex_confirm_totp", params={"code": codes.next()}, headers=auth
            ).json()
            assert confirmed["result"]["confirmed"], confirmed

            # The address book through the public API: a TOTP code, then the delay.
            book = {"currency": "USDC", "type": "withdrawal", "address": ADDRESS}
            added = http.get(
                "/private/add_to_address_book", params={**book, "tfa": codes.next()}, headers=auth
            ).json()
            assert added["result"]["status"] == "waiting", added
            active_ms = added["result"]["waiting_timestamp"]
            assert active_ms - added["result"]["creation_timestamp"] == DEVNET_DELAY_MS
            early = _withdraw(http, auth, _devnet_withdrawal(owner, USDC), codes.next())
            assert early["error"]["data"]["reason"] == "address_pending", early
            time.sleep(max(0.0, active_ms / 1000 - time.time()) + 0.2)

            chain_before, root_before, start_height = _chain(home, "user2")
            engine_before = _engine_balance(http, auth)
            assert round(engine_before * USDC) == chain_before

            amount = 1_000 * USDC
            paid = sign_tx(
                owner,
                ChainWithdraw(
                    chain_id="optex-devnet",
                    nonce=time.time_ns() // 1000,
                    account="user2",
                    asset="USDC",
                    amount=amount,
                    address=ADDRESS,
                ),
            )
            done = _withdraw(http, auth, paid, codes.next())
            assert done["result"]["state"] == "unconfirmed", done
            assert done["result"]["transaction_id"] == tx_hash(paid).hex()
            assert round(_engine_balance(http, auth) * USDC) == chain_before - amount

            # Beyond the balance: the engine refuses it and nothing reaches the chain.
            too_much = sign_tx(
                owner,
                ChainWithdraw(
                    chain_id="optex-devnet",
                    nonce=time.time_ns() // 1000,
                    account="user2",
                    asset="USDC",
                    amount=chain_before,
                    address=ADDRESS,
                ),
            )
            refused = _withdraw(http, auth, too_much, codes.next())
            assert refused["error"]["code"] == 10009, refused

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                chain_now, root_now, height = _chain(home, "user2")
                if chain_now != chain_before:
                    break
                time.sleep(0.5)
            assert chain_now == chain_before - amount
            assert root_now != root_before
            # A few blocks later nothing more moved: paid once, debited once, refund none.
            while _chain(home, "user2")[2] < height + 3:
                time.sleep(0.3)
            assert _chain(home, "user2")[0] == chain_before - amount
            assert round(_engine_balance(http, auth) * USDC) == chain_before - amount
            decided = _chain_txs(home, start_height)
            assert decided.count(tx_hash(paid).hex()) == 1
            assert tx_hash(too_much).hex() not in decided
            listed = http.get(
                "/private/get_withdrawals", params={"currency": "USDC"}, headers=auth
            ).json()["result"]
            assert [w["transaction_id"] for w in listed["data"]] == [tx_hash(paid).hex()]
            # The devnet's gateway proves the paid balance from validator 0's state.
            proof = http.get("/public/optex_get_proof", params={"account": "user2"}).json()
            proven = verify_account_proof(decode_proof(base64.b64decode(proof["result"]["proof"])))
            assert proven.record.balances["USDC"] == chain_before - amount
        status = json.loads((home / "settle" / "status.json").read_text())
        # The refused one is remembered (so a later direct payout would be debited), not paid.
        assert status["withdrawals"] == {
            tx_hash(paid).hex(): "done",
            tx_hash(too_much).hex(): "refused",
        }
    finally:
        process.terminate()
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()

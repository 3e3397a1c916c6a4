"""Sessions survive a gateway restart, with the real gateway process: SIGKILLed or stopped, it
comes back on the same home and the clients' tokens still work, reuse detection and logouts
included; a corrupt token file stops it at start with an error naming the file."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from optex.gateway._sessions import TOKENS_FILE, TOKENS_LOG
from tests.gateway.kit import Exchange, Rest, Ws, start_exchange

pytestmark = pytest.mark.integration

ACCOUNTS = ("tess", "uri", "vic")


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    running = start_exchange(tmp_path_factory.mktemp("sessions"), ACCOUNTS)
    try:
        yield running
    finally:
        running.stop()


def restart(exchange: Exchange, *, kill: bool = True) -> None:
    """SIGKILL (or stop) the gateway and start it again on the same home."""
    process = exchange.gateway.process
    assert process is not None and process.poll() is None
    if kill:
        process.kill()
        process.wait(timeout=20)
    else:
        # uvicorn shuts down gracefully, then raises the SIGTERM it caught again.
        assert exchange.gateway.stop() in (0, -15)
    host, port = exchange.gateway.start()
    exchange.url = f"http://{host}:{port}"
    exchange.ws_url = f"ws://{host}:{port}/ws/api/v2"


def login(exchange: Exchange, account: str) -> dict[str, Any]:
    credentials = exchange.credentials[account]
    with Rest(exchange.url) as client:
        answer = client.get(
            "public/auth",
            grant_type="client_credentials",
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
        )
    assert "result" in answer, answer
    return dict(answer["result"])


def refresh(exchange: Exchange, token: str) -> dict[str, Any]:
    """``public/auth`` with a refresh token: the decoded answer (result or error)."""
    with Rest(exchange.url) as client:
        return dict(client.get("public/auth", grant_type="refresh_token", refresh_token=token))


def account_of(exchange: Exchange, access_token: str) -> Any:
    """The account a bearer token acts for, or the error envelope."""
    with Rest(exchange.url) as client:
        answer = client.get(
            "private/get_account_summaries", {"Authorization": f"bearer {access_token}"}
        )
    return answer["result"]["username"] if "result" in answer else answer["error"]


def test_a_client_stays_signed_in_across_a_sigkill_and_can_refresh(exchange: Exchange) -> None:
    first = login(exchange, "tess")
    assert account_of(exchange, first["access_token"]) == "tess"
    restart(exchange)
    # The access token still works until it expires, and the refresh token rotates as usual.
    assert account_of(exchange, first["access_token"]) == "tess"
    second = refresh(exchange, first["refresh_token"])["result"]
    assert account_of(exchange, second["access_token"]) == "tess"
    assert account_of(exchange, first["access_token"]) == "tess"
    restart(exchange, kill=False)
    assert account_of(exchange, second["access_token"]) == "tess"
    third = refresh(exchange, second["refresh_token"])["result"]
    assert account_of(exchange, third["access_token"]) == "tess"


def test_a_refresh_token_retired_before_a_sigkill_kills_its_family_when_replayed(
    exchange: Exchange,
) -> None:
    first = login(exchange, "uri")
    second = refresh(exchange, first["refresh_token"])["result"]
    restart(exchange)
    replayed = refresh(exchange, first["refresh_token"])
    assert replayed["error"]["code"] == 13009
    assert replayed["error"]["data"]["reason"] == "token_revoked"
    # The whole family is dead: the owner's current tokens too...
    for token in (second["access_token"], first["access_token"]):
        assert account_of(exchange, token)["code"] == 13009
    assert refresh(exchange, second["refresh_token"])["error"]["code"] == 13009
    # ...and it stays dead through the next crash, while a new login works.
    restart(exchange)
    assert account_of(exchange, second["access_token"])["code"] == 13009
    assert account_of(exchange, login(exchange, "uri")["access_token"]) == "uri"


def test_a_refresh_token_retired_after_a_restart_is_caught_after_the_next_one(
    exchange: Exchange,
) -> None:
    first = login(exchange, "vic")
    restart(exchange)
    second = refresh(exchange, first["refresh_token"])["result"]
    restart(exchange)
    assert refresh(exchange, first["refresh_token"])["error"]["data"]["reason"] == ("token_revoked")
    assert account_of(exchange, second["access_token"])["code"] == 13009


async def test_a_logout_survives_a_sigkill(exchange: Exchange) -> None:
    kept = login(exchange, "tess")
    ws = Ws(await websockets.connect(exchange.ws_url))
    try:
        tokens = await ws.login(exchange.credentials["tess"])
        assert (await ws.call("private/logout"))["result"] == "ok"
    finally:
        await ws.close()
    restart(exchange)  # at once: nothing after the logout could have saved it instead
    assert account_of(exchange, tokens["access_token"])["code"] == 13009
    answer = refresh(exchange, tokens["refresh_token"])
    assert answer["error"]["data"]["reason"] == "token_revoked"
    # Logging one session out leaves the account's other sessions alone.
    assert account_of(exchange, kept["access_token"]) == "tess"


def test_the_token_files_are_private_and_hold_no_token(exchange: Exchange) -> None:
    tokens = login(exchange, "uri")
    for name in (TOKENS_FILE, TOKENS_LOG):
        path = exchange.home / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert tokens["access_token"] not in text and tokens["refresh_token"] not in text


def test_a_corrupt_token_file_stops_the_gateway_at_start(exchange: Exchange) -> None:
    path = exchange.home / TOKENS_FILE
    good = path.read_bytes()
    document = json.loads(good)
    document["state"]["families"][0]["revoked"] = False  # unrevoke, or at least alter
    document["mac"] = "00" * 32
    process = exchange.gateway.process
    assert process is not None
    process.kill()
    process.wait(timeout=20)
    log = exchange.home / "gateway.log"
    for damage in (b"{not json", json.dumps(document).encode()):
        path.write_bytes(damage)
        mark = log.stat().st_size
        with pytest.raises(RuntimeError, match="gateway exited"):
            exchange.gateway.start()
        said = log.read_bytes()[mark:].decode()
        assert f"{path}:" in said and "Refusing to start" in said, said
        assert path.read_bytes() == damage  # refused, not overwritten
    # Moved away, the gateway starts with no sessions; put back, every session returns.
    path.write_bytes(good)
    restart_after_refusal(exchange)
    assert account_of(exchange, login(exchange, "vic")["access_token"]) == "vic"


def restart_after_refusal(exchange: Exchange) -> None:
    host, port = exchange.gateway.start()
    exchange.url = f"http://{host}:{port}"
    exchange.ws_url = f"ws://{host}:{port}/ws/api/v2"

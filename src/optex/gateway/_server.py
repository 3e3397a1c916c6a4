"""The gateway process: unlock the home, connect to the engine, serve HTTP(S) and WS(S).

uvicorn serves the ASGI app; with a certificate and key it speaks TLS (HTTPS and WSS). The
listening socket is bound here (port 0 picks a free one) and the address is written to
``HOME/gateway-address.json`` once the gateway is ready, as ``optex engine`` does with its
``engine.json``. SIGTERM and SIGINT stop it cleanly (uvicorn's handlers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
import uvicorn

from optex.core import InvalidInput
from optex.gateway._app import create_app
from optex.gateway._gateway import Gateway
from optex.gateway._handlers import METHODS
from optex.gateway._home import load_config, resolve_password, unlock
from optex.gateway._reasons import GatewayReason

ADDRESS_FILE: Final = "gateway-address.json"


@dataclass(frozen=True)
class ServeOptions:
    """How to run one gateway process."""

    home: Path
    engine: str | None = None
    """``HOST:PORT`` of the engine service, or an engine home directory (its ``engine.json``)."""
    listen: str | None = None
    cert: Path | None = None
    key: Path | None = None
    password: str | None = None
    password_file: Path | None = None
    node: str | None = None
    """A validator node's RPC, ``http://HOST:PORT``, for chain proofs (overrides ``node_rpc``)."""


def split_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as a pair."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise InvalidInput(GatewayReason.INVALID_HOME, f"{text!r} is not HOST:PORT")
    return host, int(port)


def engine_address(value: str) -> tuple[str, int]:
    """The engine's address from ``HOST:PORT`` or an engine home directory."""
    path = Path(value)
    if path.is_dir():
        try:
            record = json.loads((path / "engine.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            raise InvalidInput(
                GatewayReason.ENGINE_UNAVAILABLE, f"{path} has no engine.json: is it running?"
            ) from None
        return str(record["host"]), int(record["port"])
    return split_address(value)


def node_url(value: str) -> str:
    """A node RPC address as ``http://HOST:PORT`` (``HOST:PORT`` alone is taken as http)."""
    text = value if "://" in value else f"http://{value}"
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or "/" in rest.rstrip("/"):
        raise InvalidInput(GatewayReason.INVALID_HOME, f"{value!r} is not http://HOST:PORT")
    split_address(rest.rstrip("/"))
    return f"{scheme}://{rest.rstrip('/')}"


def build(options: ServeOptions) -> Gateway:
    """A gateway for ``options.home``: configuration read and the trading key unlocked."""
    config = load_config(options.home)
    engine = options.engine or config.engine
    if engine is None:
        raise InvalidInput(GatewayReason.INVALID_HOME, "no engine address: pass --engine")
    if options.node is not None:
        config = msgspec.structs.replace(config, node_rpc=node_url(options.node))
    key = unlock(options.home, resolve_password(options.password, options.password_file))
    return Gateway(options.home, config, key, engine_address(engine), METHODS)


async def serve(options: ServeOptions) -> int:
    """Run the gateway until SIGTERM or SIGINT; the exit code."""
    gateway = build(options)
    host, port = split_address(options.listen or gateway.config.listen)
    if (options.cert is None) != (options.key is None):
        raise InvalidInput(GatewayReason.INVALID_HOME, "TLS needs both --cert and --key")
    limits = gateway.config.limits
    config = uvicorn.Config(
        create_app(gateway),
        log_level="warning",
        access_log=False,
        server_header=False,
        ws_max_size=limits.max_request_bytes * 4,
        # No permessage-deflate: JSON-RPC messages are small, and compressing each one cost
        # more CPU than the rest of a reply (measured); Deribit clients do not need it.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ssl_certfile=None if options.cert is None else str(options.cert),
        ssl_keyfile=None if options.key is None else str(options.key),
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP, and with Nagle on every small response waits 40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.setblocking(False)
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    target = options.home / ADDRESS_FILE
    if server.started:
        bound = listener.getsockname()
        record = {
            "host": bound[0],
            "port": bound[1],
            "pid": os.getpid(),
            "tls": options.cert is not None,
        }
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, target)
    try:
        await serving
    finally:
        target.unlink(missing_ok=True)
    return 0 if server.started else 1


def run(options: ServeOptions) -> int:
    """Run the gateway in a new event loop (``optex gateway``)."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(serve(options))

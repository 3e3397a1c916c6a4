"""A second gateway on the same engine: HTTPS and WSS with a self-signed certificate, and a
tight rate limit that answers Deribit's too_many_requests."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from optex.crypto import PrivateKey
from optex.gateway import GatewayConfig, Limits, init_home, provision_account
from tests.gateway.kit import PASSWORD, Exchange, GatewayProcess

pytestmark = pytest.mark.integration


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_gateway(
    exchange: Exchange, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, object]]:
    root = tmp_path_factory.mktemp("tls")
    home = root / "gateway"
    limits = Limits(rate_max_credits=2_000, rate_refill_per_second=1)
    init_home(home, password=PASSWORD, config=GatewayConfig(limits=limits), scrypt_n=2**14)
    credentials = provision_account(home, "zoe", PrivateKey.generate(), password=PASSWORD)
    cert, key = self_signed(root)
    host, port = exchange.engine_address
    process = GatewayProcess(
        home,
        "--engine",
        f"{host}:{port}",
        "--listen",
        "127.0.0.1:0",
        "--cert",
        str(cert),
        "--key",
        str(key),
    )
    gateway_host, gateway_port = process.start()
    try:
        yield f"{gateway_host}:{gateway_port}", cert, credentials
    finally:
        process.stop()


def test_https_and_wss_serve_with_the_given_certificate(
    tls_gateway: tuple[str, Path, object],
) -> None:
    address, cert, credentials = tls_gateway
    context = ssl.create_default_context(cafile=str(cert))
    reply = httpx.get(f"https://{address}/api/v2/public/get_time", verify=context).json()
    assert reply["result"] > 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{address}/api/v2/public/get_time")

    async def over_wss() -> dict[str, object]:
        async with websockets.connect(f"wss://{address}/ws/api/v2", ssl=context) as socket:
            await socket.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "public/auth",
                        "params": {
                            "grant_type": "client_credentials",
                            "client_id": credentials.client_id,  # type: ignore[attr-defined]
                            "client_secret": credentials.client_secret,  # type: ignore[attr-defined]
                        },
                    }
                )
            )
            return json.loads(await socket.recv())

    import asyncio

    answer = asyncio.run(over_wss())
    assert answer["id"] == 1 and "access_token" in answer["result"]  # type: ignore[operator]


def test_the_rate_limit_answers_too_many_requests(tls_gateway: tuple[str, Path, object]) -> None:
    address, cert, _ = tls_gateway
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=f"https://{address}", verify=context) as client:
        replies = [client.get("/api/v2/public/get_time") for _ in range(8)]
    refused = [r for r in replies if r.status_code == 429]
    assert refused, [r.json() for r in replies]
    error = refused[0].json()["error"]
    assert (error["code"], error["message"]) == (10028, "too_many_requests")
    assert error["data"]["retry_after_ms"] > 0

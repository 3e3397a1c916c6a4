"""The method table: it drives parameter checks, the OpenAPI description and the docs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from optex.core import InvalidInput
from optex.gateway import METHODS, GatewayConfig, openapi, parse_params

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def test_every_method_is_documented() -> None:
    text = DOCS.read_text()
    assert [name for name in METHODS if f"`{name}`" not in text] == []


def test_query_string_text_is_converted_by_the_table() -> None:
    args = parse_params(
        METHODS["private/buy"],
        {"instrument_name": "BTC-PERPETUAL", "amount": "0.5", "post_only": "true", "x": "y"},
        text=True,
    )
    assert args == {"instrument_name": "BTC-PERPETUAL", "amount": Decimal("0.5"), "post_only": True}


@pytest.mark.parametrize(
    "params",
    [
        {"instrument_name": 5},
        {"instrument_name": "BTC-PERPETUAL", "amount": True},
        {"instrument_name": "BTC-PERPETUAL", "amount": [1]},
        {"instrument_name": "BTC-PERPETUAL", "post_only": "true"},  # JSON booleans over JSON
        {"instrument_name": "BTC-PERPETUAL", "type": "LIMIT"},
        {"amount": "1"},
        {f"p{n}": 1 for n in range(65)},
    ],
)
def test_json_values_of_the_wrong_type_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_params(METHODS["private/buy"], params, text=False)
    assert refused.value.reason == "invalid_params"


def test_the_openapi_document_covers_every_http_method() -> None:
    spec = openapi(METHODS, GatewayConfig())
    http = {name for name, method in METHODS.items() if not method.websocket_only}
    assert {path.removeprefix("/api/v2/") for path in spec["paths"]} == http
    assert set(spec["x-websocket-methods"]) == set(METHODS) - http


def test_the_cli_module_registers_gateway_with_its_options() -> None:
    import argparse

    from optex.cli._gateway import register

    parser = argparse.ArgumentParser(prog="optex")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "gateway",
            "--home",
            "gw",
            "--engine",
            "127.0.0.1:7000",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ]
    )
    assert (args.command, args.home, args.engine, args.cert, args.key) == (
        "gateway",
        Path("gw"),
        "127.0.0.1:7000",
        Path("c.pem"),
        Path("k.pem"),
    )
    assert callable(args.handler)

"""The method table's vocabulary: a method, its parameters, and how parameters are checked.

One table (``_handlers.METHODS``) drives dispatch, the checks here, the documentation and the
OpenAPI description, so the three cannot disagree. Parameters arrive as JSON values over
WebSocket and HTTP POST, or as text in the query string of an HTTP GET (ccxt sends every call
that way: ``amount=1&post_only=true``); :func:`parse_params` accepts both and gives the handler
typed values: ``Decimal`` for numbers (never a float), ``int``, ``bool``, ``str`` or a list of
strings. Unknown parameters are ignored, as Deribit does, but every value is bounded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from optex.core import InvalidInput
from optex.crypto import Access, Area
from optex.gateway._convert import decimal_of
from optex.gateway._reasons import GatewayReason

if TYPE_CHECKING:
    from optex.gateway._gateway import Call

Kind = Literal["string", "number", "integer", "boolean", "array"]
Handler = Callable[["Call"], Awaitable[Any]]
MAX_PARAMS: Final = 64
MAX_ARRAY: Final = 256
MAX_INTEGER: Final = 2**63 - 1
_TRUE: Final = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON type, whether it is required, its choices and length bound."""

    name: str
    kind: Kind = "string"
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()
    max_length: int = 128


@dataclass(frozen=True)
class Method:
    """One JSON-RPC method: ``public/...`` or ``private/...``."""

    name: str
    summary: str
    handler: Handler
    params: tuple[Param, ...] = ()
    scope: tuple[Area, Access] | None = None
    """What a private method's session must hold (``None``: authentication only)."""
    websocket_only: bool = False
    result: str = "object"
    tags: tuple[str, ...] = field(default=())

    @property
    def private(self) -> bool:
        """Whether the method needs an authenticated session."""
        return self.name.startswith("private/")


def _bad(name: str, what: str) -> InvalidInput:
    return InvalidInput(GatewayReason.INVALID_PARAMS, f"{name} must be {what}", param=name)


def _value(param: Param, raw: Any, text: bool) -> Any:
    name = param.name
    if param.kind == "string":
        if not isinstance(raw, str) or len(raw) > param.max_length:
            raise _bad(name, f"text of at most {param.max_length} characters")
        if not raw.isascii() or not raw.isprintable():
            raise _bad(name, "printable ASCII text")
        if param.choices and raw not in param.choices:
            raise _bad(name, f"one of {', '.join(param.choices)}")
        return raw
    if param.kind == "number":
        number: Decimal = decimal_of(raw, name)
        return number
    if param.kind == "integer":
        if isinstance(raw, str) and text and raw.isdigit() and len(raw) <= 19:
            raw = int(raw)
        if type(raw) is not int or not 0 <= raw <= MAX_INTEGER:
            raise _bad(name, "a whole number from 0 to 2^63-1")
        return raw
    if param.kind == "boolean":
        if isinstance(raw, str) and text and raw in _TRUE:
            return _TRUE[raw]
        if not isinstance(raw, bool):
            raise _bad(name, "true or false")
        return raw
    if not isinstance(raw, list) or len(raw) > MAX_ARRAY:
        raise _bad(name, f"a list of at most {MAX_ARRAY} items")
    for item in raw:
        if not isinstance(item, str) or len(item) > param.max_length or not item.isascii():
            raise _bad(name, f"a list of ASCII texts of at most {param.max_length} characters")
    return list(raw)


def parse_params(method: Method, raw: Mapping[str, Any], *, text: bool) -> dict[str, Any]:
    """Check and convert ``raw`` against ``method``'s parameters; ``text`` for query strings."""
    if len(raw) > MAX_PARAMS:
        raise InvalidInput(GatewayReason.INVALID_PARAMS, f"at most {MAX_PARAMS} parameters")
    args: dict[str, Any] = {}
    for param in method.params:
        value = raw.get(param.name)
        if value is None:
            if param.required:
                raise InvalidInput(
                    GatewayReason.INVALID_PARAMS, f"{param.name} is required", param=param.name
                )
            continue
        args[param.name] = _value(param, value, text)
    return args

"""Security reason codes (4000-4999) and their Deribit equivalents.

Every rejection in :mod:`optex.crypto` carries one of these codes. The gateway answers
Deribit-compatible clients (ccxt) in Deribit's shape, so each code also maps to the Deribit
error code that makes such a client raise the right exception (``10028`` becomes ccxt's
``DDoSProtection``, ``13009`` and ``13004`` its ``AuthenticationError``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from optex.core import ReasonCode, register_reasons


class SecurityReason(ReasonCode):
    """Reason codes of ``optex.crypto`` (4000-4999)."""

    INVALID_SIGNATURE = 4000, "the signature does not match the message and key"
    INVALID_KEY = 4001, "the key is not a valid Ed25519 key"
    WRONG_KEY = 4002, "the message was signed by a key that may not sign it"
    KEY_EXPIRED = 4003, "the key has expired"
    KEY_REVOKED = 4004, "the key has been revoked"
    WRONG_CHAIN = 4005, "the message was signed for another chain"
    PAYLOAD_TOO_LARGE = 4006, "the message is larger than allowed"
    MALFORMED_MESSAGE = 4007, "the message is not well formed"

    ORDER_REPLAYED = 4010, "this signed order or its nonce has already been used"
    ORDER_EXPIRED = 4011, "the signed order has expired"
    ORDER_EXPIRY_TOO_FAR = 4012, "the signed order's expiry is further ahead than allowed"
    INVALID_ORDER = 4013, "the signed order is not valid"
    REPLAY_CACHE_FULL = 4014, "too many live signed orders; retry after some expire"

    KEYSTORE_WRONG_PASSWORD = 4020, "the password is wrong or the keystore file was altered"
    KEYSTORE_MALFORMED = 4021, "the keystore file is not well formed"
    KEYSTORE_UNSUPPORTED = 4022, "the keystore uses parameters optex does not accept"
    KEY_EXISTS = 4023, "a key with this label already exists"
    KEY_NOT_FOUND = 4024, "no key with this label"
    WEAK_PASSWORD = 4025, "the password is too short"

    TOTP_INVALID = 4030, "the two-factor code is not correct"
    TOTP_REUSED = 4031, "the two-factor code has already been used"
    TOTP_LOCKED = 4032, "too many wrong two-factor codes; try again later"
    TOTP_REQUIRED = 4033, "a two-factor code is required for this action"
    TOTP_NOT_ENROLLED = 4034, "two-factor authentication is not set up for this account"
    TOTP_ALREADY_ENROLLED = 4035, "two-factor authentication is already set up"

    INVALID_CREDENTIALS = 4040, "the client id or secret is not valid"
    STALE_TIMESTAMP = 4041, "the request timestamp is outside the allowed window"
    NONCE_REPLAYED = 4042, "the request nonce has already been used"
    MALFORMED_AUTH = 4043, "the authorization data is not well formed"
    TOKEN_INVALID = 4044, "the access or refresh token is not valid"
    TOKEN_EXPIRED = 4045, "the token has expired"
    TOKEN_REVOKED = 4046, "the token has been revoked"
    API_KEY_EXPIRED = 4047, "the API key has expired"
    API_KEY_DISABLED = 4048, "the API key is disabled or revoked"
    IP_NOT_ALLOWED = 4049, "requests from this IP address are not allowed for this key"
    SCOPE_MISSING = 4050, "the key or token does not have the scope this needs"
    SCOPE_EXCEEDED = 4051, "a key cannot be given more scope than its creator has"
    INVALID_SCOPE = 4052, "the scope is not valid"
    API_KEY_LIMIT = 4053, "the account has too many API keys"

    DELEGATION_NOT_FOUND = 4060, "the trading key is not authorized for this account"
    DELEGATION_SCOPE = 4061, "the trading key is not authorized for this action"
    UNKNOWN_ACCOUNT = 4062, "the account has no registered owner key"

    ADDRESS_NOT_ALLOWED = 4070, "the withdrawal address is not on the account's allowlist"
    ADDRESS_PENDING = 4071, "the withdrawal address is not active yet"
    DAILY_LIMIT_EXCEEDED = 4072, "the withdrawal would exceed the daily limit"
    INVALID_ADDRESS = 4073, "the address is not valid"
    INVALID_AMOUNT = 4074, "the amount must be a positive integer in base units"

    TOO_MANY_REQUESTS = 4080, "too many requests; slow down"

    AUDIT_BROKEN = 4090, "the audit log has been altered"
    AUDIT_MALFORMED = 4091, "an audit record is not well formed"
    AUDIT_TRUNCATED = 4092, "the audit log ends before its anchored head"

    INVALID_LABEL = 4095, "the label is not valid"
    CONFUSABLE_LABEL = 4096, "the label contains look-alike or invisible characters"


register_reasons(SecurityReason, range(4000, 5000))

_R = SecurityReason
_INVALID_PARAMS: Final = -32602
_TOO_MANY_REQUESTS: Final = 10028
_BAD_TFA: Final = 12000
_LOGIN_OVER_LIMIT: Final = 12003
_TFA_OVER_LIMIT: Final = 12998
_TFA_USED: Final = 12999
_INVALID_CREDENTIALS: Final = 13004
_UNAUTHORIZED: Final = 13009
_FORBIDDEN: Final = 13021
_SCOPE_EXCEEDED: Final = 13403
_SECURITY_KEY_AUTHORIZATION_ERROR: Final = 13668

#: The Deribit ``error.code`` for each security reason (Deribit API v2, see docs/security.md).
DERIBIT_ERROR_CODES: Final = MappingProxyType(
    {
        _R.INVALID_SIGNATURE: _UNAUTHORIZED,
        _R.INVALID_KEY: _INVALID_PARAMS,
        _R.WRONG_KEY: _UNAUTHORIZED,
        _R.KEY_EXPIRED: _UNAUTHORIZED,
        _R.KEY_REVOKED: _UNAUTHORIZED,
        _R.WRONG_CHAIN: _UNAUTHORIZED,
        _R.PAYLOAD_TOO_LARGE: _INVALID_PARAMS,
        _R.MALFORMED_MESSAGE: _INVALID_PARAMS,
        _R.ORDER_REPLAYED: _UNAUTHORIZED,
        _R.ORDER_EXPIRED: _UNAUTHORIZED,
        _R.ORDER_EXPIRY_TOO_FAR: _INVALID_PARAMS,
        _R.INVALID_ORDER: _INVALID_PARAMS,
        _R.REPLAY_CACHE_FULL: _TOO_MANY_REQUESTS,
        _R.KEYSTORE_WRONG_PASSWORD: _INVALID_CREDENTIALS,
        _R.KEYSTORE_MALFORMED: _INVALID_PARAMS,
        _R.KEYSTORE_UNSUPPORTED: _INVALID_PARAMS,
        _R.KEY_EXISTS: _INVALID_PARAMS,
        _R.KEY_NOT_FOUND: _INVALID_PARAMS,
        _R.WEAK_PASSWORD: _INVALID_PARAMS,
        _R.TOTP_INVALID: _BAD_TFA,
        _R.TOTP_REUSED: _TFA_USED,
        _R.TOTP_LOCKED: _TFA_OVER_LIMIT,
        _R.TOTP_REQUIRED: _SECURITY_KEY_AUTHORIZATION_ERROR,
        _R.TOTP_NOT_ENROLLED: _SECURITY_KEY_AUTHORIZATION_ERROR,
        _R.TOTP_ALREADY_ENROLLED: _INVALID_PARAMS,
        _R.INVALID_CREDENTIALS: _INVALID_CREDENTIALS,
        _R.STALE_TIMESTAMP: _UNAUTHORIZED,
        _R.NONCE_REPLAYED: _UNAUTHORIZED,
        _R.MALFORMED_AUTH: _UNAUTHORIZED,
        _R.TOKEN_INVALID: _UNAUTHORIZED,
        _R.TOKEN_EXPIRED: _UNAUTHORIZED,
        _R.TOKEN_REVOKED: _UNAUTHORIZED,
        _R.API_KEY_EXPIRED: _UNAUTHORIZED,
        _R.API_KEY_DISABLED: _UNAUTHORIZED,
        _R.IP_NOT_ALLOWED: _FORBIDDEN,
        _R.SCOPE_MISSING: _FORBIDDEN,
        _R.SCOPE_EXCEEDED: _SCOPE_EXCEEDED,
        _R.INVALID_SCOPE: _INVALID_PARAMS,
        _R.API_KEY_LIMIT: _FORBIDDEN,
        _R.DELEGATION_NOT_FOUND: _UNAUTHORIZED,
        _R.DELEGATION_SCOPE: _FORBIDDEN,
        _R.UNKNOWN_ACCOUNT: _UNAUTHORIZED,
        _R.ADDRESS_NOT_ALLOWED: _FORBIDDEN,
        _R.ADDRESS_PENDING: _FORBIDDEN,
        _R.DAILY_LIMIT_EXCEEDED: _FORBIDDEN,
        _R.INVALID_ADDRESS: _INVALID_PARAMS,
        _R.INVALID_AMOUNT: _INVALID_PARAMS,
        _R.TOO_MANY_REQUESTS: _TOO_MANY_REQUESTS,
        _R.AUDIT_BROKEN: _INVALID_PARAMS,
        _R.AUDIT_MALFORMED: _INVALID_PARAMS,
        _R.AUDIT_TRUNCATED: _INVALID_PARAMS,
        _R.INVALID_LABEL: _INVALID_PARAMS,
        _R.CONFUSABLE_LABEL: _INVALID_PARAMS,
    }
)

#: Deribit's snake_case ``error.message`` for the codes used above.
DERIBIT_ERROR_MESSAGES: Final = MappingProxyType(
    {
        _INVALID_PARAMS: "Invalid params",
        _TOO_MANY_REQUESTS: "too_many_requests",
        _BAD_TFA: "bad_tfa",
        _LOGIN_OVER_LIMIT: "login_over_limit",
        _TFA_OVER_LIMIT: "tfa_over_limit",
        _TFA_USED: "tfa_used",
        _INVALID_CREDENTIALS: "invalid_credentials",
        _UNAUTHORIZED: "unauthorized",
        _FORBIDDEN: "forbidden",
        _SCOPE_EXCEEDED: "scope_exceeded",
        _SECURITY_KEY_AUTHORIZATION_ERROR: "security_key_authorization_error",
    }
)


def deribit_error(reason: SecurityReason) -> tuple[int, str]:
    """The Deribit ``(error.code, error.message)`` pair that stands for ``reason``."""
    code = DERIBIT_ERROR_CODES[reason]
    return code, DERIBIT_ERROR_MESSAGES[code]

"""optex.crypto: the keys, signatures and security rules that the gateway and the ledger enforce.

Ed25519 keys with domain-separated signatures over optex's canonical encoding; signed orders
with replay protection; encrypted keystores (Web3 Secret Storage v3 and an AES-256-GCM
variant); TOTP second factor; Deribit-compatible API keys, request signatures and tokens;
delegated trading keys; withdrawal protection; credit-based rate limits; a hash-chained audit
log. All pure logic: time, randomness and files are the caller's. Primitives come from
``cryptography``, ``pyotp`` and ``pycryptodome`` (Keccak-256, and scrypt where OpenSSL refuses
the parameters of old keystores); nothing here implements a cipher or a curve.
See docs/security.md for the threat model.
"""

from optex.core import (
    OrderType,
    Side,
    TimeInForce,
)
from optex.crypto._apikeys import ApiKey, ApiKeyKind, ApiKeyStore, MasterKey
from optex.crypto._audit import (
    AUDIT_DOMAIN,
    AuditAnchor,
    AuditEvent,
    AuditLog,
    AuditRecord,
    AuditReport,
    decode_audit_line,
    encode_audit_line,
    verify_audit,
)
from optex.crypto._auth import Authenticator
from optex.crypto._delegation import (
    DELEGATE_DOMAIN,
    REVOKE_DOMAIN,
    Delegations,
    KeyAuthority,
    SignedAuthorization,
    TradingKeyAuthorization,
    TradingKeyRevocation,
    TradingScope,
    sign_authorization,
    verify_authorization,
)
from optex.crypto._keys import KeyRole, PrivateKey, PublicKey, Secret, sign, verify
from optex.crypto._keystore import (
    Keystore,
    KeystoreFormat,
    change_password,
    decode_keystore,
    decrypt_key,
    decrypt_keystore,
    encode_keystore,
    encrypt_key,
    keccak256,
)
from optex.crypto._orders import (
    ORDER_DOMAIN,
    OrderIntent,
    SignedOrder,
    check_replacement,
    decode_signed_order,
    encode_signed_order,
    order_hash,
    replacement,
    sign_order,
    verify_order,
)
from optex.crypto._ratelimit import RateLimit, RateLimiter
from optex.crypto._reasons import (
    DERIBIT_ERROR_CODES,
    DERIBIT_ERROR_MESSAGES,
    SecurityReason,
    deribit_error,
)
from optex.crypto._replay import NonceRecord, ReplayGuard, accept_order
from optex.crypto._requests import (
    BasicCredentials,
    BearerCredentials,
    HmacCredentials,
    NonceCache,
    client_signature_string,
    hmac_signature,
    http_string_to_sign,
    parse_authorization,
)
from optex.crypto._scopes import Access, Area, Scopes, parse_scope, scopes_from_text
from optex.crypto._text import check_amount, key_name, normalize_address, normalize_label
from optex.crypto._token_state import (
    FamilyRecord,
    FamilyRevoked,
    LoginRecord,
    TokenChange,
    TokenKind,
    TokenRecord,
    TokensIssued,
    TokenState,
)
from optex.crypto._tokens import AuthResult, Session, TokenStore
from optex.crypto._totp import (
    TotpAlgorithm,
    TotpEnrolment,
    TotpGuard,
    TotpState,
    hotp,
    provisioning_uri,
    qr_svg,
    qr_text,
    totp,
)
from optex.crypto._withdrawals import AllowedAddress, WithdrawalGuard, WithdrawalState

__all__ = [
    "AUDIT_DOMAIN",
    "Access",
    "AllowedAddress",
    "ApiKey",
    "ApiKeyKind",
    "ApiKeyStore",
    "Area",
    "AuditAnchor",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "AuditReport",
    "AuthResult",
    "Authenticator",
    "BasicCredentials",
    "BearerCredentials",
    "DELEGATE_DOMAIN",
    "DERIBIT_ERROR_CODES",
    "DERIBIT_ERROR_MESSAGES",
    "Delegations",
    "FamilyRecord",
    "FamilyRevoked",
    "HmacCredentials",
    "KeyAuthority",
    "KeyRole",
    "Keystore",
    "KeystoreFormat",
    "LoginRecord",
    "MasterKey",
    "NonceCache",
    "NonceRecord",
    "ORDER_DOMAIN",
    "OrderIntent",
    "OrderType",
    "PrivateKey",
    "PublicKey",
    "REVOKE_DOMAIN",
    "RateLimit",
    "RateLimiter",
    "ReplayGuard",
    "Scopes",
    "Secret",
    "SecurityReason",
    "Session",
    "Side",
    "SignedAuthorization",
    "SignedOrder",
    "TimeInForce",
    "TokenChange",
    "TokenKind",
    "TokenRecord",
    "TokenState",
    "TokenStore",
    "TokensIssued",
    "TotpAlgorithm",
    "TotpEnrolment",
    "TotpGuard",
    "TotpState",
    "TradingKeyAuthorization",
    "TradingKeyRevocation",
    "TradingScope",
    "WithdrawalGuard",
    "WithdrawalState",
    "accept_order",
    "change_password",
    "check_amount",
    "check_replacement",
    "client_signature_string",
    "decode_audit_line",
    "decode_keystore",
    "decode_signed_order",
    "decrypt_key",
    "decrypt_keystore",
    "deribit_error",
    "encode_audit_line",
    "encode_keystore",
    "encode_signed_order",
    "encrypt_key",
    "hmac_signature",
    "hotp",
    "http_string_to_sign",
    "keccak256",
    "key_name",
    "normalize_address",
    "normalize_label",
    "order_hash",
    "parse_authorization",
    "parse_scope",
    "provisioning_uri",
    "qr_svg",
    "qr_text",
    "replacement",
    "scopes_from_text",
    "sign",
    "sign_authorization",
    "sign_order",
    "totp",
    "verify",
    "verify_audit",
    "verify_authorization",
    "verify_order",
]

"""The gateway's home directory: configuration, its trading key, API keys and delegations.

```
HOME/gateway.json       GatewayConfig: chain id, engine address, listen address, limits
HOME/gateway-key.json   the gateway's trading key, an encrypted keystore (optex-gcm/1)
HOME/api-keys.json      API keys (optex.crypto.ApiKey records; secrets sealed, never plain)
HOME/delegations.json   owners' keys and their signed authorizations of the gateway key,
                        the file ``optex engine --delegations`` reads
HOME/tokens.json, .log  the sessions (token digests, never tokens): a snapshot and the changes
                        since, so a restart signs no one out (``_sessions``)
```

One password unlocks the keystore (``OPTEX_GATEWAY_PASSWORD`` or a password file). The key
that seals API-key secrets (:class:`optex.crypto.MasterKey`) is derived from the gateway key
with HKDF, so a copy of the home without the password reveals no secret and no key.

:func:`provision_account` is how an account gets API access: it creates an API key for the
account and writes the owner-signed authorization of the gateway's trading key, so that every
order the gateway places for that key is signed by a key the owner delegated.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Generic, TypeVar

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from optex.core import Conflict, InvalidInput, NotFound
from optex.crypto import (
    Access,
    ApiKey,
    ApiKeyStore,
    KeyRole,
    MasterKey,
    PrivateKey,
    PublicKey,
    Scopes,
    Secret,
    TradingKeyAuthorization,
    TradingScope,
    decode_keystore,
    decrypt_key,
    encode_keystore,
    encrypt_key,
    scopes_from_text,
    sign_authorization,
)
from optex.exchange import (
    DelegationRecord,
    DelegationsFile,
    load_delegations_file,
    save_delegations_file,
)
from optex.gateway._reasons import GatewayReason
from optex.journal import write_atomic

CONFIG_FILE: Final = "gateway.json"
KEYSTORE_FILE: Final = "gateway-key.json"
API_KEYS_FILE: Final = "api-keys.json"
DELEGATIONS_FILE: Final = "delegations.json"
PASSWORD_ENV: Final = "OPTEX_GATEWAY_PASSWORD"  # noqa: S105 - a variable name
DEFAULT_SCOPES: Final = "account:read trade:read_write"
DELEGATION_TTL_MS: Final = 365 * 24 * 3600 * 1000
_MASTER_INFO: Final = b"optex.gateway/api-key-secrets/v1"
# Provisioning is the operator acting for the owner, so it may grant any scope.
_OPERATOR_SCOPES: Final = Scopes(Access.READ_WRITE, Access.READ_WRITE, Access.READ_WRITE)


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one client may use (each refusal is a Deribit-shaped error, never a crash)."""

    max_request_bytes: int = 64 * 1024
    max_connections_per_ip: int = 64
    max_subscriptions: int = 200
    rate_max_credits: int = 50_000
    rate_refill_per_second: int = 10_000
    order_signature_ttl_ms: int = 24 * 3_600_000 - 300_000
    """How long a gateway-signed order's signature is valid, and so the longest a
    good-til-cancelled order rests: the engine expires a signed order when its signature does,
    because the chain refuses fills after that. Just under the chain's 24 h maximum lifetime,
    so that a gateway clock a few minutes ahead of the engine's is still accepted."""
    max_send_queue: int = 10_000
    """Messages queued to a WebSocket client before it is dropped as too slow."""
    min_heartbeat_s: int = 10
    """The shortest heartbeat interval a client may ask for (Deribit's is 10 s)."""


def _default_daily_limits() -> dict[str, int]:
    return {"USDC": 10_000_000 * 10**6}


class WithdrawalPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The withdrawal rules the gateway enforces (``optex.crypto.WithdrawalGuard``) before a
    TOTP code is spent or the engine sees a withdrawal."""

    address_delay_ms: int = 24 * 3600 * 1000
    """How long a new address-book entry waits before withdrawals to it are allowed: the time
    an owner has to notice (and remove) an address someone else added."""
    daily_limits: dict[str, int] = msgspec.field(default_factory=_default_daily_limits)
    """Per asset, the most an account may withdraw in any 24 hours, in base units (an asset
    without a limit cannot be withdrawn). Default: 10,000,000 USDC."""


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``gateway.json``: what the gateway talks to and how."""

    chain_id: str = "optex-devnet"
    engine: str | None = None
    """The engine service, ``HOST:PORT`` (``--engine`` overrides it)."""
    listen: str = "127.0.0.1:8000"
    limits: Limits = Limits()
    node_rpc: str | None = None
    """A validator node's RPC address (``http://HOST:PORT``) for chain proofs."""
    testnet: bool = True
    settle_status: str | None = None
    """The settlement process's ``status.json``: ``private/get_withdrawals`` reads each
    withdrawal's chain outcome from it (without it every withdrawal shows ``unconfirmed``)."""
    withdrawals: WithdrawalPolicy = WithdrawalPolicy()


class Credentials(msgspec.Struct, frozen=True):
    """An API key's client id and secret (shown once) for an account."""

    account: str
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"Credentials(account={self.account!r}, client_id={self.client_id!r}, <secret>)"


def _write_atomic(path: Path, data: bytes) -> None:
    # Everything in a gateway home is for the gateway's eyes only.
    write_atomic(path, data, mode=0o600)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One writer of the home's files at a time (provisioning from several processes)."""
    with open(home / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


R = TypeVar("R")


class AccountRecords(Generic[R]):
    """A JSON file in the gateway home holding one record per account (TOTP secrets, withdrawal
    guards): read whole, and replaced atomically under the home's lock so that two writers
    never lose each other's accounts."""

    def __init__(self, path: Path, record: type[R]) -> None:
        self.path = path
        self._decoder = msgspec.json.Decoder(dict[str, record])  # type: ignore[valid-type]

    def all(self) -> dict[str, R]:
        """Every account's record (none when the file does not exist yet)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            records: dict[str, R] = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            # Refuse rather than start afresh: a write would drop every other account's record.
            raise InvalidInput(GatewayReason.INVALID_HOME, f"{self.path}: {exc}") from None
        return records

    def get(self, account: str) -> R | None:
        """``account``'s record, if it has one."""
        return self.all().get(account)

    def put(self, account: str, record: R | None) -> None:
        """Replace ``account``'s record (``None`` deletes it), atomically."""
        with _locked(self.path.parent):
            records = self.all()
            if record is None:
                records.pop(account, None)
            else:
                records[account] = record
            _write_atomic(self.path, msgspec.json.encode(records))


def resolve_password(password: str | None = None, password_file: Path | None = None) -> str:
    """The keystore password: given, from a file, or from ``OPTEX_GATEWAY_PASSWORD``."""
    if password is not None:
        return password
    if password_file is not None:
        return password_file.read_text().rstrip("\r\n")
    value = os.environ.get(PASSWORD_ENV)
    if value is None:
        raise InvalidInput(
            GatewayReason.INVALID_HOME,
            f"no gateway password: set {PASSWORD_ENV} or pass a password file",
        )
    return value


def load_config(home: Path) -> GatewayConfig:
    """Read ``gateway.json`` (strictly: an unknown field is an error, not a silent default)."""
    try:
        return msgspec.json.decode((home / CONFIG_FILE).read_bytes(), type=GatewayConfig)
    except FileNotFoundError:
        raise NotFound(
            GatewayReason.INVALID_HOME, f"{home / CONFIG_FILE} is missing: run init first"
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(GatewayReason.INVALID_HOME, f"{home / CONFIG_FILE}: {exc}") from None


def init_home(
    home: Path,
    *,
    password: str | None = None,
    config: GatewayConfig | None = None,
    scrypt_n: int = 2**17,
) -> PublicKey:
    """Create a gateway home (config, a new encrypted trading key, empty key and delegation
    files) unless it exists; the gateway's trading public key."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(home):
        if not (home / CONFIG_FILE).exists():
            chosen = config or GatewayConfig()
            _write_atomic(home / CONFIG_FILE, msgspec.json.format(msgspec.json.encode(chosen)))
        settings = load_config(home)
        if not (home / KEYSTORE_FILE).exists():
            key = PrivateKey.generate()
            keystore = encrypt_key(
                key,
                resolve_password(password),
                label="gateway trading key",
                role=KeyRole.TRADING,
                scrypt_n=scrypt_n,
            )
            _write_atomic(home / KEYSTORE_FILE, encode_keystore(keystore))
        if not (home / API_KEYS_FILE).exists():
            _write_atomic(home / API_KEYS_FILE, b"[]")
        if not (home / DELEGATIONS_FILE).exists():
            save_delegations_file(home / DELEGATIONS_FILE, DelegationsFile(settings.chain_id))
    return gateway_public_key(home)


def gateway_public_key(home: Path) -> PublicKey:
    """The gateway trading key's public key (from the keystore's metadata; checked against
    the private key when the gateway unlocks it)."""
    keystore = decode_keystore((home / KEYSTORE_FILE).read_bytes())
    if keystore.optex is None:
        raise InvalidInput(GatewayReason.INVALID_HOME, "the gateway keystore has no public key")
    return PublicKey.from_hex(keystore.optex.public_key)


def unlock(home: Path, password: str) -> PrivateKey:
    """The gateway's trading key, decrypted."""
    key = decrypt_key(decode_keystore((home / KEYSTORE_FILE).read_bytes()), password)
    if key.public_key != gateway_public_key(home):
        raise InvalidInput(GatewayReason.INVALID_HOME, "the keystore's public key does not match")
    return key


def master_key(gateway_key: PrivateKey) -> MasterKey:
    """The key that seals API-key secrets, derived from the gateway key (HKDF-SHA256)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MASTER_INFO).derive(
        gateway_key.seed().reveal()
    )
    return MasterKey(Secret(derived))


def load_api_keys(home: Path) -> list[ApiKey]:
    """The saved API-key records (secrets sealed)."""
    try:
        return msgspec.json.decode((home / API_KEYS_FILE).read_bytes(), type=list[ApiKey])
    except FileNotFoundError:
        return []
    except msgspec.DecodeError as exc:
        raise InvalidInput(GatewayReason.INVALID_HOME, f"{home / API_KEYS_FILE}: {exc}") from None


def save_api_keys(home: Path, keys: list[ApiKey]) -> None:
    """Write the API-key records atomically."""
    _write_atomic(home / API_KEYS_FILE, msgspec.json.format(msgspec.json.encode(keys)))


def provision_account(
    home: Path,
    account: str,
    owner_key: PrivateKey,
    scopes: str = DEFAULT_SCOPES,
    *,
    password: str | None = None,
    name: str = "api",
    now_ms: int | None = None,
    delegation_ttl_ms: int = DELEGATION_TTL_MS,
) -> Credentials:
    """Give ``account`` API access through this gateway: a new API key with ``scopes``
    (Deribit's spelling), and the owner's signed authorization of the gateway trading key
    (scopes trade and cancel) in the delegations file the engine reads.

    The first call for an account records ``owner_key`` as its owner; a later call with
    another owner key is refused (``owner_mismatch``). The authorization is written only when
    the account has no unexpired one for this gateway key. A running gateway and engine pick
    the new files up without a restart.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    init_home(home, password=password)
    secret_password = resolve_password(password)
    gateway_key = unlock(home, secret_password)
    settings = load_config(home)
    requested = scopes_from_text(scopes)
    with _locked(home):
        delegations = load_delegations_file(home / DELEGATIONS_FILE)
        owner = owner_key.public_key.raw
        known = delegations.owners.get(account)
        if known is not None and known != owner:
            raise Conflict(GatewayReason.OWNER_MISMATCH, account=account)
        authorizations = list(delegations.authorizations)
        messages = [r.signed().message for r in authorizations]
        current = [
            m
            for m in messages
            if m.account == account
            and isinstance(m, TradingKeyAuthorization)
            and m.trading_key == gateway_key.public_key.raw
            and m.expiry_ms > now + 24 * 3600 * 1000
        ]
        if not current:
            last_nonce = max((m.nonce for m in messages if m.account == account), default=-1)
            message = TradingKeyAuthorization(
                chain_id=settings.chain_id,
                account=account,
                trading_key=gateway_key.public_key.raw,
                scopes=(TradingScope.CANCEL, TradingScope.TRADE),
                not_before_ms=max(0, now - 60_000),
                expiry_ms=now + delegation_ttl_ms,
                nonce=last_nonce + 1,
            )
            authorizations.append(DelegationRecord.of(sign_authorization(owner_key, message)))
        owners = {**delegations.owners, account: owner}
        store = ApiKeyStore(master_key(gateway_key))
        store.restore(load_api_keys(home))
        key, secret = store.create(
            account, name=name, scopes=requested, creator_scopes=_OPERATOR_SCOPES, now_ms=now
        )
        assert secret is not None  # noqa: S101 - an HMAC key always has a secret
        save_api_keys(home, [*load_api_keys(home), key])
        save_delegations_file(
            home / DELEGATIONS_FILE,
            DelegationsFile(settings.chain_id, owners, authorizations),
        )
    return Credentials(account, key.client_id, secret.reveal().decode("ascii"))

"""Genesis: the chain's parameters and its first state, loadable from JSON or TOML.

Everything the ledger's rules depend on is here, so that two validators with the same genesis
file compute the same states. Keys are written as hexadecimal text so that the file can be read
and edited by hand.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Final

import msgspec

from optex.chain._reasons import ChainReason
from optex.chain._rules import FeeParams, FundingParams
from optex.core import InvalidInput, ListingRules, check_domain

MAX_PPM: Final = 1_000_000
_I64: Final = 2**63 - 1


class AssetSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An asset the chain holds: its symbol and the decimals of its base unit."""

    symbol: str
    decimals: int


class StakingParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Delegated proof of stake."""

    stake_asset: str = "OPX"
    max_validators: int = 100
    epoch_blocks: int = 10
    """The active set and reward payouts change every this many blocks."""
    unbonding_ms: int = 21 * 86_400_000
    power_unit: int = 1_000_000
    """Staked base units per unit of voting power."""
    min_self_stake: int = 1
    double_sign_slash_ppm: int = 50_000
    downtime_slash_ppm: int = 100
    signed_blocks_window: int = 100
    """A validator that misses more than half of a window is slashed a little and jailed."""
    downtime_jail_ms: int = 600_000
    evidence_max_age_blocks: int = 100_000
    max_unbonding_entries: int = 1024


class OracleParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Validator price votes."""

    symbols: tuple[str, ...] = ()
    """What validators vote: index symbols (``BTC``) and perpetual marks (``BTC-PERPETUAL``)."""
    max_age_ms: int = 60_000
    quorum_ppm: int = 500_000
    """A price needs fresh votes from more than this fraction of the active power."""


class TradingParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Trade batches."""

    max_order_lifetime_ms: int = 24 * 3_600_000
    max_fills_per_batch: int = 10_000
    fee_index_band_ppm: int = 50_000
    """How far an option fill's ``fee_index`` may lie from the oracle index (5%); one beyond is
    taken at the band's edge. The fee is capped by the premium whatever the index."""


class GenesisAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An account that exists from the start."""

    account: str
    owner_key: str
    balances: dict[str, int] = msgspec.field(default_factory=dict)


class GenesisValidator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A validator that exists from the start, with its operator account's self-stake."""

    account: str
    consensus_key: str
    stake: int
    commission_ppm: int = 100_000


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The chain's parameters and first state."""

    chain_id: str
    genesis_time_ms: int
    assets: tuple[AssetSpec, ...]
    bridge_key: str
    operator_key: str
    underlyings: dict[str, ListingRules] = msgspec.field(default_factory=dict)
    accounts: tuple[GenesisAccount, ...] = ()
    validators: tuple[GenesisValidator, ...] = ()
    staking: StakingParams = msgspec.field(default_factory=StakingParams)
    oracle: OracleParams = msgspec.field(default_factory=OracleParams)
    fees: FeeParams = msgspec.field(default_factory=FeeParams)
    funding: FundingParams = msgspec.field(default_factory=FundingParams)
    trading: TradingParams = msgspec.field(default_factory=TradingParams)

    def __post_init__(self) -> None:
        check(self)

    def asset(self, symbol: str) -> AssetSpec | None:
        """The asset with this symbol, if the chain lists it."""
        for spec in self.assets:
            if spec.symbol == symbol:
                return spec
        return None


def _fail(message: str) -> InvalidInput:
    return InvalidInput(ChainReason.INVALID_GENESIS, f"genesis: {message}")


def hex_key(text: str, what: str) -> bytes:
    """32 bytes from 64 hex digits, or a clear genesis error."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise _fail(f"{what} is not hexadecimal") from None
    if len(raw) != 32:
        raise _fail(f"{what} must be 32 bytes (64 hex digits)")
    return raw


def check(genesis: Genesis) -> None:
    """Refuse an inconsistent genesis with a message naming the field."""
    try:
        check_domain("genesis/v1", genesis.chain_id)
    except InvalidInput as exc:
        raise _fail(exc.message) from None
    symbols = [a.symbol for a in genesis.assets]
    if len(set(symbols)) != len(symbols) or not symbols:
        raise _fail("assets must be listed once each, at least one")
    if any(not 0 <= a.decimals <= 18 for a in genesis.assets):
        raise _fail("asset decimals must be between 0 and 18")
    staking = genesis.staking
    if staking.stake_asset not in symbols:
        raise _fail(f"stake asset {staking.stake_asset!r} is not among the assets")
    for name in ("max_validators", "epoch_blocks", "power_unit", "signed_blocks_window"):
        if getattr(staking, name) < 1:
            raise _fail(f"staking.{name} must be at least 1")
    for name in ("double_sign_slash_ppm", "downtime_slash_ppm"):
        if not 0 <= getattr(staking, name) <= MAX_PPM:
            raise _fail(f"staking.{name} must be between 0 and 1000000")
    if not 0 < genesis.oracle.quorum_ppm < MAX_PPM:
        raise _fail("oracle.quorum_ppm must be between 0 and 1000000")
    if genesis.funding.interval_ms < 1:
        raise _fail("funding.interval_ms must be positive")
    if not 0 <= genesis.trading.fee_index_band_ppm <= MAX_PPM:
        raise _fail("trading.fee_index_band_ppm must be between 0 and 1000000")
    for underlying, rules in genesis.underlyings.items():
        if rules.settlement not in symbols:
            raise _fail(f"{underlying} settles in {rules.settlement}, which is not an asset")
    hex_key(genesis.bridge_key, "bridge_key")
    hex_key(genesis.operator_key, "operator_key")
    names = [a.account for a in genesis.accounts]
    if len(set(names)) != len(names):
        raise _fail("an account is listed twice")
    for account in genesis.accounts:
        hex_key(account.owner_key, f"owner_key of {account.account}")
        for symbol, amount in account.balances.items():
            if symbol not in symbols or not 0 <= amount <= _I64:
                raise _fail(f"balance {symbol}={amount} of {account.account} is not valid")
    keys = set()
    for validator in genesis.validators:
        if validator.account not in names:
            raise _fail(f"validator operator {validator.account} is not a genesis account")
        keys.add(hex_key(validator.consensus_key, f"consensus_key of {validator.account}"))
        if not staking.min_self_stake <= validator.stake <= _I64:
            raise _fail(f"stake of {validator.account} is below the minimum self-stake")
        if not 0 <= validator.commission_ppm <= MAX_PPM:
            raise _fail(f"commission of {validator.account} must be within 0..1000000")
    if len(keys) != len(genesis.validators):
        raise _fail("two validators share a consensus key")


def load_genesis(source: str | Path) -> Genesis:
    """A genesis from a ``.json`` or ``.toml`` file path, or from JSON or TOML text."""
    text = source.read_text() if isinstance(source, Path) else source
    is_toml = isinstance(source, Path) and source.suffix == ".toml"
    data: Any
    try:
        if is_toml or not (isinstance(source, Path) or text.lstrip().startswith("{")):
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"cannot parse: {exc}") from None
    try:
        return msgspec.convert(data, Genesis)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc)) from None


def dump_genesis(genesis: Genesis) -> str:
    """The genesis as JSON text, loadable by :func:`load_genesis`."""
    return msgspec.json.format(msgspec.json.encode(genesis).decode(), indent=2)

"""Delegated proof of stake: validators, delegations, unbonding, slashing, jail and rewards.

Stake is held as each validator's ``delegations`` (account to amount, the operator's self-stake
included), so a slash cuts every delegation by the same fraction, rounded down, and the burnt
amount leaves the supply. Unbonding entries still waiting are slashed with their validator.
Every ``epoch_blocks`` blocks the fee pool is paid out to the active set pro rata by power, each
validator's commission to its operator and the rest to its delegators pro rata by stake, all
rounded down (what rounding leaves stays in the pool for the next epoch), and the next active set
becomes the top ``max_validators`` by stake.
"""

from __future__ import annotations

import msgspec

from optex.chain._context import Context, check_amount
from optex.chain._genesis import MAX_PPM
from optex.chain._reasons import ChainReason
from optex.chain._records import (
    FEE_POOL,
    META,
    NEXT_SET,
    UNBONDING,
    VALIDATOR,
    Balances,
    Member,
    Unbonding,
    UnbondingQueue,
    Validator,
    ValidatorSetRecord,
    validator_key,
)
from optex.chain._rules import pro_rata, slash_amount
from optex.chain._tx import Delegate, Evidence, Redelegate, Stake, Undelegate, Unjail
from optex.chain.consensus import Validator as ConsensusValidator
from optex.chain.consensus import ValidatorSet, address_of, verify_evidence
from optex.core import Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound
from optex.crypto import PublicKey


def get_validator(ctx: Context, address: bytes) -> Validator:
    """The validator with this address, or a clear error."""
    record = ctx.view.get(validator_key(address))
    if record is None:
        raise NotFound(ChainReason.NOT_A_VALIDATOR, address=address.hex())
    return record  # type: ignore[no-any-return]


def _put(ctx: Context, address: bytes, validator: Validator) -> None:
    ctx.view.put(validator_key(address), validator)


def _with_delegation(validator: Validator, account: str, delta: int) -> Validator:
    delegations = dict(validator.delegations)
    value = delegations.get(account, 0) + delta
    if value < 0:
        raise InvalidInput(ChainReason.NOT_DELEGATED, f"{account} has only {value - delta} here")
    if value:
        delegations[account] = value
    else:
        delegations.pop(account, None)
    return msgspec.structs.replace(
        validator, delegations=delegations, tokens=validator.tokens + delta
    )


def _mark_set_changed(ctx: Context) -> None:
    meta = ctx.view.get(META)
    if meta is not None and not meta.set_changed:
        ctx.view.put(META, msgspec.structs.replace(meta, set_changed=True))


def stake(ctx: Context, body: Stake) -> None:
    """Create a validator run by the account, or add to its self-stake."""
    amount = check_amount(body.amount)
    PublicKey(body.consensus_key)
    if isinstance(body.commission_ppm, bool) or not 0 <= body.commission_ppm <= MAX_PPM:
        raise InvalidInput(ChainReason.INVALID_COMMISSION)
    address = address_of(body.consensus_key)
    params = ctx.genesis.staking
    existing = ctx.view.get(validator_key(address))
    if existing is None:
        if amount < params.min_self_stake:
            raise InvalidInput(ChainReason.BELOW_MIN_STAKE, minimum=params.min_self_stake)
        existing = Validator(
            operator=body.account,
            consensus_key=body.consensus_key,
            commission_ppm=body.commission_ppm,
            tokens=0,
            delegations={},
            window_start=ctx.height,
        )
        ctx.emit("validator_created", validator=address, operator=body.account)
    elif existing.operator != body.account:
        raise Conflict(ChainReason.VALIDATOR_EXISTS, validator=address.hex())
    elif existing.tombstoned:
        raise Forbidden(ChainReason.VALIDATOR_TOMBSTONED)
    ctx.credit(body.account, params.stake_asset, -amount)
    _put(ctx, address, _with_delegation(existing, body.account, amount))
    ctx.emit("staked", validator=address, account=body.account, amount=amount)


def delegate(ctx: Context, body: Delegate) -> None:
    """Bond stake to a validator."""
    amount = check_amount(body.amount)
    validator = get_validator(ctx, body.validator)
    if validator.tombstoned:
        raise Forbidden(ChainReason.VALIDATOR_TOMBSTONED)
    ctx.credit(body.account, ctx.genesis.staking.stake_asset, -amount)
    _put(ctx, body.validator, _with_delegation(validator, body.account, amount))
    ctx.emit("delegated", validator=body.validator, account=body.account, amount=amount)


def undelegate(ctx: Context, body: Undelegate) -> None:
    """Start unbonding; the stake is paid back after the unbonding period."""
    amount = check_amount(body.amount)
    ctx.account(body.account)
    validator = get_validator(ctx, body.validator)
    if validator.delegations.get(body.account, 0) < amount:
        raise InvalidInput(ChainReason.NOT_DELEGATED, account=body.account)
    queue = ctx.view.get(UNBONDING) or UnbondingQueue()
    if len(queue.entries) >= ctx.genesis.staking.max_unbonding_entries:
        raise LimitExceeded(ChainReason.TOO_MANY_ENTRIES)
    complete = ctx.now_ms + ctx.genesis.staking.unbonding_ms
    entry = Unbonding(body.account, body.validator, amount, complete)
    entries = sorted((*queue.entries, entry), key=lambda e: e.complete_ms)
    ctx.view.put(UNBONDING, UnbondingQueue(tuple(entries)))
    _put(ctx, body.validator, _with_delegation(validator, body.account, -amount))
    ctx.emit("unbonding", validator=body.validator, account=body.account, amount=amount)


def redelegate(ctx: Context, body: Redelegate) -> None:
    """Move stake between validators at once."""
    amount = check_amount(body.amount)
    if body.source == body.destination:
        raise InvalidInput(ChainReason.SAME_VALIDATOR)
    source = get_validator(ctx, body.source)
    destination = get_validator(ctx, body.destination)
    if destination.tombstoned:
        raise Forbidden(ChainReason.VALIDATOR_TOMBSTONED)
    if source.delegations.get(body.account, 0) < amount:
        raise InvalidInput(ChainReason.NOT_DELEGATED, account=body.account)
    _put(ctx, body.source, _with_delegation(source, body.account, -amount))
    _put(ctx, body.destination, _with_delegation(destination, body.account, amount))
    ctx.emit("redelegated", account=body.account, amount=amount)


def unjail(ctx: Context, body: Unjail) -> None:
    """Return a jailed validator to the candidates once its jail time has passed."""
    validator = get_validator(ctx, body.validator)
    if validator.tombstoned:
        raise Forbidden(ChainReason.VALIDATOR_TOMBSTONED)
    if not validator.jailed:
        raise InvalidInput(ChainReason.NOT_JAILED)
    if ctx.now_ms < validator.jailed_until_ms:
        raise Forbidden(ChainReason.STILL_JAILED, jailed_until_ms=validator.jailed_until_ms)
    _put(ctx, body.validator, msgspec.structs.replace(validator, jailed=False))
    _mark_set_changed(ctx)
    ctx.emit("unjailed", validator=body.validator)


def slash(ctx: Context, address: bytes, fraction_ppm: int) -> int:
    """Burn ``fraction_ppm`` of a validator's delegations and pending unbondings."""
    validator = get_validator(ctx, address)
    delegations: dict[str, int] = {}
    burned = 0
    for account, amount in validator.delegations.items():
        cut = slash_amount(amount, fraction_ppm)
        burned += cut
        if amount - cut:
            delegations[account] = amount - cut
    queue = ctx.view.get(UNBONDING) or UnbondingQueue()
    entries = []
    for entry in queue.entries:
        if entry.validator == address:
            cut = slash_amount(entry.amount, fraction_ppm)
            burned += cut
            entries.append(msgspec.structs.replace(entry, amount=entry.amount - cut))
        else:
            entries.append(entry)
    if queue.entries:
        ctx.view.put(UNBONDING, UnbondingQueue(tuple(entries)))
    tokens = sum(delegations.values())
    _put(ctx, address, msgspec.structs.replace(validator, delegations=delegations, tokens=tokens))
    ctx.add_supply(ctx.genesis.staking.stake_asset, -burned)
    ctx.emit("slashed", validator=address, fraction_ppm=fraction_ppm, burned=burned)
    return burned


def jail(ctx: Context, address: bytes, until_ms: int, *, tombstone: bool = False) -> None:
    """Take a validator out of the active set until ``until_ms`` (forever if tombstoned)."""
    validator = get_validator(ctx, address)
    updated = msgspec.structs.replace(
        validator,
        jailed=True,
        jailed_until_ms=max(validator.jailed_until_ms, until_ms),
        tombstoned=validator.tombstoned or tombstone,
        missed=0,
        window_start=ctx.height,
    )
    _put(ctx, address, updated)
    _mark_set_changed(ctx)
    ctx.emit("jailed", validator=address, until_ms=until_ms, tombstoned=tombstone)


def evidence(ctx: Context, body: Evidence) -> None:
    """Slash and tombstone a validator that double signed."""
    vote = body.evidence.vote_a
    validator = get_validator(ctx, vote.validator)
    if validator.tombstoned:
        raise Conflict(ChainReason.VALIDATOR_TOMBSTONED, "the validator was already punished")
    if not 1 <= vote.height <= ctx.height:
        raise InvalidInput(ChainReason.INVALID_EVIDENCE, "the evidence is for a future height")
    if ctx.height - vote.height > ctx.genesis.staking.evidence_max_age_blocks:
        raise InvalidInput(ChainReason.EVIDENCE_TOO_OLD)
    single = ValidatorSet([ConsensusValidator(vote.validator, validator.consensus_key, 1)], [0], 0)
    try:
        verify_evidence(body.evidence, single, ctx.chain_id)
    except InvalidInput as exc:
        raise InvalidInput(ChainReason.INVALID_EVIDENCE, exc.message) from None
    slash(ctx, vote.validator, ctx.genesis.staking.double_sign_slash_ppm)
    jail(ctx, vote.validator, 2**63 - 1, tombstone=True)


def record_signatures(ctx: Context, signing: ValidatorSetRecord, signers: set[bytes]) -> None:
    """Count missed blocks; jail and slash a validator that missed more than half a window."""
    params = ctx.genesis.staking
    window = params.signed_blocks_window
    for member in signing.members:
        validator = ctx.view.get(validator_key(member.address))
        if validator is None or validator.jailed:
            continue
        missed, start = validator.missed, validator.window_start
        if ctx.height - start >= window:
            missed, start = 0, ctx.height
        if member.address not in signers:
            missed += 1
        if (missed, start) != (validator.missed, validator.window_start):
            _put(
                ctx,
                member.address,
                msgspec.structs.replace(validator, missed=missed, window_start=start),
            )
        if 2 * missed > window:
            slash(ctx, member.address, params.downtime_slash_ppm)
            jail(ctx, member.address, ctx.now_ms + params.downtime_jail_ms)


def pay_unbonded(ctx: Context) -> None:
    """Pay the unbonding entries whose time has come."""
    queue = ctx.view.get(UNBONDING)
    if queue is None or not queue.entries or queue.entries[0].complete_ms > ctx.now_ms:
        return
    due = [e for e in queue.entries if e.complete_ms <= ctx.now_ms]
    rest = tuple(e for e in queue.entries if e.complete_ms > ctx.now_ms)
    ctx.view.put(UNBONDING, UnbondingQueue(rest))
    for entry in due:
        if entry.amount:
            ctx.credit(entry.account, ctx.genesis.staking.stake_asset, entry.amount)
        ctx.emit("unbonded", account=entry.account, amount=entry.amount)


def distribute_rewards(ctx: Context, active: ValidatorSetRecord) -> None:
    """Pay the fee pool to the active set, commission first, then delegators pro rata."""
    pool = ctx.view.get(FEE_POOL)
    total_power = active.total_power
    if pool is None or not pool.amounts or total_power == 0:
        return
    remaining = dict(pool.amounts)
    for symbol, total in sorted(pool.amounts.items()):
        for member in active.members:
            validator = ctx.view.get(validator_key(member.address))
            if validator is None or validator.tokens == 0:
                continue
            share = pro_rata(total, member.power, total_power)
            commission = pro_rata(share, validator.commission_ppm, MAX_PPM)
            rest = share - commission
            paid = 0
            if commission:
                ctx.credit(validator.operator, symbol, commission)
                paid += commission
            for account, amount in sorted(validator.delegations.items()):
                reward = pro_rata(rest, amount, validator.tokens)
                if reward:
                    ctx.credit(account, symbol, reward)
                    paid += reward
            remaining[symbol] -= paid
    ctx.view.put(FEE_POOL, Balances({k: v for k, v in remaining.items() if v}))
    ctx.emit("rewards", height=ctx.height)


def elect(ctx: Context) -> ValidatorSetRecord:
    """The top ``max_validators`` candidates by stake (ties to the smaller address)."""
    params = ctx.genesis.staking
    candidates = []
    for key in ctx.view.keys_with_prefix(VALIDATOR):
        validator = ctx.view.get(key)
        power = validator.tokens // params.power_unit
        if validator.jailed or validator.tombstoned or power < 1:
            continue
        address = bytes.fromhex(key[len(VALIDATOR) :])
        candidates.append((-validator.tokens, address, validator.consensus_key, power))
    candidates.sort()
    chosen = candidates[: params.max_validators]
    members = sorted((Member(a, k, p) for _, a, k, p in chosen), key=lambda m: m.address)
    record = ValidatorSetRecord(tuple(members))
    ctx.view.put(NEXT_SET, record)
    return record

"""Light-client proofs: an account's balances and positions, against a committed header.

An :class:`AccountProof` carries a header, the commit that sealed it, the validator set that
signed it and a Merkle proof of the account's record under the header's state root. The verifier
needs nothing else: it checks that the set hashes to the header's ``validators_hash`` (and, if the
caller pins one, to a trusted hash), that precommits from more than two thirds of that set's
stake sign the header's hash (:func:`optex.chain.consensus.verify_commit`), and that the Merkle
proof reaches the header's state root.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from optex.chain._block import Header, block_hash, validators_hash
from optex.chain._codec import decode_record
from optex.chain._ledger import Ledger, consensus_set
from optex.chain._merkle import MerkleProof, verify_proof
from optex.chain._reasons import ChainReason
from optex.chain._records import ACCOUNT, Account, Member, ValidatorSetRecord, account_key
from optex.chain.consensus import (
    Commit,
    Vote,
    VoteType,
    address_of,
    verify_commit,
    vote_signing_bytes,
)
from optex.core import InvalidInput, OptexError, encode
from optex.crypto import PrivateKey


class AccountProof(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a light client needs to trust one account's record at one height."""

    header: Header
    commit: Commit
    validators: tuple[Member, ...]
    proof: MerkleProof


class ProvenAccount(msgspec.Struct, frozen=True):
    """What a verified proof shows."""

    chain_id: str
    height: int
    ts_ms: int
    account: str
    record: Account
    validators_hash: bytes


def prove_account(ledger: Ledger, account: str) -> AccountProof:
    """The proof of ``account`` at the ledger's last height (whose commit must be stored)."""
    header = ledger.last_header
    if header is None:
        raise InvalidInput(ChainReason.NOT_FOUND, "no block has been committed yet")
    commit = ledger.load_commit(header.height)
    proof = ledger.state.prove(account_key(account))
    return AccountProof(header, commit, ledger.signing_set().members, proof)


def verify_account_proof(
    proof: AccountProof, *, trusted_validators_hash: bytes | None = None
) -> ProvenAccount:
    """Check a proof completely; return what it proves, or raise with the reason."""
    header = proof.header
    members = ValidatorSetRecord(tuple(proof.validators))
    found = validators_hash(header.chain_id, members)
    if found != header.validators_hash:
        raise InvalidInput(ChainReason.INVALID_PROOF, "the validators are not the header's")
    if trusted_validators_hash is not None and found != trusted_validators_hash:
        raise InvalidInput(ChainReason.INVALID_PROOF, "the validator set is not the trusted one")
    try:
        verify_commit(
            consensus_set(members), header.chain_id, header.height, block_hash(header), proof.commit
        )
    except OptexError as exc:
        raise InvalidInput(ChainReason.INVALID_COMMIT, exc.message) from None
    key = proof.proof.key
    if not key.startswith(ACCOUNT.encode()):
        raise InvalidInput(ChainReason.INVALID_PROOF, "the proof is not of an account")
    verify_proof(proof.proof, header.state_root)
    try:
        record = decode_record(proof.proof.value, Account)
    except OptexError as exc:
        raise InvalidInput(ChainReason.INVALID_PROOF, exc.message) from None
    return ProvenAccount(
        chain_id=header.chain_id,
        height=header.height,
        ts_ms=header.ts_ms,
        account=key[len(ACCOUNT) :].decode("utf-8", "replace"),
        record=record,
        validators_hash=found,
    )


def sign_commit(header: Header, keys: Sequence[PrivateKey], round: int = 0) -> Commit:
    """A commit of ``header`` precommitted by ``keys`` (validators' consensus keys).

    Consensus makes commits in a running network; this builds one directly for tests, tools and
    single-process devnets.
    """
    digest = block_hash(header)
    message = vote_signing_bytes(header.chain_id, VoteType.PRECOMMIT, header.height, round, digest)
    votes = tuple(
        sorted(
            (
                Vote(
                    type=VoteType.PRECOMMIT,
                    height=header.height,
                    round=round,
                    block_hash=digest,
                    validator=address_of(key.public_key.raw),
                    signature=key.sign_raw(message),
                )
                for key in keys
            ),
            key=lambda v: v.validator,
        )
    )
    return Commit(height=header.height, round=round, block_hash=digest, precommits=votes)


def encode_proof(proof: AccountProof, *, binary: bool = False) -> bytes:
    """A proof as JSON (bytes fields in base64), the file ``optex chain prove`` writes, or
    with ``binary`` as canonical MessagePack."""
    if binary:
        return encode(proof)
    return msgspec.json.format(msgspec.json.encode(proof), indent=2)


def decode_proof(data: bytes) -> AccountProof:
    """A proof from either form of :func:`encode_proof`, or a clear error.

    The binary form must be canonical: bytes that decode to a proof but are not exactly its
    canonical encoding (a renamed tag, say, that the decoder would skip) are refused, so that
    one proof has one byte form.
    """
    try:
        if data.lstrip()[:1] == b"{":
            return msgspec.json.decode(data, type=AccountProof, strict=True)
        proof = msgspec.msgpack.decode(data, type=AccountProof, strict=True)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidInput(ChainReason.INVALID_PROOF, f"not a proof file: {exc}") from None
    if encode(proof) != data:
        raise InvalidInput(ChainReason.INVALID_PROOF, "the proof is not canonically encoded")
    return proof

"""Transactions: what can move money or stake, canonically encoded and signed.

Each body is a tagged msgspec Struct carrying the chain id and its signer's nonce. A transaction
is signed over :func:`optex.core.signing_bytes` with the domain ``tx.<type>/v1``, so a signature
for a transfer can never pass as a withdrawal, nor one for another chain as one for this chain.
The nonce must be above the signer's last one, which makes a replayed transaction fail.
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from optex.chain.consensus import DuplicateVoteEvidence
from optex.core import encode
from optex.crypto import (
    PrivateKey,
    SignedAuthorization,
    SignedOrder,
    TradingKeyAuthorization,
    TradingKeyRevocation,
    sign,
)

TX_DOMAIN_PREFIX: Final = "tx."


class _Body(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    chain_id: str
    nonce: int


class Deposit(_Body, tag="deposit", frozen=True):
    """Credit ``amount`` of ``asset`` to ``account``, attested by the bridge key.

    ``deposit_id`` names the bridge's inbound transfer, so it is credited at most once; a new
    account is opened with ``owner_key``.
    """

    account: str
    owner_key: bytes
    asset: str
    amount: int
    deposit_id: str


class Withdraw(_Body, tag="withdraw", frozen=True):
    """Send ``amount`` of ``asset`` to ``address`` outside the chain (signed by the owner)."""

    account: str
    asset: str
    amount: int
    address: str


class SetWithdrawPolicy(_Body, tag="withdraw_policy", frozen=True):
    """Restrict withdrawals to an allowlist of addresses and delay them by a time lock."""

    account: str
    allowlist: tuple[str, ...]
    delay_ms: int


class Transfer(_Body, tag="transfer", frozen=True):
    """Move ``amount`` of ``asset`` between two accounts (signed by the source's owner)."""

    source: str
    destination: str
    asset: str
    amount: int


class RegisterTradingKey(_Body, tag="register_key", frozen=True):
    """Record the owner's authorization of a trading key (scope trade, with expiry).

    The authorization and its owner signature are carried apart rather than as a
    :class:`optex.crypto.SignedAuthorization`, whose untagged union cannot be decoded by type;
    the ledger reassembles one and checks it with :func:`optex.crypto.verify_authorization`.
    """

    authorization: TradingKeyAuthorization
    owner_signature: bytes

    def signed(self, owner_key: bytes) -> SignedAuthorization:
        """The owner's signed authorization, as ``optex.crypto`` checks it."""
        return SignedAuthorization(
            message=self.authorization, owner_key=owner_key, signature=self.owner_signature
        )


class RevokeTradingKey(_Body, tag="revoke_key", frozen=True):
    """Record the owner's revocation of a trading key."""

    revocation: TradingKeyRevocation
    owner_signature: bytes

    def signed(self, owner_key: bytes) -> SignedAuthorization:
        """The owner's signed revocation, as ``optex.crypto`` checks it."""
        return SignedAuthorization(
            message=self.revocation, owner_key=owner_key, signature=self.owner_signature
        )


class Fill(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One match: both signed orders, the price and the quantity the operator matched.

    ``fee_index`` is the underlying's index price at which the engine charged an option fill's
    fees (0: none given). The ledger charges at it, within ``trading.fee_index_band_ppm`` of its
    own oracle index, so that engine and chain take the same fee: the oracle's price at the
    block is not the engine's at the fill. Left out of the encoding when 0, so a fill without
    it has the bytes (and the transaction the hash and signature) it had before the field
    existed: stored blocks still replay.
    """

    maker: SignedOrder
    taker: SignedOrder
    price: int
    quantity: int
    fee_index: int = 0


class TradeBatch(_Body, tag="trade_batch", frozen=True):
    """Fills matched by the operator, each with both parties' signed orders."""

    fills: tuple[Fill, ...]


class PriceVote(_Body, tag="price_vote", frozen=True):
    """An active validator's prices per oracle symbol (signed by its consensus key)."""

    prices: dict[str, int]


class Stake(_Body, tag="stake", frozen=True):
    """Create a validator run by ``account`` (or add to its self-stake)."""

    account: str
    consensus_key: bytes
    amount: int
    commission_ppm: int


class Delegate(_Body, tag="delegate", frozen=True):
    """Delegate stake to a validator."""

    account: str
    validator: bytes
    amount: int


class Undelegate(_Body, tag="undelegate", frozen=True):
    """Start unbonding stake from a validator; it is paid after the unbonding period."""

    account: str
    validator: bytes
    amount: int


class Redelegate(_Body, tag="redelegate", frozen=True):
    """Move stake from one validator to another at once."""

    account: str
    source: bytes
    destination: bytes
    amount: int


class Unjail(_Body, tag="unjail", frozen=True):
    """Return a jailed validator to the candidates (signed by its operator's owner key)."""

    validator: bytes


class Evidence(_Body, tag="evidence", frozen=True):
    """Proof that a validator signed two different votes for one height and round."""

    evidence: DuplicateVoteEvidence


TxBody = (
    Deposit
    | Withdraw
    | SetWithdrawPolicy
    | Transfer
    | RegisterTradingKey
    | RevokeTradingKey
    | TradeBatch
    | PriceVote
    | Stake
    | Delegate
    | Undelegate
    | Redelegate
    | Unjail
    | Evidence
)


class SignedTx(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A transaction body, the key that signed it and the signature."""

    body: TxBody
    signer: bytes
    signature: bytes


def tx_type(body: TxBody) -> str:
    """The type tag of a body (``"transfer"``)."""
    tag = type(body).__struct_config__.tag
    return str(tag)


def tx_domain(body: TxBody) -> str:
    """The signing domain of a body's type: ``tx.transfer/v1``."""
    return f"{TX_DOMAIN_PREFIX}{tx_type(body)}/v1"


def sign_tx(key: PrivateKey, body: TxBody) -> SignedTx:
    """Sign ``body`` with ``key`` for the chain it names."""
    signature = sign(key, tx_domain(body), body.chain_id, body)
    return SignedTx(body=body, signer=key.public_key.raw, signature=signature)


def tx_hash(tx: SignedTx) -> bytes:
    """SHA-256 of the canonical bytes of a signed transaction."""
    return hashlib.sha256(encode(tx)).digest()

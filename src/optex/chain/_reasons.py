"""Chain reason codes (5000-5999): why the ledger refused a transaction or a block.

Every rejection carries one of these numbers and changes nothing. Codes from ``optex.crypto``
(signatures, keys, orders) and ``optex.core`` (encoding, amounts) pass through unchanged when the
ledger calls those packages, so a forged order is still ``invalid_signature`` (4000).
"""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class ChainReason(ReasonCode):
    """Reason codes of ``optex.chain`` (5000-5999)."""

    MALFORMED_TX = 5000, "the transaction is not well formed"
    WRONG_CHAIN = 5001, "the transaction was signed for another chain"
    BAD_SIGNATURE = 5002, "the transaction signature does not verify"
    WRONG_SIGNER = 5003, "the transaction is signed by a key that may not sign it"
    NONCE_REUSED = 5004, "the nonce is not above the signer's last nonce: a replay"
    UNKNOWN_ACCOUNT = 5005, "the account does not exist"
    INSUFFICIENT_BALANCE = 5006, "the balance is too small"
    UNKNOWN_ASSET = 5007, "the asset is not listed on this chain"
    AMOUNT_NOT_POSITIVE = 5008, "the amount must be a positive integer"
    ACCOUNT_EXISTS = 5009, "the account already exists with another owner key"
    DEPOSIT_REPLAYED = 5010, "this bridge deposit was already credited"
    ADDRESS_NOT_ALLOWED = 5011, "the withdrawal address is not on the account's allowlist"
    SAME_ACCOUNT = 5012, "the two accounts must differ"
    KEY_NOT_REGISTERED = 5013, "the trading key was never registered for this account"

    EMPTY_BATCH = 5020, "the trade batch has no fills"
    INSTRUMENT_MISMATCH = 5021, "the fill's instrument does not match both orders"
    UNKNOWN_INSTRUMENT = 5022, "the instrument is not listed on this chain"
    INSTRUMENT_EXPIRED = 5023, "the instrument has expired"
    SIDE_MISMATCH = 5024, "a fill needs one buy order and one sell order"
    PRICE_OUTSIDE_LIMIT = 5025, "the fill price is outside an order's limit price"
    OVERFILL = 5026, "the fills exceed the order's size"
    OFF_GRID = 5027, "the price or quantity is not on the instrument's tick and lot grid"
    SELF_TRADE = 5028, "an account cannot trade with itself"
    ROLE_NOT_ALLOWED = 5029, "a post-only order cannot take, and only a resting limit order makes"
    ORDER_REPLACED = 5030, "the signed order was replaced by a later revision the chain has seen"
    REPLACEMENT_CONFLICT = 5031, "another signed order already holds this revision of the order"
    REPLACEMENT_MISMATCH = 5032, "a replacement must keep the order's key, account and expiry"

    NOT_A_VALIDATOR = 5040, "the key or address is not a validator"
    VALIDATOR_EXISTS = 5041, "the account or key already runs a validator"
    NOT_DELEGATED = 5042, "the account has no such delegation"
    VALIDATOR_JAILED = 5043, "the validator is jailed"
    VALIDATOR_TOMBSTONED = 5044, "the validator double signed and can never return"
    STILL_JAILED = 5045, "the validator's jail time has not passed"
    NOT_JAILED = 5046, "the validator is not jailed"
    INVALID_EVIDENCE = 5047, "the evidence does not prove a double sign"
    EVIDENCE_TOO_OLD = 5048, "the evidence is older than the unbonding period"
    INVALID_COMMISSION = 5049, "the commission must be between 0 and 100%"
    SAME_VALIDATOR = 5050, "a redelegation needs two different validators"
    TOO_MANY_ENTRIES = 5051, "too many pending unbonding entries"
    BELOW_MIN_STAKE = 5052, "the self-stake is below the minimum"

    NOT_ACTIVE = 5060, "only active validators vote prices"
    INVALID_PRICE = 5061, "the price must be a positive integer"

    BAD_BLOCK = 5080, "the block does not follow the last block"
    STATE_MISMATCH = 5081, "executing the block does not give the state root in its header"
    INVALID_COMMIT = 5082, "the commit does not prove more than two thirds of the stake"
    INVALID_PROOF = 5083, "the proof does not verify against the header"
    INVALID_GENESIS = 5084, "the genesis file is not valid"
    NOT_FOUND = 5085, "nothing is stored for this height or key"
    STORE_CORRUPT = 5086, "the store holds data that does not decode"


register_reasons(ChainReason, range(5000, 6000))

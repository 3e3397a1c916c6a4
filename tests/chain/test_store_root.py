"""Opening a store checks that its state hashes to the last block's state root: the node reports
that root as the state's (``/status``) without hashing the tree again after each commit."""

from __future__ import annotations

import msgspec
import pytest

from optex.chain import Ledger, MemoryStore
from optex.chain._codec import decode_record, encode_record
from optex.chain._records import Account, account_key
from optex.core import InvalidInput
from tests.chain.kit import USDC, Chain


def test_a_store_whose_state_does_not_hash_to_the_last_root_is_refused_at_open() -> None:
    store = MemoryStore()
    chain = Chain(store=store)
    chain.run(chain.register("alice"))
    chain.run()
    reopened = Ledger(chain.genesis, store)
    assert reopened.state_root() == chain.ledger.last_header.state_root  # type: ignore[union-attr]

    key = account_key("alice")
    account = decode_record(store.state[key], Account)
    richer = msgspec.structs.replace(account, balances={**account.balances, USDC: 10**15})
    store.state[key] = encode_record(richer)
    with pytest.raises(InvalidInput) as caught:
        Ledger(chain.genesis, store)
    assert caught.value.reason == "store_corrupt"

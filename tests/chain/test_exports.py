"""The public surface of optex.chain."""

import optex.chain
from optex.chain import ChainReason
from optex.core import registered_reason_tables


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert optex.chain.__all__ == sorted(optex.chain.__all__)
    for name in optex.chain.__all__:
        assert getattr(optex.chain, name) is not None


def test_chain_reasons_are_registered_in_5000_to_5999() -> None:
    codes, table = registered_reason_tables()["ChainReason"]
    assert table is ChainReason
    assert codes == range(5000, 6000)
    assert all(5000 <= int(code) < 6000 and code.message for code in ChainReason)

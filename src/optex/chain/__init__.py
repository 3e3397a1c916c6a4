"""optex.chain: the settlement chain.

The ledger state machine arrives with issue 7; the Tendermint consensus that orders its blocks
is :mod:`optex.chain.consensus`.
"""

__all__: list[str] = []

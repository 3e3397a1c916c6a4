"""optex: an open-source hybrid exchange for crypto options and derivatives.

Trading runs off-chain in a deterministic matching and risk engine; every trade, deposit,
withdrawal, price and stake change is recorded on a proof-of-stake settlement chain. The map of
packages and the direction of their dependencies is in ARCHITECTURE.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("optex")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

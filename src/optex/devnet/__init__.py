"""optex.devnet: the whole exchange on one machine (``optex devnet``).

:func:`run_devnet` starts the validators (:mod:`optex.node`), the engine service
(:mod:`optex.exchange`) and, inside its own process, a simulated index feed
(:class:`IndexFeed`), whose prices every validator votes on chain (:class:`OracleVoter`), and
the market makers of :mod:`optex.agents` quoting BTC and ETH option chains, futures and
perpetuals (:class:`Quoting`) through a replica of the engine's state
(:class:`ReplicaVenue`). Every process is watched by a :class:`Supervisor` and stopped cleanly on
Ctrl-C; a home directory keeps all state, so a restart resumes. See docs/devnet.md.
"""

from optex.devnet._devnet import Devnet, DevnetConfig, run_devnet, select_instruments
from optex.devnet._errors import DevnetReason
from optex.devnet._feed import IndexFeed, smile
from optex.devnet._oracle import OracleVoter, VoterStatus, oracle_symbols
from optex.devnet._quoter import EngineSession, Quoting, ReplicaVenue, maker_account
from optex.devnet._supervisor import Child, Supervisor

__all__ = [
    "Child",
    "Devnet",
    "DevnetConfig",
    "DevnetReason",
    "EngineSession",
    "IndexFeed",
    "OracleVoter",
    "Quoting",
    "ReplicaVenue",
    "Supervisor",
    "VoterStatus",
    "maker_account",
    "oracle_symbols",
    "run_devnet",
    "select_instruments",
    "smile",
]

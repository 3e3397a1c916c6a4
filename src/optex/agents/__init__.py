"""optex.agents: a market maker and execution algorithms that trade through the real engines.

:class:`MarketMaker` quotes a whole option chain with mass quotes around model values, in the
manner of Avellaneda and Stoikov adapted to options (reservation price shifted by portfolio
delta and vega, spreads widening with vega and gamma risk), hedges delta with the perpetual,
runs under market maker protection and respects its margin. Execution algorithms work a
:class:`ParentOrder`: :class:`Twap`, :class:`Vwap`, :class:`Pov`, :class:`Iceberg`,
:class:`ImplementationShortfall` (Almgren-Chriss, :func:`ac_trajectory`),
:class:`PassiveAggressive`, :class:`SmartRouter` (:func:`route` across venues) and the
:class:`Immediate` baseline; each reports an :class:`ExecutionReport`. Every command goes
through a :class:`Venue` (a matching engine and its risk engine). See docs/agents.md.
"""

from optex.agents._almgren import ac_kappa, ac_trade_list, ac_trajectory
from optex.agents._errors import AgentReason
from optex.agents._execution import (
    ExecutionAlgo,
    ExecutionReport,
    Immediate,
    ImplementationShortfall,
    ParentOrder,
    Pov,
    ScheduledAlgo,
    Twap,
    Vwap,
    cumulative_targets,
)
from optex.agents._market_maker import Greeks, MarketMaker, MarketMakerParams
from optex.agents._passive import Iceberg, PassiveAggressive
from optex.agents._router import Allocation, SmartRouter, route
from optex.agents._venue import Tape, Venue

__all__ = [
    "AgentReason",
    "Allocation",
    "ExecutionAlgo",
    "ExecutionReport",
    "Greeks",
    "Iceberg",
    "Immediate",
    "ImplementationShortfall",
    "MarketMaker",
    "MarketMakerParams",
    "ParentOrder",
    "PassiveAggressive",
    "Pov",
    "ScheduledAlgo",
    "SmartRouter",
    "Tape",
    "Twap",
    "Venue",
    "Vwap",
    "ac_kappa",
    "ac_trade_list",
    "ac_trajectory",
    "cumulative_targets",
    "route",
]

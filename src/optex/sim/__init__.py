"""optex.sim: simulated markets that drive the real matching and risk engines.

Seeded index paths (:class:`Gbm`, :class:`Heston`, :class:`Merton`, :func:`simulate_path`);
Poisson order flow from noise and informed traders and a liquidity ladder on the perpetual; a
:class:`Simulation` loop in simulated time that runs the market maker and execution algorithms
of :mod:`optex.agents` against :class:`optex.market.MatchingEngine` with
:class:`optex.risk.RiskEngine`; scenarios from TOML (:class:`Scenario`, :func:`load_scenario`)
and a :class:`Report` written as JSON, Markdown and PNG plots (:func:`write_report`). Time and
randomness are inputs: the same scenario and seed give the same report. See docs/agents.md.
"""

from optex.sim._config import (
    AlgoConfig,
    ChainConfig,
    InformedConfig,
    NoiseConfig,
    Scenario,
    VenueConfig,
    load_scenario,
    parse_scenario,
)
from optex.sim._flow import InformedTraders, LiquidityProvider, NoiseTraders
from optex.sim._loop import Simulation, option_chain, run_scenario
from optex.sim._paths import (
    Gbm,
    Heston,
    Merton,
    PriceModel,
    gbm_log_returns,
    heston_log_returns,
    merton_log_returns,
    simulate_path,
)
from optex.sim._report import (
    McSample,
    McSummary,
    Report,
    build_report,
    report_markdown,
    report_tables,
    write_report,
)

__all__ = [
    "AlgoConfig",
    "ChainConfig",
    "Gbm",
    "Heston",
    "InformedConfig",
    "InformedTraders",
    "LiquidityProvider",
    "McSample",
    "McSummary",
    "Merton",
    "NoiseConfig",
    "NoiseTraders",
    "PriceModel",
    "Report",
    "Scenario",
    "Simulation",
    "VenueConfig",
    "build_report",
    "gbm_log_returns",
    "heston_log_returns",
    "load_scenario",
    "merton_log_returns",
    "option_chain",
    "parse_scenario",
    "report_markdown",
    "report_tables",
    "run_scenario",
    "simulate_path",
    "write_report",
]

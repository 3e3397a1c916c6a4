"""Reason codes of the agents and the simulator (8000-8099)."""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class AgentReason(ReasonCode):
    """Why an agent, an execution algorithm or a scenario refused its input."""

    INVALID_AGENT_PARAMS = 8000, "an agent's parameters are out of range"
    INVALID_PARENT_ORDER = 8001, "the parent order cannot be executed"
    INVALID_SCHEDULE = 8002, "the execution schedule is not well formed"
    INVALID_SCENARIO = 8010, "the scenario file is not valid"


register_reasons(AgentReason, range(8000, 8100))

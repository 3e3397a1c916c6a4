"""Almgren-Chriss trajectories against the paper's closed form and its worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.agents import AgentReason, ac_kappa, ac_trade_list, ac_trajectory
from optex.core import InvalidInput

# Almgren & Chriss (2000), section 4's example: 10^6 shares over 5 days in daily intervals,
# sigma = 0.95 $/share/day^(1/2), eta = 2.5e-6, gamma = 2.5e-7, lambda = 1e-6.
PAPER = {"sigma": 0.95, "eta": 2.5e-6, "gamma": 2.5e-7, "risk_aversion": 1e-6}


def test_kappa_reproduces_the_papers_example_of_about_0_6_per_day() -> None:
    kappa = ac_kappa(tau=1.0, **PAPER)
    assert kappa == pytest.approx(0.6, abs=0.01)
    # The closed form: kappa = arccosh(kappa_tilde^2 tau^2 / 2 + 1) / tau.
    eta_tilde = 2.5e-6 - 0.5 * 2.5e-7
    assert kappa == pytest.approx(math.acosh(0.5 * 1e-6 * 0.95**2 / eta_tilde + 1), rel=1e-15)


def test_trajectory_matches_the_sinh_closed_form() -> None:
    holdings = ac_trajectory(1e6, 5.0, 5, **PAPER)
    kappa = ac_kappa(tau=1.0, **PAPER)
    t = np.arange(6.0)
    expected = np.sinh(kappa * (5.0 - t)) / np.sinh(kappa * 5.0) * 1e6
    np.testing.assert_allclose(holdings, expected, rtol=1e-12, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.01, 5.0),
    st.floats(1e-3, 10.0),
    st.floats(1e-4, 10.0),
    st.integers(2, 60),
)
def test_trajectory_solves_the_discrete_euler_lagrange_equation(
    sigma: float, eta: float, risk_aversion: float, n: int
) -> None:
    x = ac_trajectory(1.0, 1.0, n, sigma=sigma, eta=eta, gamma=0.0, risk_aversion=risk_aversion)
    tau = 1.0 / n
    kappa_tilde_sq = risk_aversion * sigma**2 / eta
    second = (x[:-2] - 2 * x[1:-1] + x[2:]) / tau**2
    np.testing.assert_allclose(second, kappa_tilde_sq * x[1:-1], rtol=1e-6, atol=1e-9)
    assert x[0] == pytest.approx(1.0) and x[-1] == 0.0
    assert np.all(np.diff(x) <= 1e-15)


def test_without_risk_aversion_the_trajectory_is_twaps_straight_line() -> None:
    holdings = ac_trajectory(1e6, 5.0, 5, sigma=0.95, eta=2.5e-6, gamma=2.5e-7, risk_aversion=0)
    np.testing.assert_allclose(holdings, [1e6, 8e5, 6e5, 4e5, 2e5, 0], atol=1e-6)


def test_more_risk_aversion_trades_faster() -> None:
    slow = ac_trajectory(1.0, 1.0, 10, sigma=1, eta=1, gamma=0, risk_aversion=0.1)
    fast = ac_trajectory(1.0, 1.0, 10, sigma=1, eta=1, gamma=0, risk_aversion=50)
    assert np.all(fast[1:-1] < slow[1:-1])


def test_extreme_urgency_does_not_overflow() -> None:
    x = ac_trajectory(1.0, 1.0, 10, sigma=100, eta=1e-9, gamma=0, risk_aversion=1e6)
    assert np.all(np.isfinite(x)) and x[1] < 1e-6


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 40), st.floats(0.0, 100.0))
def test_trade_list_is_whole_lots_summing_to_the_parent(lots: int, n: int, lam: float) -> None:
    sizes = ac_trade_list(lots * 100, n, 100, sigma=1.0, eta=1.0, gamma=0.0, risk_aversion=lam)
    assert len(sizes) == n
    assert sum(sizes) == lots * 100
    assert all(s >= 0 and s % 100 == 0 for s in sizes)


def test_bad_parameters_are_refused_with_a_schedule_reason() -> None:
    with pytest.raises(InvalidInput) as caught:
        ac_kappa(sigma=1, eta=1e-9, gamma=1.0, risk_aversion=1, tau=1)
    assert caught.value.code is AgentReason.INVALID_SCHEDULE
    with pytest.raises(InvalidInput):
        ac_trajectory(1.0, 1.0, 0, sigma=1, eta=1, gamma=0, risk_aversion=1)
    with pytest.raises(InvalidInput):
        ac_trade_list(150, 3, 100, sigma=1, eta=1, gamma=0, risk_aversion=1)

"""Index paths: seeded, and with the moments their models promise."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from optex.core import InvalidInput
from optex.sim import (
    Gbm,
    Heston,
    Merton,
    gbm_log_returns,
    heston_log_returns,
    merton_log_returns,
    simulate_path,
)

DT = 1 / 365
N = 200_000


def test_the_same_generator_state_gives_the_same_path_and_another_seed_another() -> None:
    for model in (Gbm(), Heston(), Merton()):
        a = simulate_path(model, 100.0, DT, 500, np.random.default_rng(3))
        b = simulate_path(model, 100.0, DT, 500, np.random.default_rng(3))
        c = simulate_path(model, 100.0, DT, 500, np.random.default_rng(4))
        assert a.shape == (501,) and a[0] == 100.0 and np.all(a > 0)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_gbm_log_returns_have_the_exact_mean_and_variance() -> None:
    model = Gbm(mu=0.1, sigma=0.6)
    r = gbm_log_returns(model, DT, N, np.random.default_rng(1))
    mean = (0.1 - 0.18) * DT
    sd = 0.6 * math.sqrt(DT)
    assert abs(r.mean() - mean) < 4 * sd / math.sqrt(N)
    assert r.std() == pytest.approx(sd, rel=4 * math.sqrt(2 / N))


def test_heston_variance_reverts_to_theta_and_returns_carry_it() -> None:
    model = Heston(v0=0.5, kappa=5.0, theta=0.2, xi=0.3, rho=-0.7)
    r, v = heston_log_returns(model, DT, N, np.random.default_rng(2))
    assert v[0] == 0.5 and np.all(v >= 0)
    # After many mean-reversion times the average variance is theta.
    assert v[365:].mean() == pytest.approx(0.2, rel=0.05)
    assert (r**2).mean() / DT == pytest.approx(v[:-1].mean(), rel=0.05)
    # Leverage: returns and variance moves are negatively correlated, as rho says.
    assert np.corrcoef(r, np.diff(v))[0, 1] < -0.5


def test_merton_jumps_are_compensated_so_the_price_is_a_martingale() -> None:
    model = Merton(mu=0.0, sigma=0.3, lam=20.0, jump_mean=-0.05, jump_std=0.1)
    r = merton_log_returns(model, DT, N, np.random.default_rng(5))
    gross = np.expm1(r)
    assert abs(gross.mean()) < 4 * gross.std() / math.sqrt(N)
    # Jumps fatten the tails: excess kurtosis well above the normal's zero.
    z = (r - r.mean()) / r.std()
    assert (z**4).mean() - 3 > 1.0
    assert model.vol > model.sigma


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (lambda: Gbm(sigma=-0.1), None),
        (lambda: Heston(rho=1.5), None),
        (lambda: Merton(lam=-1.0), None),
        (None, (Gbm(), -1.0, DT, 10)),
        (None, (Gbm(), 100.0, 0.0, 10)),
    ],
)
def test_bad_model_parameters_and_inputs_raise_invalid_input(
    build: Callable[[], object] | None, args: tuple[Gbm, float, float, int] | None
) -> None:
    with pytest.raises(InvalidInput):
        if build is not None:
            build()
        elif args is not None:
            simulate_path(*args, np.random.default_rng(0))

"""The one cash function and the rounding boundary: exact on the grid, against the user off it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optex.core import InvariantViolation, Rounding
from optex.risk import cash, div_round, dust, to_units
from tests.risk.kit import BTC, USDC


def test_cash_of_a_trade_on_the_grid_is_exact() -> None:
    # 0.37 BTC at 95,123.5 USDC: 95_123_500_000 * 37_000_000 / 1e8 = 35_195_695_000 base units.
    assert cash(95_123_500_000, 37_000_000, BTC) == 35_195_695_000


def test_cash_off_the_grid_refuses_to_guess_unless_told_how_to_round() -> None:
    with pytest.raises(InvariantViolation):
        cash(3, 1, 2)
    assert cash(3, 1, 2, Rounding.FLOOR) == 1
    assert cash(3, 1, 2, Rounding.CEILING) == 2


def test_a_negative_credit_rounds_down_so_the_payer_pays_the_extra_unit() -> None:
    # -1.5 units owed: floor gives -2, i.e. the payer pays 2, never 1.
    assert cash(3, -1, 2, Rounding.FLOOR) == -2
    assert div_round(-3, 2, Rounding.CEILING) == -1


def test_model_values_round_up_for_margin_and_down_for_payouts() -> None:
    assert to_units(10.2, Rounding.CEILING) == 11
    assert to_units(10.8, Rounding.FLOOR) == 10
    assert to_units(np.array([1.1, -1.1]), Rounding.CEILING).tolist() == [2, -1]


def test_a_model_value_that_is_not_finite_halts_instead_of_becoming_money() -> None:
    with pytest.raises(InvariantViolation):
        to_units(math.nan, Rounding.CEILING)
    with pytest.raises(InvariantViolation):
        to_units(np.array([1.0, np.inf]), Rounding.FLOOR)
    with pytest.raises(InvariantViolation):
        to_units(1.0, Rounding.EXACT)


def test_dust_is_what_rounding_every_side_down_leaves_for_the_fee_pool() -> None:
    # Exact credits +1.5 and -1.5 round down to +1 and -2: one unit of dust.
    assert dust([cash(3, 1, 2, Rounding.FLOOR), cash(3, -1, 2, Rounding.FLOOR)]) == 1
    with pytest.raises(InvariantViolation):
        dust([2 * USDC, -USDC])

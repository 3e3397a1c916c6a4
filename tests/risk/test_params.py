"""Risk parameters per underlying load from TOML with defaults and refuse nonsense."""

from __future__ import annotations

import pytest

from optex.core import InvalidInput, NotFound
from optex.risk import RiskParams, RiskReason, load_params, params_for


def test_a_toml_file_sets_some_parameters_and_the_rest_keep_their_defaults() -> None:
    loaded = load_params(
        """
        [BTC.standard]
        option_im_ppm = 160000

        [ETH.portfolio]
        price_range = 0.2
        """
    )
    assert loaded["BTC"].standard.option_im_ppm == 160_000
    assert loaded["BTC"].standard.option_mm_ppm == 75_000
    assert loaded["ETH"].portfolio.price_range == 0.2
    assert loaded["ETH"].fees == RiskParams().fees


@pytest.mark.parametrize(
    "text",
    [
        "[BTC.standard]\noption_im_ppm = 50000\n",  # below the 10% floor
        "[BTC.standard]\nunknown = 1\n",
        "[BTC.funding]\ncap_ppm = -1\n",
        "[BTC.portfolio]\nprice_range = 2.0\n",
        "not toml at all [",
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_params(text)
    assert caught.value.code is RiskReason.INVALID_PARAMETERS


def test_an_unconfigured_underlying_is_named_in_the_error() -> None:
    with pytest.raises(NotFound) as caught:
        params_for({"BTC": RiskParams()}, "DOGE")
    assert "DOGE" in caught.value.message and "BTC" in caught.value.message

"""optex.pricing: option values, greeks and volatility models as pure, vectorized functions.

Black-Scholes-Merton and Black-76 prices and greeks, Black-76 implied volatility to machine
precision, Heston by the COS method on the "little trap" characteristic function, Hagan's SABR,
raw SVI smiles and surfaces with arbitrage checks, calibration, and seeded Monte Carlo engines for
cross-checks. Every array argument broadcasts; units are years and decimals per year (see
docs/pricing.md). Bad input raises :class:`optex.core.InvalidInput` with a
:class:`PricingReason` code.
"""

from optex.pricing._black import Greeks, black76_greeks, black76_price, bs_greeks, bs_price
from optex.pricing._calibrate import HestonFit, SabrFit, calibrate_heston, calibrate_sabr
from optex.pricing._errors import PricingReason
from optex.pricing._heston import heston_cf, heston_price
from optex.pricing._implied import ImpliedVol, implied_vol, implied_vol_with_reason
from optex.pricing._montecarlo import McResult, mc_gbm, mc_heston
from optex.pricing._sabr import sabr_vol
from optex.pricing._svi import (
    SviFit,
    SviParams,
    SviSurface,
    fit_svi,
    fit_svi_surface,
    svi_butterfly_arbitrage,
    svi_density_factor,
    svi_total_variance,
)

__all__ = [
    "Greeks",
    "HestonFit",
    "ImpliedVol",
    "McResult",
    "PricingReason",
    "SabrFit",
    "SviFit",
    "SviParams",
    "SviSurface",
    "black76_greeks",
    "black76_price",
    "bs_greeks",
    "bs_price",
    "calibrate_heston",
    "calibrate_sabr",
    "fit_svi",
    "fit_svi_surface",
    "heston_cf",
    "heston_price",
    "implied_vol",
    "implied_vol_with_reason",
    "mc_gbm",
    "mc_heston",
    "sabr_vol",
    "svi_butterfly_arbitrage",
    "svi_density_factor",
    "svi_total_variance",
]

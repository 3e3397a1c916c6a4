"""optex.risk: who may trade and who must be liquidated.

Index prices from several sources (:func:`index_price`) and the settlement average before expiry
(:func:`settlement_price`); marks for futures (:func:`future_mark`) and options from an SVI smile
per expiry (:func:`fit_smile`, :func:`option_marks`); standard margin (:func:`standard_margin`,
Deribit's model) and portfolio margin (:func:`portfolio_margin`, :func:`portfolio_margin_many`,
scenario revaluation as in Deribit's portfolio margin and CME SPAN); the balance sheet of
accounts, insurance fund and fee pool (:class:`Ledger`) with its rules (:func:`apply_trade`,
:func:`apply_funding`, :func:`settle_expiry`, the chain's funding :func:`apply_chain_funding`,
...) and exact conservation (:func:`check_conservation`); the pre-trade check
(:class:`RiskEngine`, an ``optex.market.PreTradeCheck``) and liquidation (:func:`liquidate`).

Money is integers throughout (:func:`cash` is the one notional function); floats appear only
inside model calls and are rounded against the user at :func:`to_units`. Everything is a
deterministic function of its inputs, time included, so the engine and the chain share it.
See docs/risk.md.
"""

from optex.risk._engine import RestingOrder, RiskEngine, band_price
from optex.risk._index import (
    IndexPrice,
    IndexSample,
    SourceQuote,
    index_price,
    settlement_price,
)
from optex.risk._ledger import (
    FEE_POOL,
    INSURANCE_FUND,
    Account,
    Ledger,
    Movement,
    MovementKind,
    Position,
    Trade,
    add_instrument,
    apply_trade,
    check_conservation,
    debit_withdrawal,
    deposit,
    fund_insurance,
    open_account,
    total_value,
    trade_fee,
    transfer_position,
)
from optex.risk._liquidation import LiquidationReport, liquidate
from optex.risk._marks import OptionQuote, fit_smile, future_mark, option_marks
from optex.risk._money import PPM, cash, div_round, dust, ppm_of, to_units
from optex.risk._params import (
    FeeParams,
    FundingParams,
    IndexParams,
    LiquidationParams,
    MarkParams,
    PortfolioMarginParams,
    RiskParams,
    StandardMarginParams,
    load_params,
    params_for,
)
from optex.risk._portfolio import (
    ScenarioGrid,
    ScenarioTable,
    portfolio_margin,
    portfolio_margin_many,
    portfolio_margins,
    scenario_grid,
    scenario_table,
)
from optex.risk._prices import Mark, Prices
from optex.risk._reasons import RiskReason
from optex.risk._settlement import (
    apply_chain_funding,
    apply_funding,
    funding_rate_ppm,
    premium_ppm,
    settle_expiry,
    settlement_credits,
)
from optex.risk._standard import (
    OpenOrder,
    Requirement,
    equity,
    instrument_requirement,
    position_requirement,
    standard_margin,
)

__all__ = [
    "Account",
    "FEE_POOL",
    "FeeParams",
    "FundingParams",
    "INSURANCE_FUND",
    "IndexParams",
    "IndexPrice",
    "IndexSample",
    "Ledger",
    "LiquidationParams",
    "LiquidationReport",
    "Mark",
    "MarkParams",
    "Movement",
    "MovementKind",
    "OpenOrder",
    "OptionQuote",
    "PPM",
    "PortfolioMarginParams",
    "Position",
    "Prices",
    "Requirement",
    "RestingOrder",
    "RiskEngine",
    "RiskParams",
    "RiskReason",
    "ScenarioGrid",
    "ScenarioTable",
    "SourceQuote",
    "StandardMarginParams",
    "Trade",
    "add_instrument",
    "apply_chain_funding",
    "apply_funding",
    "apply_trade",
    "band_price",
    "cash",
    "check_conservation",
    "debit_withdrawal",
    "deposit",
    "div_round",
    "dust",
    "equity",
    "fit_smile",
    "fund_insurance",
    "funding_rate_ppm",
    "future_mark",
    "index_price",
    "instrument_requirement",
    "liquidate",
    "load_params",
    "open_account",
    "option_marks",
    "params_for",
    "portfolio_margin",
    "portfolio_margin_many",
    "portfolio_margins",
    "position_requirement",
    "ppm_of",
    "premium_ppm",
    "scenario_grid",
    "scenario_table",
    "settle_expiry",
    "settlement_credits",
    "settlement_price",
    "standard_margin",
    "to_units",
    "total_value",
    "trade_fee",
    "transfer_position",
]

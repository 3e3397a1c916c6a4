"""The option market maker: two-sided quotes on the grid, bounded inventory, spread earned."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optex.agents import AgentReason, Greeks, MarketMaker, MarketMakerParams
from optex.core import InvalidInput
from optex.market import Quote, Side
from optex.risk import Position
from optex.sim import Simulation
from tests.sim.kit import scenario


def _quotes_by_name(
    mm: MarketMaker, sim: Simulation, greeks: Greeks, *, reduce_only: bool = False
) -> dict[str, Quote]:
    index = sim.index_at(sim.steps_done)
    return {q.instrument: q for q in mm.quotes(index, sim.vol, sim.marks, greeks, reduce_only)}


def _price(price: int | None) -> int:
    assert price is not None
    return price


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_quotes_stay_two_sided_on_the_tick_grid_and_inventory_within_limits(seed: int) -> None:
    sim = Simulation(
        scenario(
            seed=seed,
            duration_s=150,
            market_maker={"max_position_lots": 3, "quote_lots": 2, "hedge_threshold": 0.02},
            noise={"option_rate": 3.0, "perp_rate": 1.0, "market_share": 0.8},
            informed={"rate": 0.3, "option_share": 1.0, "threshold_bps": 1.0},
        )
    )
    mm = sim.market_maker
    limit = 3 * sim.options[0].lot_size
    for i in range(1, sim.scenario.steps + 1):
        sim.step(i)
        sides: dict[tuple[str, Side], int] = {}
        for order in sim.home.engine.open_orders(mm.params.account):
            tick = sim.home.engine.book(order.instrument).instrument.tick_size
            assert order.price is not None and order.price % tick == 0
            assert (order.instrument, order.side) not in sides
            sides[order.instrument, order.side] = order.price
        for option in sim.options:
            bid, ask = sides.get((option.name, Side.BUY)), sides.get((option.name, Side.SELL))
            assert bid is None or ask is None or bid < ask
            assert abs(mm.position(option.name)) <= limit
    assert mm.fills > 0 and mm.hedges > 0
    # Every option worth a few ticks gets both sides while the book is flat.
    quotes = _quotes_by_name(mm, sim, Greeks())
    for option in sim.options:
        q = quotes[option.name]
        if sim.marks[option.name].price > 3 * option.tick_size and mm.position(option.name) == 0:
            assert q.bid_quantity > 0 and q.ask_quantity > 0
            assert q.bid_price is not None and q.ask_price is not None
            assert q.bid_price % option.tick_size == 0 and q.ask_price % option.tick_size == 0
            assert q.bid_price < sim.marks[option.name].price < q.ask_price


@pytest.mark.parametrize("seed", [5, 6])
def test_in_a_calm_gbm_market_it_earns_positive_spread_pnl_over_a_long_run(seed: int) -> None:
    report = Simulation(
        scenario(
            seed=seed,
            duration_s=1800,
            model={"kind": "gbm", "sigma": 0.3},
            market_maker={"hedge_threshold": 0.1},
            noise={"option_rate": 1.0, "perp_rate": 0.5},
        )
    ).run()
    mm = report.market_maker
    assert mm.fills > 200
    assert mm.spread_pnl > 0
    assert mm.pnl > 0  # marked to market, after hedging costs: the spread pays for inventory
    assert max(s.max_option_lots for s in report.samples) <= 10


def test_inventory_skews_the_reservation_price_through_delta_and_vega() -> None:
    sim = Simulation(scenario(duration_s=10))
    sim.step(1)
    mm = sim.market_maker
    flat = _quotes_by_name(mm, sim, Greeks())
    long_delta = _quotes_by_name(mm, sim, Greeks(delta=5.0))
    long_vega = _quotes_by_name(mm, sim, Greeks(vega=50_000.0))
    call = next(o.name for o in sim.options if o.name.endswith("-C") and "100000" in o.name)
    put = next(o.name for o in sim.options if o.name.endswith("-P") and "100000" in o.name)
    # Long delta: sell calls cheaper (delta > 0), buy puts dearer (delta < 0).
    assert _price(long_delta[call].ask_price) < _price(flat[call].ask_price)
    assert _price(long_delta[put].bid_price) > _price(flat[put].bid_price)
    # Long vega: every option (vega > 0) is quoted lower.
    for name in (call, put):
        assert _price(long_vega[name].ask_price) < _price(flat[name].ask_price)


def test_spreads_widen_with_vega_and_gamma_risk() -> None:
    sim = Simulation(scenario(duration_s=10, chain={"expiry_days": [14], "strikes_per_expiry": 9}))
    sim.step(1)
    mm = sim.market_maker
    quotes = _quotes_by_name(mm, sim, Greeks())
    calls = sorted((o for o in sim.options if o.name.endswith("-C")), key=lambda o: o.strike or 0)
    atm = min(calls, key=lambda o: abs((o.strike or 0) - sim.index_at(1)))
    wing = calls[-1]
    assert sim.marks[atm.name].vega > sim.marks[wing.name].vega
    width = {
        n: _price(quotes[n].ask_price) - _price(quotes[n].bid_price) for n in (atm.name, wing.name)
    }
    assert width[atm.name] > width[wing.name]


def test_when_margin_is_tight_only_position_reducing_sides_are_quoted() -> None:
    sim = Simulation(scenario(duration_s=10))
    sim.step(1)
    mm = sim.market_maker
    quotes = _quotes_by_name(mm, sim, Greeks(), reduce_only=True)
    for option in sim.options:
        q = quotes[option.name]
        held = mm.position(option.name)
        assert q.bid_quantity <= max(-held, 0)
        assert q.ask_quantity <= max(held, 0)


def test_a_small_deposit_keeps_the_market_maker_reduce_only_and_never_liquidatable() -> None:
    sim = Simulation(
        scenario(
            mm_deposit=3_000,
            duration_s=200,
            noise={"option_rate": 3.0, "perp_rate": 1.0, "market_share": 0.8},
        )
    )
    mm = sim.market_maker
    risk = sim.home.risk
    for i in range(1, sim.scenario.steps + 1):
        sim.step(i)
        assert risk.equity(mm.params.account) >= risk.margin(mm.params.account).maintenance
        if mm.margin_tight:
            for order in sim.home.engine.open_orders(mm.params.account):
                held = mm.position(order.instrument)
                reducing = -held if order.side is Side.BUY else held
                assert 0 < order.remaining <= reducing
    assert mm.tight_quotes > 0 and mm.fills > 0


def test_market_maker_protection_trips_and_quoting_resumes_after_the_freeze() -> None:
    sim = Simulation(
        scenario(
            duration_s=60,
            market_maker={"mmp_quantity_lots": 1, "mmp_frozen_ms": 3000},
            noise={"option_rate": 3.0, "perp_rate": 0.0, "market_share": 1.0},
        )
    )
    mm = sim.market_maker
    frozen_steps = 0
    for i in range(1, sim.scenario.steps + 1):
        sim.step(i)
        if sim.home.engine.mmp_frozen(mm.params.account, mm.params.mmp_group):
            frozen_steps += 1
            assert not sim.home.engine.open_orders(mm.params.account)  # the group was pulled
    assert mm.mmp_trips >= 2  # it tripped, came back after the freeze, and tripped again
    assert 0 < frozen_steps < sim.scenario.steps
    assert mm.quotes_sent > mm.mmp_trips


def test_bad_parameters_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidInput) as caught:
        MarketMakerParams(quote_lots=0)
    assert caught.value.code is AgentReason.INVALID_AGENT_PARAMS
    with pytest.raises(InvalidInput):
        MarketMakerParams(max_margin_ratio=1.5)


@functools.cache
def _stepped() -> Simulation:
    sim = Simulation(
        scenario(duration_s=10, chain={"expiry_days": [3, 30], "strikes_per_expiry": 7})
    )
    sim.step(1)
    return sim


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-20, 20),
    st.floats(-300_000, 300_000),
    st.lists(st.integers(-14, 14), min_size=28, max_size=28),
    st.booleans(),
)
def test_any_inventory_gives_quotes_on_the_grid_that_cannot_breach_the_limits(
    delta: float, vega: float, lots: list[int], reduce_only: bool
) -> None:
    sim = _stepped()
    mm = sim.market_maker
    account = sim.home.risk.ledger.accounts[mm.params.account]
    saved = dict(account.positions)
    limit = mm.params.max_position_lots
    try:
        for option, n in zip(sim.options, lots, strict=True):
            account.positions[option.name] = Position(n * option.lot_size)
        quotes = _quotes_by_name(mm, sim, Greeks(delta=delta, vega=vega), reduce_only=reduce_only)
    finally:
        account.positions.clear()
        account.positions.update(saved)
    for option, n in zip(sim.options, lots, strict=True):
        q = quotes[option.name]
        tick, lot = option.tick_size, option.lot_size
        for price, size in ((q.bid_price, q.bid_quantity), (q.ask_price, q.ask_quantity)):
            assert size % lot == 0 and size >= 0
            assert (price is None) == (size == 0)
            assert price is None or (price % tick == 0 and price >= tick)
        if q.bid_price is not None and q.ask_price is not None:
            assert q.bid_price < q.ask_price
        assert n + q.bid_quantity // lot <= max(limit, n)
        assert n - q.ask_quantity // lot >= min(-limit, n)
        if reduce_only:
            assert q.bid_quantity // lot <= max(-n, 0) and q.ask_quantity // lot <= max(n, 0)
        if vega >= mm.params.max_vega:
            assert q.bid_quantity == 0  # buying would add vega
        if vega <= -mm.params.max_vega:
            assert q.ask_quantity == 0

"""The smart router's allocation is the cheapest use of the visible liquidity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from optex.agents import Allocation, SmartRouter, route
from optex.market import Side
from optex.sim import Simulation
from tests.sim.kit import algo, scenario


def _cost(
    side: Side,
    allocations: list[Allocation],
    books: dict[str, list[tuple[int, int]]],
    fees: dict[str, int],
) -> float:
    total = 0.0
    for a in allocations:
        left = a.quantity
        for price, size in books[a.venue]:
            take = min(size, left)
            fee = fees.get(a.venue, 0) / 1e6
            total += take * price * ((1 + fee) if side is Side.BUY else -(1 - fee))
            left -= take
        assert left == 0
    return total


def test_a_buy_takes_the_cheapest_asks_across_venues_fees_included() -> None:
    books = {"a": [(100, 5), (103, 5)], "b": [(101, 5), (102, 5)]}
    plan = route(Side.BUY, 12, books, {"a": 0, "b": 0}, lot=1)
    assert plan == [Allocation("a", 5, 100), Allocation("b", 7, 102)]
    # A 3% fee on "a" makes 100 cost 103: all of "b"'s 101 and 102 come first.
    plan = route(Side.BUY, 12, books, {"a": 30_000, "b": 0}, lot=1)
    assert plan == [Allocation("a", 2, 100), Allocation("b", 10, 102)]


def test_a_sell_takes_the_highest_bids_and_never_more_than_is_visible() -> None:
    books = {"a": [(99, 3)], "b": [(100, 2), (98, 10)]}
    plan = route(Side.SELL, 100, books, {}, lot=1)
    assert plan == [Allocation("a", 3, 99), Allocation("b", 12, 98)]


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.lists(st.tuples(st.integers(90, 110), st.integers(1, 6)), max_size=4),
        min_size=1,
    ),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 50_000)),
    st.integers(1, 30),
    st.sampled_from([Side.BUY, Side.SELL]),
)
def test_the_allocation_costs_no_more_than_the_cheapest_lots_taken_one_by_one(
    raw: dict[str, list[tuple[int, int]]], fees: dict[str, int], quantity: int, side: Side
) -> None:
    buy = side is Side.BUY
    books = {v: sorted(levels, reverse=not buy) for v, levels in raw.items()}
    plan = route(side, quantity, books, fees, lot=1)
    # Reference: every single lot of every level, all-in, cheapest first.
    units = sorted(
        p * (1 + fees.get(v, 0) / 1e6) if buy else -p * (1 - fees.get(v, 0) / 1e6)
        for v, levels in books.items()
        for p, size in levels
        for _ in range(size)
    )
    taken = min(quantity, len(units))
    assert sum(a.quantity for a in plan) == taken
    by_venue = {a.venue: a for a in plan}
    # Each venue's quantity, walked from its best level, must cost what the reference says.
    for name, a in by_venue.items():
        worst = max(p for p, _ in books[name][:]) if buy else min(p for p, _ in books[name])
        assert (a.limit_price <= worst) if buy else (a.limit_price >= worst)
    assert abs(_cost(side, plan, books, fees) - sum(units[:taken])) < 1e-6 * (1 + taken * 200)


def test_the_router_fills_its_parent_using_both_venues_in_a_simulation() -> None:
    venues = [
        {"name": "main", "taker_fee_ppm": 0, "level_lots": 50},
        {"name": "second", "taker_fee_ppm": 0, "level_lots": 50},
    ]
    sim = Simulation(
        scenario(
            venues=venues,
            duration_s=60,
            algos=[algo("smart_router", lots=1000, duration_s=50, slices=5)],
        )
    )
    report = sim.run()
    router = sim.algos[0]
    assert isinstance(router, SmartRouter)
    assert report.algos[0].fill_rate == 1.0
    assert all(q > 0 for q in router.routed.values())

"""Scenario files, determinism of a run and the written report."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from optex.agents import AgentReason
from optex.core import InvalidInput
from optex.sim import (
    Heston,
    Merton,
    Report,
    Simulation,
    load_scenario,
    option_chain,
    parse_scenario,
    report_tables,
    run_scenario,
    write_report,
)
from tests.sim.kit import algo, scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario.toml"


def test_the_example_scenario_loads_with_a_hundred_options_and_ten_algorithms() -> None:
    loaded = load_scenario(EXAMPLE)
    assert len(option_chain(loaded)) == 100
    assert len(loaded.algos) == 10
    assert {a.kind for a in loaded.algos} >= {
        "twap",
        "vwap",
        "pov",
        "iceberg",
        "implementation_shortfall",
        "passive_aggressive",
        "smart_router",
    }


def test_models_are_chosen_by_kind() -> None:
    assert isinstance(parse_scenario({"model": {"kind": "heston", "xi": 0.5}}).model, Heston)
    assert isinstance(parse_scenario({"model": {"kind": "merton"}}).model, Merton)


@pytest.mark.parametrize(
    "data",
    [
        {"sped": 1},
        {"model": {"kind": "levy"}},
        {"duration_s": -5},
        {"algos": [{"kind": "teleport"}]},
        {"venues": [{"name": "a"}, {"name": "a"}]},
        {"chain": {"expiry_days": []}},
        {"market_maker": {"quote_lots": 0}},
    ],
)
def test_a_bad_scenario_is_refused_with_the_scenario_reason(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_scenario(data)
    assert caught.value.code in (AgentReason.INVALID_SCENARIO, AgentReason.INVALID_AGENT_PARAMS)


def test_an_unreadable_or_malformed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_scenario(tmp_path / "missing.toml")
    assert caught.value.code is AgentReason.INVALID_SCENARIO
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_scenario(bad)


def _run(seed: int) -> Report:
    return run_scenario(
        scenario(
            duration_s=40,
            model={"kind": "heston"},
            informed={"rate": 0.2},
            algos=[algo("twap", lots=200, duration_s=30), algo("pov", lots=500, duration_s=30)],
        ),
        seed=seed,
    )


def test_the_same_seed_gives_the_same_report_byte_for_byte() -> None:
    first, second = _run(11), _run(11)
    assert msgspec.json.encode(first) == msgspec.json.encode(second)
    other = _run(12)
    assert other.state_hash != first.state_hash


def test_an_injected_generator_is_the_only_source_of_randomness() -> None:
    small = scenario(duration_s=20, informed={"rate": 0.5})
    seeded = Simulation(small, seed=21).run()
    injected = Simulation(small, seed=21, rng=np.random.default_rng(21)).run()
    assert msgspec.json.encode(seeded) == msgspec.json.encode(injected)


def test_the_report_is_written_as_json_markdown_and_png_plots(tmp_path: Path) -> None:
    report = _run(3)
    written = write_report(report, tmp_path / "out")
    names = {p.name for p in written}
    assert names == {
        "report.json",
        "report.md",
        "mm_pnl.png",
        "mm_inventory.png",
        "mm_greeks.png",
        "algo_slippage.png",
    }
    again = msgspec.json.decode((tmp_path / "out" / "report.json").read_bytes(), type=Report)
    assert again == report
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Market maker" in markdown and "| twap |" in markdown
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report_tables(report)) == 2


def test_samples_track_the_market_makers_pnl_inventory_and_greeks() -> None:
    sim = Simulation(scenario(duration_s=30, record_ms=5000))
    report = sim.run()
    assert [s.t_s for s in report.samples] == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    last = report.samples[-1]
    assert last.pnl == report.market_maker.pnl
    account = sim.home.risk.ledger.accounts[sim.market_maker.params.account]
    lots = sum(
        p.quantity // sim.options[0].lot_size
        for name, p in account.positions.items()
        if name != sim.perp.name
    )
    assert last.net_option_lots == lots


def test_a_skewed_surface_marks_puts_above_calls_with_the_atm_vol_unchanged() -> None:
    sim = Simulation(
        scenario(
            duration_s=5,
            chain={"expiry_days": [14], "strikes_per_expiry": 5, "skew": 0.5, "vol": 0.5},
        )
    )
    sim.step(1)
    ivs = {name: mark.iv for name, mark in sim.marks.items() if mark.iv is not None}
    calls = [o for o in sim.options if o.name.endswith("-C")]
    by_strike = sorted(calls, key=lambda o: o.strike or 0)
    low, high = by_strike[0].name, by_strike[-1].name
    assert ivs[low] > ivs[high]  # rho < 0: the downside is dearer
    t = (by_strike[0].expiry_ms or 0) - sim.start_ms - 1000
    assert sim.smile(t / 31_536_000_000).total_variance(0.0) == pytest.approx(
        0.25 * t / 31_536_000_000
    )
    with pytest.raises(InvalidInput):
        parse_scenario({"chain": {"skew": 100.0, "skew_rho": -0.99, "vol": 0.1}})


def test_noise_arrivals_are_poisson_at_the_configured_rate() -> None:
    sim = Simulation(
        scenario(
            duration_s=600,
            noise={"option_rate": 1.5, "perp_rate": 2.5},
            chain={"strikes_per_expiry": 1, "expiry_days": [14]},
        )
    )
    sim.run()
    expected = (1.5 + 2.5) * 600
    assert abs(sim.noise.arrivals - expected) < 4 * expected**0.5

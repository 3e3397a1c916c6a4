"""Many validators over a seeded faulty network: safety always, liveness after GST.

``OPTEX_CONSENSUS_SEEDS`` sets how many seeds the default run checks (400); the long soak is
``python -m optex.chain.consensus.soak --seeds 5000``.
"""

from __future__ import annotations

import os

import pytest

from optex.chain.consensus import Tendermint, ValidatorSet, sim
from optex.chain.consensus.soak import main as soak_main

SEEDS = int(os.environ.get("OPTEX_CONSENSUS_SEEDS", "400"))


def test_no_two_correct_nodes_decide_differently_and_all_progress_after_gst() -> None:
    failures = {}
    for seed in range(SEEDS):
        result = sim.run(seed)
        if not result.ok:
            failures[seed] = result.failure
    assert failures == {}, f"failing seeds (re-run with sim.run(seed)): {failures}"


def test_a_seed_replays_identically() -> None:
    first, second = sim.run(11), sim.run(11)
    assert first == second
    assert first.deliveries > 0 and min(first.heights.values()) >= sim.TARGET_HEIGHTS


def test_scenarios_cover_the_faults_and_keep_byzantine_stake_under_a_third() -> None:
    plans = [sim.scenario(seed) for seed in range(SEEDS)]
    for plan in plans:
        byzantine = sum(plan.powers[i] for i in plan.byzantine)
        assert 3 * byzantine < sum(plan.powers)
        assert all(restart <= plan.gst_ms for _, _, restart in plan.crashes)
    assert sum(bool(p.byzantine) for p in plans) > SEEDS // 2
    assert sum(bool(p.crashes) for p in plans) > SEEDS // 4
    assert sum(bool(p.partitions) for p in plans) > SEEDS // 4
    assert sum(p.drop > 0 for p in plans) > SEEDS // 2


def test_equivocating_validators_are_caught_with_evidence() -> None:
    results = [sim.run(seed) for seed in range(40) if sim.scenario(seed).byzantine]
    assert sum(r.evidence for r in results) > 0


def test_the_simulation_finds_the_split_a_simple_majority_quorum_would_allow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The checks must be able to fail: with "more than half" instead of "more than two thirds",
    # the Byzantine coalition splits the correct nodes and some seed decides two values.
    monkeypatch.setattr(ValidatorSet, "is_quorum", lambda self, power: 2 * power > self.total_power)
    failures = [r.failure for r in map(sim.run, range(80)) if not r.ok]
    assert any(f is not None and f.startswith("safety") for f in failures)


def test_the_soak_command_runs_seeds_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert soak_main(["--seeds", "3", "--start", "5", "--jobs", "1"]) == 0
    assert "3 seeds from 5: 3 passed, 0 failed" in capsys.readouterr().out


def test_the_simulation_finds_that_without_gossip_the_chain_stalls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lost messages are only ever recovered by re-gossip: without it liveness must fail.
    monkeypatch.setattr(Tendermint, "gossip", lambda self: [])
    failures = [r.failure for r in map(sim.run, range(20)) if not r.ok]
    assert any(f is not None and f.startswith("liveness") for f in failures)

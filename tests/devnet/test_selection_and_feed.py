"""The devnet's books and its simulated index: what it lists, and marks that price like a chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from optex.core import InstrumentKind, InvalidInput, OptionType, asset
from optex.devnet import Devnet, DevnetConfig, DevnetReason, IndexFeed, select_instruments

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UNIT = asset("USDC").scale


def test_each_underlying_gets_a_perpetual_two_futures_and_the_nearest_strikes(
    tmp_path: Path,
) -> None:
    config = DevnetConfig(home=tmp_path, expiries=2, strikes=5)
    chosen = select_instruments(config, NOW)
    horizon = int((NOW + timedelta(days=2)).timestamp() * 1000)
    for underlying, spot in config.spots.items():
        mine = [i for i in chosen if i.underlying == underlying]
        kinds = [i.kind for i in mine]
        assert kinds.count(InstrumentKind.PERPETUAL) == 1
        assert kinds.count(InstrumentKind.FUTURE) == 2
        options = [i for i in mine if i.kind is InstrumentKind.OPTION]
        expiries = sorted({i.expiry_ms or 0 for i in options})
        assert len(expiries) == 2 and min(expiries) > horizon
        for expiry in expiries:
            group = [i for i in options if i.expiry_ms == expiry]
            strikes = {i.strike for i in group}
            assert len(strikes) == 5 and len(group) == 10
            assert {i.option_type for i in group} == {OptionType.CALL, OptionType.PUT}
            # the five nearest: no listed strike left out is nearer the spot than one chosen
            assert max(abs((k or 0) - spot * UNIT) for k in strikes) < spot * UNIT * 0.5
    assert [i.name for i in chosen] == sorted(i.name for i in chosen)


def test_the_same_seed_gives_the_same_index_path() -> None:
    one = IndexFeed({"BTC": 95_000.0}, 0.55, seed=3)
    two = IndexFeed({"BTC": 95_000.0}, 0.55, seed=3)
    other = IndexFeed({"BTC": 95_000.0}, 0.55, seed=4)
    path_one = [one.step(1.0)["BTC"] for _ in range(50)]
    assert path_one == [two.step(1.0)["BTC"] for _ in range(50)]
    assert path_one != [other.step(1.0)["BTC"] for _ in range(50)]


def test_index_moves_have_the_configured_volatility() -> None:
    feed = IndexFeed({"ETH": 3_500.0}, 0.5, seed=11)
    levels = np.array([feed.step(3600.0)["ETH"] for _ in range(20_000)], dtype=float)
    hourly = np.diff(np.log(levels))
    annualised = hourly.std() * np.sqrt(365 * 24)
    assert annualised == pytest.approx(0.5, rel=0.03)


def test_option_marks_carry_the_smile_and_greeks_and_futures_mark_at_the_index(
    tmp_path: Path,
) -> None:
    config = DevnetConfig(home=tmp_path)
    instruments = select_instruments(config, NOW)
    feed = IndexFeed(config.spots, config.vol, seed=1)
    now_ms = int(NOW.timestamp() * 1000)
    marks = feed.marks(instruments, now_ms)
    assert set(marks) == {i.name for i in instruments}
    index = feed.units()
    for instrument in instruments:
        mark = marks[instrument.name]
        if instrument.kind is not InstrumentKind.OPTION:
            assert mark.price == index[instrument.underlying]
            continue
        assert mark.iv is not None and 0.3 < mark.iv < 1.2
        assert mark.price > 0 and mark.vega > 0 and mark.gamma > 0
        if instrument.option_type is OptionType.CALL:
            assert 0 < mark.delta < 1
        else:
            assert -1 < mark.delta < 0
    # the at-the-money-most option is priced at the configured volatility, within the smile
    atm = min(
        (i for i in instruments if i.kind is InstrumentKind.OPTION and i.underlying == "BTC"),
        key=lambda i: abs((i.strike or 0) - index["BTC"]),
    )
    assert marks[atm.name].iv == pytest.approx(config.vol, abs=0.02)


@pytest.mark.parametrize(
    ("field", "value"),
    [("validators", 0), ("validators", 17), ("expiries", 0), ("strikes", 41), ("step_s", 0.0),
     ("vol", -0.1), ("steps", -1)],
)  # fmt: skip
def test_settings_out_of_range_are_refused_before_anything_starts(
    tmp_path: Path, field: str, value: float
) -> None:
    config = DevnetConfig(home=tmp_path / "home", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as caught:
        Devnet(config, Console(quiet=True))
    assert caught.value.code is DevnetReason.INVALID_DEVNET_CONFIG
    assert not (tmp_path / "home").exists()


def test_a_home_written_with_other_settings_is_refused(tmp_path: Path) -> None:
    (tmp_path / "devnet.json").write_text(json.dumps({"validators": 4, "seed": 7}))
    devnet = Devnet(DevnetConfig(home=tmp_path, validators=3), Console(quiet=True))
    with pytest.raises(InvalidInput) as caught:
        devnet.start()
    assert caught.value.code is DevnetReason.HOME_MISMATCH
    assert not (tmp_path / "chain").exists()

"""The simulation report: market maker P&L, inventory and greeks over time, algorithm slippage.

:class:`Report` is plain data and a deterministic function of the scenario and the seed (it
holds no wall-clock figures), so two runs with the same seed encode to the same bytes.
:func:`write_report` saves it as ``report.json`` and ``report.md`` with PNG plots;
:func:`report_tables` renders the same tables for a terminal with rich.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from rich.table import Table

from optex.agents import ExecutionReport

if TYPE_CHECKING:
    from optex.sim._loop import Simulation


class McSample(msgspec.Struct, frozen=True):
    """The market maker at one moment: P&L in USDC, inventory in lots, greeks (see
    :class:`optex.agents.Greeks` for units), the perpetual hedge in whole underlying."""

    t_s: float
    index: float
    pnl: float
    spread_pnl: float
    net_option_lots: int
    gross_option_lots: int
    max_option_lots: int
    perp_position: float
    delta: float
    gamma: float
    vega: float
    theta: float


class McSummary(msgspec.Struct, frozen=True):
    """The market maker over the whole run."""

    pnl: float
    spread_pnl: float
    fills: int
    hedges: int
    mmp_trips: int
    mass_quotes: int
    reduce_only_quotes: int
    """Mass quotes sent reduce-only because initial margin was close to equity."""
    max_option_lots: int
    options_quoted: int


class Report(msgspec.Struct, frozen=True):
    """Everything one run produced (deterministic for a scenario and a seed)."""

    scenario: str
    seed: int
    model: str
    steps: int
    step_ms: int
    events: int
    state_hash: str
    """The home engine's state hash at the end: equal for equal runs."""
    market_maker: McSummary
    samples: list[McSample]
    algos: list[ExecutionReport]


def build_report(sim: Simulation) -> Report:
    """The report of a finished simulation."""
    mm = sim.market_maker
    samples = list(sim.samples)
    last = samples[-1] if samples else None
    return Report(
        scenario=sim.scenario.name,
        seed=sim.seed,
        model=type(sim.scenario.model).__name__.lower(),
        steps=sim.steps_done,
        step_ms=sim.scenario.step_ms,
        events=sim.events,
        state_hash=sim.home.engine.state_hash().hex(),
        market_maker=McSummary(
            pnl=last.pnl if last else 0.0,
            spread_pnl=mm.spread_pnl,
            fills=mm.fills,
            hedges=mm.hedges,
            mmp_trips=mm.mmp_trips,
            mass_quotes=mm.quotes_sent,
            reduce_only_quotes=mm.tight_quotes,
            max_option_lots=max((s.max_option_lots for s in samples), default=0),
            options_quoted=len(mm.options),
        ),
        samples=samples,
        algos=[algo.report() for algo in sim.algos],
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mm_rows(report: Report) -> list[tuple[str, str]]:
    m = report.market_maker
    last = report.samples[-1] if report.samples else None
    return [
        ("P&L (USDC, at marks)", _fmt(m.pnl)),
        ("spread P&L (USDC)", _fmt(m.spread_pnl)),
        ("fills", str(m.fills)),
        ("delta hedges", str(m.hedges)),
        ("MMP trips", str(m.mmp_trips)),
        ("mass quotes", str(m.mass_quotes)),
        ("reduce-only mass quotes (margin)", str(m.reduce_only_quotes)),
        ("options quoted", str(m.options_quoted)),
        ("largest position in one option (lots)", str(m.max_option_lots)),
        ("final delta", _fmt(last.delta if last else None, 4)),
        ("final vega (USDC / vol)", _fmt(last.vega if last else None)),
    ]


_ALGO_HEADER = (
    "algorithm",
    "instrument",
    "side",
    "filled",
    "arrival",
    "avg price",
    "VWAP",
    "bps/arrival",
    "bps/VWAP",
    "orders",
)


def _algo_row(a: ExecutionReport) -> tuple[str, ...]:
    scale = 1e6
    return (
        a.algorithm,
        a.instrument,
        a.side,
        f"{a.fill_rate:.0%}",
        _fmt(a.arrival_price / scale if a.arrival_price else None, 1),
        _fmt(a.average_price / scale if a.average_price else None, 1),
        _fmt(a.market_vwap / scale if a.market_vwap else None, 1),
        _fmt(a.slippage_bps, 1),
        _fmt(a.vwap_slippage_bps, 1),
        str(a.children),
    )


def report_tables(report: Report) -> list[Table]:
    """The market maker's and the algorithms' tables, for a rich console."""
    mm = Table(title=f"market maker — {report.scenario} (seed {report.seed}, {report.model})")
    mm.add_column("figure")
    mm.add_column("value", justify="right")
    for row in _mm_rows(report):
        mm.add_row(*row)
    algos = Table(title="execution algorithms (prices in USDC; slippage positive = cost)")
    for i, name in enumerate(_ALGO_HEADER):
        # Names never wrap: on a narrow terminal the figures' columns give way instead.
        algos.add_column(name, justify="left" if i < 3 else "right", no_wrap=i < 2)
    for a in report.algos:
        algos.add_row(*_algo_row(a))
    return [mm, algos]


def report_markdown(report: Report) -> str:
    """The report's tables as Markdown."""
    lines = [
        f"# Simulation report: {report.scenario}",
        "",
        f"Seed {report.seed}, model {report.model}, {report.steps} steps of {report.step_ms} ms, "
        f"{report.events} engine events, final state hash `{report.state_hash[:16]}`.",
        "",
        "## Market maker",
        "",
        "| figure | value |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in _mm_rows(report)),
        "",
        "## Execution algorithms",
        "",
        "| " + " | ".join(_ALGO_HEADER) + " |",
        "| " + " | ".join("---" if i < 3 else "---:" for i in range(len(_ALGO_HEADER))) + " |",
        *("| " + " | ".join(_algo_row(a)) + " |" for a in report.algos),
        "",
        "![P&L](mm_pnl.png)",
        "![inventory](mm_inventory.png)",
        "![greeks](mm_greeks.png)",
    ]
    if report.algos:
        lines.append("![slippage](algo_slippage.png)")
    return "\n".join(lines) + "\n"


def write_report(report: Report, out: str | Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``out``; return the paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "report.md"]
    written[0].write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    written[1].write_text(report_markdown(report), encoding="utf-8")
    written += _plots(report, folder)
    return written


def _plots(report: Report, folder: Path) -> list[Path]:
    # matplotlib takes most of a second to import; only writing a report needs it.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # files only: never a window, whatever the environment says
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t = [s.t_s for s in report.samples]
    paths: list[Path] = []

    def save(fig: object, name: str) -> None:
        path = folder / name
        fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths.append(path)

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [s.pnl for s in report.samples], label="P&L at marks")
    ax.plot(t, [s.spread_pnl for s in report.samples], label="spread P&L")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("USDC")
    ax.set_title("market maker P&L")
    ax.legend()
    fig.tight_layout()
    save(fig, "mm_pnl.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(t, [s.net_option_lots for s in report.samples], label="net option lots")
    ax.plot(t, [s.gross_option_lots for s in report.samples], label="gross option lots")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("lots")
    ax2 = ax.twinx()
    ax2.plot(t, [s.perp_position for s in report.samples], "k--", label="perpetual hedge")
    ax2.set_ylabel("underlying")
    ax.set_title("market maker inventory")
    ax.legend(loc="upper left")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    save(fig, "mm_inventory.png")

    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    for ax, field in zip(axes.flat, ("delta", "gamma", "vega", "theta"), strict=True):
        ax.plot(t, [getattr(s, field) for s in report.samples])
        ax.set_title(field)
    for ax in axes[1]:
        ax.set_xlabel("time (s)")
    fig.suptitle("market maker greeks")
    fig.tight_layout()
    save(fig, "mm_greeks.png")

    if report.algos:
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = [f"{i}:{a.algorithm}" for i, a in enumerate(report.algos)]
        arrival = [a.slippage_bps or 0.0 for a in report.algos]
        vwap = [a.vwap_slippage_bps or 0.0 for a in report.algos]
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], arrival, width=0.4, label="vs arrival")
        ax.bar([i + 0.2 for i in x], vwap, width=0.4, label="vs VWAP")
        ax.set_xticks(list(x), labels, rotation=30, ha="right")
        ax.set_ylabel("bps (positive = cost)")
        ax.set_title("execution slippage")
        ax.legend()
        fig.tight_layout()
        save(fig, "algo_slippage.png")
    return paths

"""The replenishment backtest: the engine against the demo's own reorder rule on the demo company's history.

    python -m evals.planning.backtest [--items 2000] [--months 24] [--warmup-weeks 26] [--seed 7]

Generates the demo company in a temporary SQLite database, replays its history week by week from the end of
a warm-up (each week's plan reads only the weeks before it), runs the engine over several service levels
and the demo's rule on the same demand, lead times and starting stock, and writes evals/results/backtest.md,
.json, .svg and .png (fill rate against average inventory value).
"""

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from core import clock, schema
from core.db import Database
from core.demo import DemoConfig, load_demo
from core.demo.company import months_before
from evals.common.results import RESULTS_DIR
from evals.planning.plot import Point, fill_rate_chart, svg_to_png
from evals.planning.policies import DEFAULT_SERVICE, EngineSettings, Forecasts, demo_plan, engine_plan, uniform_service
from evals.planning.report import dominance, readings, results_page, results_table
from evals.planning.simulation import Outcome, Policy, simulate
from evals.planning.world import World, load_world, weekly_history

SERVICE_LEVELS = (0.80, 0.90, 0.95, 0.98, 0.995, 0.999)

STEM = "backtest"


@dataclass(frozen=True)
class Setup:
    items: int = 2000
    customers: int = 150
    months: int = 24
    warmup_weeks: int = 26
    seed: int = 7


def demo_world(setup: Setup, folder: Path) -> World:
    """The demo company generated into a SQLite file under `folder`, read back as a replay world."""
    db = Database.from_url(f"sqlite:///{folder / 'demo.db'}")
    try:
        schema.upgrade(db.engine)
        load_demo(
            db, DemoConfig(seed=setup.seed, items=setup.items, customers=setup.customers, history_months=setup.months)
        )
        end = clock.today()
        start = months_before(end, setup.months)
        with db.session() as session:
            return load_world(session, start=start, end=end, warmup_weeks=setup.warmup_weeks)
    finally:
        db.dispose()


BASELINES = ("demo rule", "demo rule, hindsight rate")
VARIANTS = {  # name -> (rebalances, protect_sources, urgent_transfers, over the service levels too)
    "engine + transfers": (True, False, False, True),
    "engine + transfers, sources protected": (True, True, False, False),
    "engine + urgent transfers, sources protected": (True, True, True, True),
    "engine, no transfers": (False, False, False, True),
}
PER_CLASS = "A/B/C .98/.95/.90"


def policies() -> list[Policy]:
    """The baseline (causal, and as the demo made it), then each engine variant at per-class and uniform levels."""
    runs = [Policy(BASELINES[0], demo_plan()), Policy(BASELINES[1], demo_plan(hindsight=True))]
    forecasts: Forecasts = {}  # every engine variant replays the same history: each forecast is made once
    for variant, (rebalances, protect, urgent, curve) in VARIANTS.items():
        levels = [(PER_CLASS, DEFAULT_SERVICE)]
        levels += [(f"{v:g}", uniform_service(v)) for v in SERVICE_LEVELS] if curve else []
        for label, service in levels:
            settings = EngineSettings(service, protect_sources=protect, urgent_transfers=urgent)
            runs.append(Policy(f"{variant} @ {label}", engine_plan(settings, forecasts), rebalances))
    return runs


def run(world: World, chosen: Sequence[Policy]) -> list[tuple[Outcome, float]]:
    """Each policy's outcome and its seconds, all on the one world (the same demand, lead times and stock)."""
    history = weekly_history(world)
    results = []
    for policy in chosen:
        began = time.perf_counter()
        results.append((simulate(world, policy, history), time.perf_counter() - began))
    return results


def figures(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome) | {
        "fill_rate": outcome.fill_rate,
        "line_fill_rate": outcome.line_fill_rate,
        "on_time_rate": outcome.on_time_rate,
        "turns": outcome.turns,
    }


def chart_series(results: Sequence[tuple[Outcome, float]]) -> tuple[dict[str, list[Point]], list[Point]]:
    """One curve per engine variant over the uniform service levels; the baselines as points."""
    curves: dict[str, list[Point]] = {}
    for o, _ in results:
        variant, _, label = o.policy.partition(" @ ")
        if variant in VARIANTS and VARIANTS[variant][3] and label != PER_CLASS:
            curves.setdefault(variant, []).append(Point(label, o.average_inventory, o.fill_rate))
    points = [Point(o.policy, o.average_inventory, o.fill_rate) for o, _ in results if o.policy in BASELINES]
    return curves, points


def world_summary(world: World) -> dict[str, Any]:
    replayed = [s for s in world.sales if s.day >= world.first_day]
    sold = {s.key for s in world.sales}
    return {
        "keys": len(world.keys),
        "keys_without_supplier": sum(1 for k in world.keys if k not in world.supplier_of),
        "replayed_days": world.end_day - world.first_day,
        "history_days": world.end_day,
        "order_lines": len(replayed),
        "units_ordered": sum(s.units for s in replayed),
        "opening_value": sum(u * world.unit_cost.get(k[0], 0.0) for k, u in world.opening.items()),
        # stock where nothing is ever ordered (the demo's obsolete items): no policy touches it, every run holds it
        "idle_value": sum(u * world.unit_cost.get(k[0], 0.0) for k, u in world.opening.items() if k not in sold),
        "pipeline_arrivals": len(world.pipeline),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.planning.backtest", description=__doc__.splitlines()[0])
    defaults = Setup()
    parser.add_argument("--items", type=int, default=defaults.items, help=f"demo items (default {defaults.items})")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--months", type=int, default=defaults.months, help="months of history")
    parser.add_argument("--warmup-weeks", type=int, default=defaults.warmup_weeks, help="history before the replay")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-png", action="store_true", help="skip the PNG (needs Chromium)")
    parser.add_argument("--replot", action="store_true", help="redraw the page and plot from backtest.json")
    args = parser.parse_args(argv)
    if args.replot:
        data, results = read_back(args.results_dir)
    else:
        setup = Setup(args.items, args.customers, args.months, args.warmup_weeks, args.seed)
        began = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="backtest-") as folder:
            world = demo_world(setup, Path(folder))
        data = {
            "run_on": date.today().isoformat(),
            "setup": asdict(setup),
            "world": world_summary(world),
            "default_service": DEFAULT_SERVICE,
            "generate_and_load_seconds": time.perf_counter() - began,
        }
        results = run(world, policies())
    write(args.results_dir, data, results, png=not args.no_png)
    print(results_table(results))
    return 0


def write(folder: Path, data: dict[str, Any], results: Sequence[tuple[Outcome, float]], png: bool) -> None:
    """backtest.json (every figure), .svg and .png (the trade-off plot) and .md (the page) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = data | {"results": [figures(o) | {"seconds": s} for o, s in results]}
    (folder / f"{STEM}.json").write_text(json.dumps(data, indent=1) + "\n")
    curves, points = chart_series(results)
    svg = fill_rate_chart(curves, points)
    (folder / f"{STEM}.svg").write_text(svg)
    if png:
        svg_to_png(svg, folder / f"{STEM}.png")
    page = results_page(data, results, readings(curves, points), dominance(results, BASELINES))
    (folder / f"{STEM}.md").write_text(page)


def read_back(folder: Path) -> tuple[dict[str, Any], list[tuple[Outcome, float]]]:
    """A run's figures from its backtest.json, to redraw the page and plot without replaying."""
    data = json.loads((folder / f"{STEM}.json").read_text())
    names = {f.name for f in fields(Outcome)}
    results = [(Outcome(**{k: v for k, v in r.items() if k in names}), r["seconds"]) for r in data["results"]]
    return data, results


if __name__ == "__main__":
    raise SystemExit(main())

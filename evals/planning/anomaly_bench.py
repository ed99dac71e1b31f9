"""How well the demand-anomaly detector finds anomalies of known size, and how often it cries wolf.

A demo company is generated in a temporary SQLite file; its weekly demand per (item, warehouse) over the
last year is the clean history. Then, for each size (2, 3, 5 robust SDs) and direction (spike, drop), one
week of the detector's recent window is chosen at random in each series and changed by that many robust
SDs (the scale the detector itself measures for that week from the weeks before it): a spike adds
ceil(k x scale) units, a drop takes them away (only where the week has that many units to lose). The detector
then runs over the window of every series:

- recall    = planted weeks flagged in the planted direction / planted weeks
- precision = those hits / every flag in the planted series' windows
- false-alarm rate = flags on the clean history / weeks the detector judged (and / all series-weeks)

    python -m evals.planning.anomaly_bench [--items 500] [--months 12] [--seed 7]
"""

import argparse
import json
import math
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from core import schema
from core.db import Database
from core.demo import DemoConfig, load_demo
from core.planning.accuracy import accuracy_of, accuracy_params, unit_costs
from core.planning.anomalies import AnomalyParams, anomalous_weeks, anomaly_params, score_week
from core.planning.demand import history_window
from core.planning.forecast import DemandClass, DemandParams, classify, demand_params
from core.planning.history import Key, weekly_demand
from evals.common.results import RESULTS_DIR

AS_OF = date(2026, 11, 20)
SIZES = (2.0, 3.0, 5.0)
SWEEP = (3.0, 3.5, 4.5, 6.0)  # thresholds for the trade-off table
DIRECTIONS = ("spike", "drop")
STEM = "planning-anomalies"
COST_FILE = RESULTS_DIR / "planning-forecast-cost.json"


@dataclass(frozen=True)
class Run:
    size: float
    direction: str
    planted: int
    unplantable: int  # series whose chosen week had no scale yet, or too few units to drop
    hits: int
    flags: int
    slow_planted: int
    slow_hits: int

    @property
    def recall(self) -> float | None:
        return self.hits / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        return self.hits / self.flags if self.flags else None


def demo_history(items: int, months: int, seed: int, weeks: int) -> tuple[dict[Key, list[int]], dict[Key, float]]:
    """The weekly demand of a freshly generated demo company, and each series' item's standard cost."""
    with tempfile.TemporaryDirectory() as folder:
        db = Database.from_url(f"sqlite:///{Path(folder) / 'bench.db'}")
        schema.upgrade(db.engine)
        load_demo(db, DemoConfig(seed=seed, items=items, history_months=months, as_of=AS_OF))
        history = db.read(lambda s: weekly_demand(s, as_of=AS_OF, weeks=history_window(s, as_of=AS_OF, wanted=weeks)))
        costs = db.read(lambda s: unit_costs(s, list(history)))
        db.engine.dispose()
    return history, costs


def clean_rate(history: dict[Key, list[int]], demand: DemandParams, params: AnomalyParams) -> dict[str, Any]:
    """Flags on the unchanged history: per week judged and per series-week of the window."""
    judged = flags = 0
    for series in history.values():
        start = len(series) - params.window_weeks
        weeks = [score_week(series, t, demand, params) for t in range(start, len(series))]
        judged += sum(w.judged for w in weeks)
        flags += len(anomalous_weeks(series, demand, params))
    cells = len(history) * params.window_weeks
    return {
        "series": len(history),
        "series_weeks": cells,
        "judged_weeks": judged,
        "flags": flags,
        "rate_per_judged_week": flags / judged if judged else None,
        "rate_per_series_week": flags / cells,
    }


def planted_run(
    history: dict[Key, list[int]], size: float, direction: str, demand: DemandParams, params: AnomalyParams, seed: int
) -> Run:
    """One week per series changed by `size` robust SDs in `direction`, then the detector over every window."""
    rng = random.Random(f"{seed}:{size}:{direction}")
    planted = unplantable = hits = flags = slow_planted = slow_hits = 0
    for key in sorted(history):
        series = list(history[key])
        t = len(series) - 1 - rng.randrange(params.window_weeks)
        week = score_week(series, t, demand, params)
        change = math.ceil(size * week.scale)
        base = series[t] if series[t] > 0 else round(week.usual)  # an empty week of a slow mover: its usual order
        if week.scale <= 0 or (direction == "drop" and base < change):
            unplantable += 1
            continue
        series[t] = base + change if direction == "spike" else base - change
        found = anomalous_weeks(series, demand, params)
        hit = any(w.week == t and (w.score > 0) == (direction == "spike") for w in found)
        slow = classify(series[:t], demand).demand_class in (DemandClass.INTERMITTENT, DemandClass.LUMPY)
        planted, hits, flags = planted + 1, hits + hit, flags + len(found)
        slow_planted, slow_hits = slow_planted + slow, slow_hits + (hit and slow)
    return Run(size, direction, planted, unplantable, hits, flags, slow_planted, slow_hits)


def sweep(
    history: dict[Key, list[int]], demand: DemandParams, params: AnomalyParams, seed: int
) -> list[dict[str, Any]]:
    """False alarms and recall of 3 and 5 SD spikes at other thresholds (everything else as configured)."""
    rows = []
    for threshold in SWEEP:
        at = params.model_copy(update={"threshold": threshold})
        clean = clean_rate(history, demand, at)
        recall = {
            f"recall_{k:g}sd_spike": planted_run(history, k, "spike", demand, at, seed).recall for k in (3.0, 5.0)
        }
        rows.append(
            {
                "threshold": threshold,
                **recall,
                "flags": clean["flags"],
                "rate_per_judged_week": clean["rate_per_judged_week"],
                "rate_per_series_week": clean["rate_per_series_week"],
            }
        )
    return rows


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def page(data: dict[str, Any], runs: list[Run]) -> str:
    clean = data["clean"]
    lines = [
        "# Demand anomalies: planted anomalies found, and false alarms on the clean history",
        "",
        f"Generated by `python -m evals.planning.anomaly_bench` on {data['company']}; "
        f"{clean['series']} (item, warehouse) series of {data['history_weeks']} weeks, the detector's window the "
        f"last {data['params']['window_weeks']} weeks, threshold {data['params']['threshold']} robust SDs and at "
        f"least {data['params']['min_units']} units from the forecast. Run time {data['seconds']:.0f} s.",
        "",
        "Each planted week was changed by k robust SDs, the scale the detector measures for that week from the",
        "weeks before it (1.4826 x MAD of the forecast's one-step errors, or of a slow mover's non-zero weeks; at",
        "least 1 unit): a spike adds ceil(k x",
        "scale) units to what was ordered that week, a drop takes them away where the week had that many units",
        "(an empty week of a slow mover first gets its usual order size: the median of its earlier non-zero weeks).",
        "Precision counts every flag in the planted series' windows, so it includes the clean history's own",
        "flags. Slow movers (intermittent or lumpy) are judged only in weeks with demand, so a drop into an",
        "empty week can never be seen. Every series of the 12-month demo is intermittent or lumpy (none smooth).",
        "",
        "| size | direction | planted | not plantable | recall | precision | recall, slow movers |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        slow = r.slow_hits / r.slow_planted if r.slow_planted else None
        lines.append(
            f"| {r.size:g} SD | {r.direction} | {r.planted} | {r.unplantable} | {pct(r.recall)} | "
            f"{pct(r.precision)} | {pct(slow)} ({r.slow_planted}) |"
        )
    lines += [
        "",
        "## False alarms on the clean history",
        "",
        f"{clean['flags']} flags in {clean['series_weeks']} series-weeks ({pct(clean['rate_per_series_week'])}); "
        f"{clean['judged_weeks']} of those weeks were judged (the others: too little history, or an empty week "
        f"of a slow mover), a rate of {pct(clean['rate_per_judged_week'])} per judged week. The demo's order "
        "quantities are log-normal, so some of these flags are real large orders rather than errors.",
        "",
        "## The threshold's trade-off",
        "",
        "The same history and plants at other thresholds (`anomalies.threshold` in the planning file):",
        "",
        "| threshold | false alarms | per judged week | per series-week | recall, 3 SD spikes | recall, 5 SD spikes |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['threshold']:g} | {r['flags']} | {pct(r['rate_per_judged_week'])} | "
            f"{pct(r['rate_per_series_week'])} | {pct(r['recall_3sd_spike'])} | {pct(r['recall_5sd_spike'])} |"
            for r in data["sweep"]
        ),
        "",
        "## Forecast accuracy on the same history",
        "",
        f"Each of the last {data['accuracy_holdout_weeks']} weeks forecast one week ahead from the weeks before it "
        "(`core.planning.accuracy`): WAPE and bias weighted by standard cost (bias > 0: the forecast ran high), MAPE "
        "over weeks with demand only. Slow movers' one-week forecasts are a fraction of a unit against weeks of 0 or "
        "an order, so a one-week WAPE above 100% is what intermittent demand gives; what replenishment uses is the "
        "sum over a lead time, and the error measured here as error_sd.",
        "",
        "| class or method | series | weeks | WAPE | bias | MAPE | weeks with no demand |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {a['group']} | {a['keys']} | {a['weeks']} | {pct(a['wape'])} | {pct(a['bias'])} | {pct(a['mape'])} | "
            f"{a['zero_weeks']} |"
            for a in data["accuracy"]
        ),
        "",
    ]
    return "\n".join(lines) + why_numpy()


def why_numpy() -> str:
    """The statsforecast-versus-numpy cost section, from the figures `evals.planning.forecast_cost` measured."""
    if not COST_FILE.exists():
        return "\n## Why numpy\n\nNot measured yet: run `evals/planning/forecast_cost.py` (see its docstring).\n"
    cost = json.loads(COST_FILE.read_text())
    sf, mine = cost["statsforecast"], cost["numpy"]
    return "\n".join(
        [
            "",
            "## Why numpy",
            "",
            f"Measured by `evals/planning/forecast_cost.py` on this machine (2 shared cores), {sf['series']} weekly "
            f"series of {sf['weeks']} weeks (a demo-like mix of intermittent and lumpy demand):",
            "",
            "| | statsforecast " + sf["version"] + " | numpy (core/planning/forecast.py) |",
            "|---|---:|---:|",
            f"| install size (fresh venv) | {sf['install_mb']:.0f} MB ({sf['packages']} packages) | "
            f"{mine['numpy_mb']:.0f} MB (numpy) |",
            f"| added to this project | {sf['added_mb']:.0f} MB ({len(sf['added_packages'])} packages) | 0 MB |",
            f"| import time | {sf['import_s']:.2f} s | {mine['import_s']:.2f} s |",
            f"| first fit (includes any compilation) | {sf['first_fit_s']:.1f} s | - |",
            f"| fit {sf['series']} series, CrostonSBA + TSB + SES | {sf['fit_s']:.2f} s | "
            f"{mine['fit_s']:.2f} s (SBA + TSB + SES, with in-sample errors) |",
            f"| fit {sf['series']} series, AutoETS (fitted parameters) | {sf['auto_ets_fit_s']:.2f} s | - |",
            f"| fit {sf['series']} series, the product's full choice | - | {mine['choose_s']:.2f} s |",
            "",
            cost.get("verdict", ""),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    started = time.process_time()
    demand, params = demand_params(), anomaly_params()
    history, costs = demo_history(args.items, args.months, args.seed, demand.history_weeks)
    accuracy = accuracy_of(history, costs, params=accuracy_params(), demand=demand)
    clean = clean_rate(history, demand, params)
    runs = [planted_run(history, k, d, demand, params, args.seed) for k in SIZES for d in DIRECTIONS]
    data = {
        "company": f"the demo company (seed {args.seed}, {args.items} items, {args.months} months of history, "
        f"as of {AS_OF})",
        "history_weeks": len(next(iter(history.values()))),
        "params": params.model_dump(),
        "clean": clean,
        "runs": [{**r.__dict__, "recall": r.recall, "precision": r.precision} for r in runs],
        "sweep": sweep(history, demand, params, args.seed),
        "accuracy": [a.__dict__ for a in [*accuracy.by_class, *accuracy.by_method, accuracy.overall]],
        "accuracy_holdout_weeks": accuracy.holdout_weeks,
        "seconds": time.process_time() - started,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{STEM}.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.results_dir / f"{STEM}.md").write_text(page(data, runs))
    print(page(data, runs))


if __name__ == "__main__":
    main()

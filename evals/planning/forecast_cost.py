"""What statsforecast would cost against the numpy forecasts of core/planning/forecast.py.

statsforecast is not a dependency of the project: it is measured in a throwaway venv,

    python3 -m venv /tmp/sfvenv && /tmp/sfvenv/bin/pip install statsforecast
    python -m evals.planning.forecast_cost --sf-python /tmp/sfvenv/bin/python

which runs this file again under that venv's Python (`--statsforecast`, stdlib and numpy imports only at the top)
for install size, import time and the time to fit the same series, then times the numpy functions here and
writes evals/results/planning-forecast-cost.json (read by the anomaly benchmark's page, section "Why numpy").
The series are demo-like: 500 weekly series of 52 weeks, demand in a week with probability 0.1-0.9 and
log-normal sizes.
"""

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

SERIES, WEEKS, SEED = 500, 52, 7
REPEATS = 5  # each fit's time is the best of this many (the machine is shared); each venv's import the best of 3
RESULT = Path(__file__).resolve().parents[1] / "results" / "planning-forecast-cost.json"


def demo_like_series() -> np.ndarray:
    rng = np.random.default_rng(SEED)
    chance = rng.uniform(0.1, 0.9, size=(SERIES, 1))
    happens = rng.random((SERIES, WEEKS)) < chance
    sizes = np.maximum(1, np.round(rng.lognormal(1.5, 0.6, size=(SERIES, WEEKS))))
    return np.where(happens, sizes, 0.0)


def measure_statsforecast() -> dict[str, Any]:
    """Run under the throwaway venv: its size, the import, the first fit (compilation) and a second fit."""
    import importlib.metadata
    import site

    packages = Path(site.getsitepackages()[0])
    size = sum(f.stat().st_size for f in packages.rglob("*") if f.is_file())
    started = time.perf_counter()
    import pandas as pd  # type: ignore[import-untyped]
    from statsforecast import StatsForecast  # type: ignore[import-not-found]
    from statsforecast.models import TSB, AutoETS, CrostonSBA, SimpleExponentialSmoothing  # type: ignore[import-not-found]

    imported = time.perf_counter() - started
    y = demo_like_series()
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(SERIES), WEEKS),
            "ds": np.tile(pd.date_range("2025-11-21", periods=WEEKS, freq="W-FRI"), SERIES),
            "y": y.ravel(),
        }
    )

    def fit(models: list[Any]) -> float:
        began = time.perf_counter()
        StatsForecast(models=models, freq="W-FRI", n_jobs=1).forecast(df=frame, h=13)
        return time.perf_counter() - began

    plain = [CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1), SimpleExponentialSmoothing(alpha=0.2)]
    first = fit(plain)
    again = min(fit(plain) for _ in range(REPEATS))
    auto_ets = min(fit([AutoETS(season_length=1)]) for _ in range(REPEATS))
    dists = list(importlib.metadata.distributions())
    sizes = {
        d.metadata["Name"].lower(): sum(
            Path(f.locate()).stat().st_size for f in d.files or [] if Path(f.locate()).is_file()
        )
        for d in dists
    }
    return {
        "dist_mb": {name: mb / 1e6 for name, mb in sorted(sizes.items(), key=lambda kv: -kv[1])},
        "version": importlib.metadata.version("statsforecast"),
        "install_mb": size / 1e6,
        "packages": len(dists) - 2,  # pip and setuptools come with any venv
        "import_s": imported,
        "first_fit_s": first,
        "fit_s": again,
        "auto_ets_fit_s": auto_ets,
        "series": SERIES,
        "weeks": WEEKS,
    }


def dist_size(dist: Any) -> int:
    """Bytes of the files an installed distribution lists."""
    paths = (Path(f.locate()) for f in dist.files or [])
    return sum(p.stat().st_size for p in paths if p.is_file())


def measure_numpy() -> dict[str, Any]:
    started = time.perf_counter()
    from core.planning import forecast as f

    imported = time.perf_counter() - started
    params = f.DemandParams()
    y = demo_like_series()

    def plain() -> float:
        began = time.perf_counter()
        for row in y:
            f.sba(row, 13, params.croston_alpha)
            f.tsb(row, 13, params.tsb_alpha, params.tsb_beta)
            f.ses(row, 13, params.alpha)
        return time.perf_counter() - began

    def chosen() -> float:
        began = time.perf_counter()
        for row in y:
            f.forecast(row, 13, params)
        return time.perf_counter() - began

    fitted = min(plain() for _ in range(REPEATS))
    choose = min(chosen() for _ in range(REPEATS))
    numpy_dir = Path(np.__file__).parent
    numpy_mb = sum(p.stat().st_size for p in numpy_dir.rglob("*") if p.is_file()) / 1e6
    return {"import_s": imported, "fit_s": fitted, "choose_s": choose, "numpy_mb": numpy_mb}


def _statsforecast_run(python: str) -> dict[str, Any]:
    """One measurement in a fresh process of the throwaway venv (a fresh import each time)."""
    done = subprocess.run([python, __file__, "--statsforecast"], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statsforecast", action="store_true", help="measure statsforecast (in its venv)")
    parser.add_argument("--sf-python", help="the throwaway venv's python, e.g. /tmp/sfvenv/bin/python")
    args = parser.parse_args()
    if args.statsforecast:
        print(json.dumps(measure_statsforecast()))
        return
    if not args.sf_python:
        parser.error("give --sf-python (the venv where statsforecast is installed)")
    runs = [_statsforecast_run(args.sf_python) for _ in range(3)]
    sf = {**runs[0], **{k: min(r[k] for r in runs) for k in ("import_s", "first_fit_s", "fit_s", "auto_ets_fit_s")}}
    mine = measure_numpy()
    import importlib.metadata

    have = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    sf["added_mb"] = sum(mb for name, mb in sf["dist_mb"].items() if name not in have)
    sf["added_packages"] = sorted(name for name in sf["dist_mb"] if name not in have)
    pace = "faster" if sf["fit_s"] < mine["fit_s"] else "slower"
    verdict = (
        f"statsforecast is a {sf['install_mb']:.0f} MB install; to this project (which has numpy and scipy already) "
        f"it would add {sf['added_mb']:.0f} MB in {len(sf['added_packages'])} packages "
        f"({', '.join(sf['added_packages'])}) and {sf['import_s']:.1f} s of import at start-up. It fits "
        f"{sf['series']} series in {sf['fit_s']:.2f} s where the numpy functions take {mine['fit_s']:.2f} s: "
        f"{pace}, and either is a rounding error beside a planning run's database reads. (Timings on a busy "
        "shared machine vary by a factor of 2-5 between runs; each figure is the best of several.) The methods "
        "are a recursion of a few lines each, checked by hand in the tests, and the product needs each method's "
        "in-sample one-step errors (for error_sd and the anomaly scores) and its class-by-class choice, which it "
        "computes itself either way. statsforecast does not clearly win, so: numpy."
    )
    RESULT.write_text(json.dumps({"statsforecast": sf, "numpy": mine, "verdict": verdict}, indent=1) + "\n")
    print(RESULT.read_text())


if __name__ == "__main__":
    main()

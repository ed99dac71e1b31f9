"""`python -m evals.scenarios.merge RUN.json ... [--out DIR]`: one report from runs of disjoint task sets.

A long run split over machines (`--shard I/N`) or over time (`--tag` / `--skip-tag`) is judged as one:
the trials of every run, with pass^k, tags, wrong writes and contradictions computed over all of them.
Runs of different models or trial counts, or that share a task, are refused rather than mixed.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evals.scenarios.cli import RESULTS, TASKS
from evals.scenarios.report import save
from evals.scenarios.runner import Report, Trial
from evals.scenarios.task import load_tasks


def merged(runs: list[dict[str, Any]]) -> Report:
    """The runs' trials as one report; refuses runs that cannot be one."""
    for key in ("model", "k", "user_model"):
        values = {str(run.get(key)) for run in runs}
        if len(values) > 1:
            raise ValueError(f"the runs differ in {key}: {', '.join(sorted(values))}")
    seen: dict[str, int] = {}
    trials: list[Trial] = []
    for index, run in enumerate(runs):
        for task in {t["task"] for t in run["trials"]}:
            if task in seen:
                raise ValueError(f"task {task} is in run {seen[task] + 1} and run {index + 1}")
            seen[task] = index
        trials += [Trial(**t) for t in run["trials"]]
    first = runs[0]
    return Report(model=first["model"], trials=trials, k=first["k"], user_model=first.get("user_model"))


def main(
    runs: Annotated[list[Path], typer.Argument(help="The runs' JSON results (eval-<model>-latest.json).")],
    out: Annotated[Path, typer.Option(help="Where to write the merged results.")] = RESULTS,
) -> None:
    """Merge runs of disjoint task sets into one `eval-<model>-latest` report."""
    try:
        report = merged([json.loads(path.read_text()) for path in runs])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise typer.BadParameter(str(error)) from error
    ran = {t.task for t in report.trials}
    tasks = [t for t in load_tasks(TASKS) if t.id in ran]
    json_path, md_path = save(report, tasks, out, "merged: " + " + ".join(p.name for p in runs))
    typer.echo(f"{len(report.trials)} trials of {len(ran)} tasks: saved {md_path} and {json_path}")


if __name__ == "__main__":
    typer.run(main)

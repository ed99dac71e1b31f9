"""`erp-assistant eval`: the scenario tasks against a model, judged by the database state they leave.

The product does not import evals: this command reaches `erp-assistant` as a plugin (the entry point
group `erp_assistant.commands` in pyproject.toml), and `python -m evals.scenarios` runs it alone.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from assistant.channels.terminal.console import console, progress_bar

TASKS = Path(__file__).resolve().parents[1] / "tasks"
RESULTS = Path(__file__).resolve().parents[1] / "results"
T = TypeVar("T")


def evaluate(
    model: Annotated[str | None, typer.Option(help="A litellm model string; default: the configured model.")] = None,
    trials: Annotated[
        int,
        typer.Option(
            min=1, max=20, help="Trials per task, each in another wording of the task (pass^k uses k = trials)."
        ),
    ] = 3,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="Only tasks with this tag (repeatable).")] = None,
    skip_tags: Annotated[
        list[str] | None, typer.Option("--skip-tag", help="Leave out tasks with this tag (repeatable).")
    ] = None,
    user_model: Annotated[
        str | None,
        typer.Option(help="A model that plays the user of tasks with a goal (tau-bench's user simulator)."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: only every Nth of the chosen tasks, starting at the Ith (to split a run over N)."),
    ] = None,
) -> None:
    """Run the scenario tasks: each trial on a fresh copy of the demo company, the first in the task's own words and
    the others in its rephrasings; report pass^1 and pass^k overall and per tag, policy violations, wrong writes
    (exit 2 on either) and answers contradicting their results."""
    from assistant.llm.settings import model_settings
    from evals.scenarios.report import save
    from evals.scenarios.runner import demo_search, demo_template, run
    from evals.scenarios.task import load_tasks

    chosen = model or model_settings().model
    skipped = set(skip_tags or [])
    tasks = _shard_of([t for t in load_tasks(TASKS, tags) if not skipped & set(t.tags)], shard)
    if not tasks:
        console.print(f"no task has the tags {tags}")
        raise typer.Exit(code=1)
    with tempfile.TemporaryDirectory(prefix="erp-eval-") as work, progress_bar() as bar:
        template = demo_template(Path(work) / "demo.db")
        search = demo_search(template)
        progress = bar.add_task(f"{len(tasks)} tasks, {trials} trial(s) each", total=len(tasks) * trials)
        report = run(
            tasks,
            model=chosen,
            trials=trials,
            template=template,
            workdir=Path(work) / "trials",
            progress=lambda _: bar.advance(progress),
            user_model=user_model,
            search=search,
        )
    results = Path(os.environ.get("ERP_EVAL_RESULTS", RESULTS))
    json_path, md_path = save(report, tasks, results, "erp-assistant " + " ".join(sys.argv[1:]))
    console.print(md_path.read_text(), markup=False, highlight=False)
    console.print(f"saved {md_path} and {json_path}")
    if report.violations or report.wrong_writes:
        raise typer.Exit(code=2)


def _shard_of(tasks: list[T], shard: str | None) -> list[T]:
    """The Ith of N interleaved slices of `tasks` ("I/N", 1-based), or all of them."""
    if shard is None:
        return tasks
    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise typer.BadParameter(
            f"write the shard as I/N with 1 <= I <= N, e.g. 1/2; got {shard!r}", param_hint="--shard"
        )
    return tasks[int(index) - 1 :: int(count)]

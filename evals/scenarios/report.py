"""The results of a run, as JSON and a markdown table under evals/results/."""

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from evals.common.results import write_results
from evals.scenarios.runner import Report
from evals.scenarios.task import Task


def tag_rates(report: Report, tasks: list[Task]) -> dict[str, tuple[int, int]]:
    """Per tag: (trials, passed)."""
    tags = {t.id: t.tags for t in tasks}
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for trial in report.trials:
        for tag in tags.get(trial.task, []):
            rates[tag][0] += 1
            rates[tag][1] += int(trial.passed)
    return {tag: (n, c) for tag, (n, c) in sorted(rates.items())}


def markdown(report: Report, tasks: list[Task], command: str) -> str:
    trials = report.trials
    lines = [
        f"# Scenario evaluation: {report.model}, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Command: `{command}`" + (f"; simulated user: {report.user_model}" if report.user_model else ""),
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| tasks / trials each | {len(report.outcomes())} / {report.k} |",
        *[f"| pass^{k} | {report.pass_at(k):.3f} |" for k in sorted({1, report.k})],
        f"| policy violations | {report.violations} |",
        f"| wrong writes (confirmed, not what was asked) | {report.wrong_writes} |",
        f"| drafts previewed / confirmed | {sum(len(t.previewed) for t in trials)} / "
        f"{sum(len(t.confirmed) for t in trials)} |",
        f"| ungrounded numbers | {sum(len(t.ungrounded) for t in trials)} |",
        f"| contradictions (answers with one / answers) | {sum(len(t.contradictions) for t in trials)} "
        f"({_share(sum(t.contradicted_answers for t in trials), sum(len(t.answers) for t in trials))}) |",
        f"| tool calls / model calls per trial | {_mean([t.tool_calls for t in trials]):.1f} / "
        f"{_mean([t.model_calls for t in trials]):.1f} |",
        f"| tokens / cost per trial | {_mean([t.tokens for t in trials]):,.0f} / "
        f"USD {_mean([t.cost_usd for t in trials]):.4f} |",
        f"| seconds per trial | {_mean([t.seconds for t in trials]):.1f} |",
        "",
        "| tag | passed / trials |",
        "| --- | --- |",
        *[f"| {tag} | {c} / {n} |" for tag, (n, c) in tag_rates(report, tasks).items()],
        "",
        "| task | passed / trials | wrong writes | tool calls | model calls | tokens | s "
        "| why a trial failed (first) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    wrong = report.wrong_writes_by_task()
    for task_id, (n, c) in report.outcomes().items():
        mine = [t for t in trials if t.task == task_id]
        why = next((t.wrong_writes + t.violations + t.failures for t in mine if not t.passed), [""])
        lines.append(
            f"| {task_id} | {c} / {n} | {wrong[task_id]} | {_mean([t.tool_calls for t in mine]):.1f} | "
            f"{_mean([t.model_calls for t in mine]):.1f} | {_mean([t.tokens for t in mine]):,.0f} | "
            f"{_mean([t.seconds for t in mine]):.1f} | {(why[0] if why else '')[:160].replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def _share(part: int, whole: int) -> str:
    return f"{part} / {whole} = {part / whole:.1%}" if whole else "0 / 0"


def _mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def save(report: Report, tasks: list[Task], folder: Path, command: str) -> tuple[Path, Path]:
    """Write `eval-<model>-latest.json` and `.md`; returns both paths (git keeps the earlier runs)."""
    stem = "eval-" + "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in report.model)
    data = {
        "model": report.model,
        "date": f"{datetime.now():%Y-%m-%d %H:%M}",
        "user_model": report.user_model,
        "k": report.k,
        "pass_hat_k": {str(k): report.pass_at(k) for k in sorted({1, report.k})},
        "violations": report.violations,
        "wrong_writes": report.wrong_writes,
        "contradictions": sum(len(t.contradictions) for t in report.trials),
        "contradicted_answers": sum(t.contradicted_answers for t in report.trials),
        "wrong_writes_by_task": report.wrong_writes_by_task(),
        "tags": tag_rates(report, tasks),
        "trials": [asdict(t) for t in report.trials],
    }
    return write_results(folder, stem, data, markdown(report, tasks, command))

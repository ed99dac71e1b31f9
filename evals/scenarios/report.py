"""The results of a run, as JSON and a markdown table under evals/results/."""

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from evals.common.results import write_results
from evals.scenarios.passk import pass_hat_k
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


@dataclass(frozen=True)
class TagRow:
    """One tag's figures: pass^1 and pass^k over its tasks, and the wrong writes and contradicted answers of its
    trials."""

    tasks: int
    pass_hat: dict[int, float]  # k -> pass^k
    wrong_writes: int
    answers: int
    contradicted: int


def tag_rows(report: Report, tasks: list[Task]) -> dict[str, TagRow]:
    """Per tag, by name: pass^1 and pass^k (k = the run's trials) over the tag's tasks, wrong writes and answers
    the grounding check flags as contradicting their results."""
    outcomes = report.outcomes()
    rows = {}
    for tag in sorted({tag for t in tasks for tag in t.tags}):
        ids = {t.id for t in tasks if tag in t.tags and t.id in outcomes}
        if not ids:
            continue
        mine = [t for t in report.trials if t.task in ids]
        rows[tag] = TagRow(
            tasks=len(ids),
            pass_hat={k: pass_hat_k([outcomes[i] for i in sorted(ids)], k) for k in _ks(report)},
            wrong_writes=sum(len(t.wrong_writes) for t in mine),
            answers=sum(len(t.answers) for t in mine),
            contradicted=sum(t.contradicted for t in mine),
        )
    return rows


def _ks(report: Report) -> list[int]:
    return sorted({1, report.k})


def _share(part: int, whole: int) -> str:
    return f"{part} / {whole} ({100 * part / whole:.1f}%)" if whole else f"{part} / 0"


def _contradicted(contradicted: int, answers: int) -> str:
    return _share(contradicted, answers)


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
        f"| answers contradicting their results (grounding check) | "
        f"{_contradicted(sum(t.contradicted for t in trials), sum(len(t.answers) for t in trials))} |",
        f"| ungrounded numbers | {sum(len(t.ungrounded) for t in trials)} |",
        f"| tool calls / model calls per trial | {_mean([t.tool_calls for t in trials]):.1f} / "
        f"{_mean([t.model_calls for t in trials]):.1f} |",
        f"| tokens / cost per trial | {_mean([t.tokens for t in trials]):,.0f} / "
        f"USD {_mean([t.cost_usd for t in trials]):.4f} |",
        f"| seconds per trial | {_mean([t.seconds for t in trials]):.1f} |",
        "",
        "| tag | tasks | passed / trials | " + " | ".join(f"pass^{k}" for k in _ks(report)) + " | wrong writes "
        "| answers contradicting their results |",
        "| --- " * (5 + len(_ks(report))) + "|",
        *[_tag_line(tag, row, tag_rates(report, tasks)[tag]) for tag, row in tag_rows(report, tasks).items()],
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


def _tag_line(tag: str, row: TagRow, rate: tuple[int, int]) -> str:
    passes = " | ".join(f"{row.pass_hat[k]:.3f}" for k in sorted(row.pass_hat))
    return (
        f"| {tag} | {row.tasks} | {rate[1]} / {rate[0]} | {passes} | {row.wrong_writes} | "
        f"{_contradicted(row.contradicted, row.answers)} |"
    )


def _mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def save(report: Report, tasks: list[Task], folder: Path, command: str) -> tuple[Path, Path]:
    """Write `eval-<model>-latest.json` and `.md`; returns both paths (git keeps the earlier runs)."""
    stem = "eval-" + "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in report.model)
    rows = tag_rows(report, tasks)
    data = {
        "model": report.model,
        "date": f"{datetime.now():%Y-%m-%d %H:%M}",
        "user_model": report.user_model,
        "k": report.k,
        "pass_hat_k": {str(k): report.pass_at(k) for k in sorted({1, report.k})},
        "violations": report.violations,
        "wrong_writes": report.wrong_writes,
        "wrong_writes_by_task": report.wrong_writes_by_task(),
        "tags": tag_rates(report, tasks),
        "tag_pass_hat_k": {tag: {str(k): v for k, v in row.pass_hat.items()} for tag, row in rows.items()},
        "wrong_writes_by_tag": {tag: row.wrong_writes for tag, row in rows.items()},
        "contradictions": {
            "found": sum(len(t.contradictions) for t in report.trials),
            "answers": sum(len(t.answers) for t in report.trials),
            "contradicted": sum(t.contradicted for t in report.trials),
            "by_tag": {tag: [row.answers, row.contradicted] for tag, row in rows.items()},
        },
        "trials": [asdict(t) for t in report.trials],
    }
    return write_results(folder, stem, data, markdown(report, tasks, command))

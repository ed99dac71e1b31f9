"""The run as tables, a markdown page and figures."""

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from schemathesis import GenerationMode

from evals.common.results import results_page
from evals.common.tables import Grid
from evals.hardening.input.generated import OperationRun
from evals.hardening.input.refusals import Refusal, problems
from evals.hardening.input.run import InputRun, by_operation, merge, statuses_text


def _requests_in(runs: Sequence[OperationRun], mode: str, *, fixed: bool) -> int:
    return sum(r.requests for r in runs if r.mode == mode and bool(r.fixed) == fixed)


def _negative_cell(runs: Sequence[OperationRun]) -> str:
    negative = [r for r in runs if r.mode == GenerationMode.NEGATIVE.value]
    sent = sum(r.requests for r in negative)
    if not negative:
        return "-"
    return "cannot be invalid" if sent == 0 and any(r.unsatisfiable for r in negative) else str(sent)


def _operation_row(label: str, runs: list[OperationRun]) -> tuple[str, ...]:
    total = merge(runs)
    return (
        label,
        str(_requests_in(runs, GenerationMode.POSITIVE.value, fixed=False)),
        _negative_cell(runs),
        str(_requests_in(runs, GenerationMode.POSITIVE.value, fixed=True)),
        statuses_text(total.statuses),
        str(total.server_errors),
        str(total.violations),
        f"{total.seconds:.1f}",
    )


def operations_grid(run: InputRun) -> Grid:
    """Per operation: the requests sent in each mode, the status codes seen, and the failures."""
    headers = ("operation", "positive", "negative", "real ids", "status codes seen", "5xx", "violations", "s")
    rows = tuple(_operation_row(label, runs) for label, runs in by_operation(run.schema).items())
    return Grid("Generated requests, per operation", headers, rows)


def _verdict(refusal: Refusal) -> str:
    return "PASS" if refusal.problem is None else "FAIL"


def _quoted(text: str) -> str:
    """Text from the service as a code span: markup in it stays text."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`" if text else ""


def refusals_grid(title: str, refusals: list[Refusal]) -> Grid:
    """Per bad input: the refusal expected and the one it got, the message's first words, the fingerprint."""
    headers = ("bad input", "sent as", "expected", "got", "message", "state unchanged", "result")
    rows = tuple(
        (
            r.what,
            _quoted(r.via),
            r.expected,
            " ".join(str(part) for part in (r.status, r.code) if part is not None),
            _quoted(r.first_words),
            "yes" if r.unchanged else "NO",
            _verdict(r),
        )
        for r in refusals
    )
    return Grid(title, headers, rows)


def totals(run: InputRun) -> dict[str, Any]:
    """The run's totals, as the summary table and the JSON file give them."""
    merged = merge(run.schema.runs) if run.schema.runs else OperationRun("none", "all", {})
    refusals = run.tools + run.api
    return {
        "operations": len(by_operation(run.schema)),
        "requests": merged.requests,
        "status codes": dict(sorted(merged.statuses.items())),
        "failed requests": merged.failed_requests,
        "5xx": merged.server_errors,
        "schema violations": merged.violations,
        "failure kinds": merged.failures,
        "unreadable operations": len(run.schema.unreadable),
        "tool inputs refused as expected": f"{len(run.tools) - len(problems(run.tools))}/{len(run.tools)}",
        "API inputs refused as expected": f"{len(run.api) - len(problems(run.api))}/{len(run.api)}",
        "fingerprint unchanged": f"{sum(r.unchanged for r in refusals)}/{len(refusals)}",
        "failures": run.failures,
        "seconds": {
            "demo company": round(run.company_seconds, 1),
            "generated requests": round(run.schema_seconds, 1),
            "bad-input tables": round(run.tables_seconds, 1),
            "total": round(run.seconds, 1),
        },
    }


def summary_grid(run: InputRun) -> Grid:
    """The totals, one per row."""
    figures = totals(run)
    budget = run.budget
    rows = (
        ("backend", run.backend),
        (
            "examples per operation and mode",
            f"{budget.examples} (per real id {budget.known_examples}; {_figure(budget.few)})",
        ),
        *((name, _figure(value)) for name, value in figures.items()),
    )
    return Grid("Summary", ("", "value"), rows)


def _figure(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def grids(run: InputRun) -> list[Grid]:
    """Every table of the report, in order."""
    return [
        summary_grid(run),
        operations_grid(run),
        refusals_grid("Bad inputs through the tools", run.tools),
        refusals_grid("Bad inputs through the web API", run.api),
    ]


METHOD = (
    "schemathesis generates requests from the service's own OpenAPI schema (`/openapi.json`) and sends them in"
    " process, signed in as maria (an NA manager) with a bearer token (grace for revoking tokens by id). *Positive*"
    " requests are valid by the schema and must get a documented answer: status code, content type, body and"
    " headers as documented, never a 5xx. *Negative* requests break the schema and must also be refused (a 4xx)."
    " Routes with an id in the path are also sent real ids (drafts, cases, a conversation, records), since random"
    " ids only reach the not-found branch. The chat route answers with a model that echoes what it is asked; its"
    " Server-Sent Events are checked event by event. Then each bad input of the two tables is sent once (through"
    " the tools as the named user, and through the web API), and must get the expected code, a message that says"
    " what to fix, and leave the company's fingerprint (drafts and statuses, stock, cases and timelines, documents,"
    " the audit log, conversations, credentials) unchanged."
)


def markdown_page(run: InputRun) -> str:
    """The report: how, the tables, and any failure reports."""
    heading = f"# Hardening: hostile input, {run.machine.date}"
    how = f"Command: `{run.command}`\n\n{METHOD}"
    found = ["### Failures", "", *(f"```\n{report.strip()}\n```" for report in run.reports)] if run.reports else []
    return results_page(heading, how, grids(run)) + "".join(f"\n{part}\n" for part in found)


def _operation_figures(runs: list[OperationRun]) -> dict[str, Any]:
    total = merge(runs)
    counted = {"server_errors": total.server_errors, "violations": total.violations}
    return {**asdict(total), **counted, "runs": [asdict(r) for r in runs]}


def figures(run: InputRun) -> dict[str, Any]:
    """Every figure of the run, for the JSON file."""
    operations = [_operation_figures(runs) for runs in by_operation(run.schema).values()]
    return {
        "machine": asdict(run.machine),
        "command": run.command,
        "backend": run.backend,
        "budget": asdict(run.budget),
        "totals": totals(run),
        "operations": operations,
        "unreadable": run.schema.unreadable,
        "tool_inputs": [asdict(r) for r in run.tools],
        "api_inputs": [asdict(r) for r in run.api],
        "passed": run.failures == 0,
    }

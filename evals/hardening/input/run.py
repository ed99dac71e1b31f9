"""The hardening run: the generated requests and both tables on one company."""

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from evals.common.company import BUSINESS_DATE, demo_company
from evals.common.tables import Machine, machine
from evals.common.web import web_client
from evals.hardening.input.company import build_company
from evals.hardening.input.generated import Budget, OperationRun, SchemaRun, add_count, generated_requests
from evals.hardening.input.refusals import Refusal, api_refusals, problems, tool_refusals

# --- The hardening run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputRun:
    """Everything one run sent and saw, with the machine it ran on."""

    machine: Machine
    command: str
    backend: str
    budget: Budget
    schema: SchemaRun
    tools: list[Refusal]
    api: list[Refusal]
    company_seconds: float
    schema_seconds: float
    tables_seconds: float

    @property
    def failures(self) -> int:
        """Failed generated requests, unreadable operations and bad inputs not refused as expected."""
        refused_wrongly = len(problems(self.tools)) + len(problems(self.api))
        return self.schema.failed_requests + len(self.schema.unreadable) + refused_wrongly

    @property
    def reports(self) -> list[str]:
        """Every failure, as a readable report."""
        return self.schema.reports + problems(self.tools) + problems(self.api)

    @property
    def seconds(self) -> float:
        """The whole run."""
        return self.company_seconds + self.schema_seconds + self.tables_seconds


def measure(backend: str, budget: Budget, console: Console, command: str) -> InputRun:
    """A fresh demo company on `backend`; the generated requests, then both tables of bad inputs."""
    os.environ.setdefault("ERP_TODAY", BUSINESS_DATE)
    began = time.perf_counter()
    demo = demo_company(backend, items=500, months=12, seed=7, keep=False, pool_size=5)  # DemoConfig()'s company
    with tempfile.TemporaryDirectory(prefix="erp-input-") as folder, demo as db:
        company = build_company(db)
        loaded = time.perf_counter()
        console.log(f"demo company on {backend} in {loaded - began:.0f} s; generating requests")
        with web_client(db, Path(folder)) as client:
            schema_run = generated_requests(company, client, budget, progress=lambda runs: _progress(console, runs))
            generated = time.perf_counter()
            tools, api = tool_refusals(company), api_refusals(client, company)
    return InputRun(
        machine(),
        command,
        backend,
        budget,
        schema_run,
        tools,
        api,
        loaded - began,
        generated - loaded,
        time.perf_counter() - generated,
    )


def _progress(console: Console, runs: list[OperationRun]) -> None:
    merged = merge(runs)
    failed = f", [bold red]{merged.failed_requests} failed[/]" if merged.failed_requests else ""
    console.log(f"{merged.operation}: {merged.requests} requests, {statuses_text(merged.statuses)}{failed}")


def merge(runs: Sequence[OperationRun]) -> OperationRun:
    """One operation's runs added up (all modes and fixed ids)."""
    total = OperationRun(runs[0].operation, "all", {})
    for run in runs:
        total.requests += run.requests
        total.failed_requests += run.failed_requests
        total.seconds += run.seconds
        total.reports += run.reports
        for status, n in run.statuses.items():
            add_count(total.statuses, status, n)
        for kind, n in run.failures.items():
            add_count(total.failures, kind, n)
    return total


def by_operation(schema_run: SchemaRun) -> dict[str, list[OperationRun]]:
    """The runs grouped by operation, in the schema's order."""
    grouped: dict[str, list[OperationRun]] = {}
    for run in schema_run.runs:
        grouped.setdefault(run.operation, []).append(run)
    return grouped


def statuses_text(statuses: dict[int, int]) -> str:
    """How often each status came back, as one line."""
    return " ".join(f"{status}x{n}" for status, n in sorted(statuses.items()))

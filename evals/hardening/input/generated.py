"""Generated requests: schemathesis over every operation of the OpenAPI schema, positive and negative."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evals.hardening.input.company import Company, open_conversation, sams_discounted_draft

Operation = APIOperation[Any, Any, Any, Any]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
SERVER_ERROR = "ServerError"  # schemathesis' failure for a 5xx; every other failure is a schema violation
RAISED = "raised "  # the app raised instead of answering (a 5xx behind a real server)
# Invalid requests may also be refused as too large (a chat message over 4,000 characters) or too frequent.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
REPORTS_KEPT = 3  # failure reports kept per operation run: enough to see a bug, short enough to read

# --- Generated requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How many requests schemathesis generates per operation and mode, and per real id of a path parameter."""

    examples: int
    known_examples: int
    few: dict[str, int]  # operations that are slow on purpose get fewer


FAST = Budget(examples=8, known_examples=3, few={"POST /api/session": 3})  # each failed sign-in hashes a password


@dataclass
class OperationRun:
    """The requests one operation was sent in one mode (ids generated, or a path parameter fixed), and the
    answers: the status codes, and the checks that failed."""

    operation: str
    mode: str
    fixed: dict[str, str]
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # status code -> requests
    failed_requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # schemathesis' failure kind -> requests
    reports: list[str] = field(default_factory=list)
    unsatisfiable: bool = False  # nothing about the operation can be made invalid
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        """Requests answered with a 5xx (or that crashed the app)."""
        return sum(n for kind, n in self.failures.items() if kind == SERVER_ERROR or kind.startswith(RAISED))

    @property
    def violations(self) -> int:
        """Failed checks other than a 5xx: an undocumented status, content type, body or header, or invalid data
        accepted."""
        return sum(self.failures.values()) - self.server_errors

    def record(self, response: Any, failures: Sequence[Exception]) -> None:
        """Count one request, its status code (None when the app raised) and its failures."""
        self.requests += 1
        if response is not None:
            add_count(self.statuses, response.status_code)
        if failures:
            self.failed_requests += 1
        for failure in failures:
            add_count(self.failures, _kind(failure))

    def keep_report(self, report: str) -> None:
        """Keep the first few failure reports."""
        if len(self.reports) < REPORTS_KEPT:
            self.reports.append(f"{self.operation} ({self.mode}, {self.fixed or 'generated ids'}):\n{report}")


def add_count(tally: dict[Any, int], key: Any, n: int = 1) -> None:
    """Count `n` more of `key` in `tally`."""
    tally[key] = tally.get(key, 0) + n


def _kind(failure: Exception) -> str:
    """schemathesis' failure class (`ServerError`, `JsonSchemaError`, ...), or `raised <type>` for an exception."""
    return type(failure).__name__ if isinstance(failure, Failure) else RAISED + type(failure).__name__


@dataclass
class SchemaRun:
    """Every operation's runs, and what schemathesis could not read of the schema."""

    runs: list[OperationRun]
    unreadable: list[str]

    @property
    def reports(self) -> list[str]:
        """Everything that went wrong, as readable reports; empty when every answer was as documented."""
        unreadable = [f"the schema has an operation schemathesis cannot read: {e}" for e in self.unreadable]
        return unreadable + [report for run in self.runs for report in run.reports]

    @property
    def failed_requests(self) -> int:
        """Requests with at least one failed check."""
        return sum(run.failed_requests for run in self.runs)


def _send_and_check(case: Case[Any], headers: dict[str, str], run: OperationRun) -> None:
    """One generated request and its checks; a failure is counted, not raised, so the run goes on."""
    response = None
    try:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"headers": headers})
        run.record(response, [])
    except FailureGroup as group:
        run.record(response, list(group.exceptions))
        run.keep_report(group.message)
    except Exception as crash:  # the app raised instead of answering: as bad as a 5xx
        run.record(response, [crash])
        run.keep_report(f"{type(crash).__name__}: {crash}")


def run_operation(
    operation: Operation,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    path_parameters: dict[str, str] | None = None,
) -> OperationRun:
    """Generated requests for one operation in one mode (path parameters fixed if given), each sent and checked."""
    run = OperationRun(operation.label, mode.value, dict(path_parameters or {}))

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def generated(case: Case[Any]) -> None:
        _send_and_check(case, headers, run)

    started = time.perf_counter()
    try:
        generated()
    except Unsatisfiable:  # nothing about this operation can be made invalid (no body, no constrained query)
        run.unsatisfiable = True
    run.seconds = time.perf_counter() - started
    return run


def can_be_invalid(operation: Operation) -> bool:
    """A body, a query or a typed path parameter can be sent invalid; a free-text path parameter cannot."""
    typed = any(p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters)
    return bool(operation.body) or bool(operation.query) or typed


def known_values(company: Company, client: TestClient) -> dict[str, list[str]]:
    """Real ids for the path parameter of the routes under each prefix: random strings only ever reach the
    not-found branch."""
    conversation = open_conversation(client, company, "maria")
    drafts = [sams_discounted_draft(company.db) for _ in range(2)]  # maria may approve or reject them
    return {
        "/api/drafts/": drafts,
        "/api/exceptions/": company.cases,
        "/api/conversations/": [conversation],
        "/api/records/": ["SO-1", company.uk_order, "PO-1", "TR-1", drafts[0], company.cases[0], "V-200", "ACME"],
    }


def app_schema(client: TestClient) -> BaseSchema:
    """The service's own OpenAPI schema, with the refusals invalid data may get."""
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})
    return schemathesis.openapi.from_asgi("/openapi.json", client.app, config=config)


def _operation_runs(
    operation: Operation, company: Company, known: dict[str, list[str]], budget: Budget
) -> list[OperationRun]:
    """One operation in positive mode (and negative when it can be invalid), then once per real id."""
    # revoking a token by a guessed id must not revoke the token the run signs in with
    headers = company.headers("grace" if operation.path == "/api/tokens/{token_id}" else "maria")
    examples = budget.few.get(operation.label, budget.examples)
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if can_be_invalid(operation) else [])
    runs = [run_operation(operation, mode, examples, headers) for mode in modes]
    values = next((ids for prefix, ids in known.items() if operation.path.startswith(prefix)), [])
    for parameter in operation.path_parameters:
        for value in values:
            fixed = {parameter.name: value}
            runs.append(run_operation(operation, GenerationMode.POSITIVE, budget.known_examples, headers, fixed))
    return runs


def generated_requests(
    company: Company, client: TestClient, budget: Budget, progress: Callable[[list[OperationRun]], None] | None = None
) -> SchemaRun:
    """schemathesis against the app's own OpenAPI schema, signed in as maria with a bearer token.

    The chat's message route is included: its Server-Sent Events are checked event by event against the schema
    (each `data:` JSON), with a model that echoes what it is asked.
    """
    known = known_values(company, client)
    result = SchemaRun([], [])
    for found in app_schema(client).get_all_operations():
        if not isinstance(found, Ok):
            result.unreadable.append(str(found.err()))
            continue
        runs = _operation_runs(found.ok(), company, known, budget)
        result.runs += runs
        if progress is not None:
            progress(runs)
    return result

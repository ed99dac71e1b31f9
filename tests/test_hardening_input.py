"""Hostile input: generated requests against the OpenAPI schema, and a table of bad inputs through the
tools and the web API (`evals/hardening/input/`, here with few generated examples).

Every bad input must get a clear refusal (a stable code and a message saying what to fix), a 4xx over
HTTP (never a 5xx), and leave the company exactly as it was: drafts and their statuses, stock, cases
and their timelines, documents, the audit log, conversations and credentials (`fingerprint`).
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from schemathesis import GenerationMode

from core.db import Database
from evals.common.company import fingerprint
from evals.common.sse import sse_events
from evals.common.tables import machine
from evals.common.web import chat_text, web_client
from evals.hardening.input.company import Company, build_company, open_conversation
from evals.hardening.input.generated import (
    FAST,
    REPORTS_KEPT,
    OperationRun,
    SchemaRun,
    generated_requests,
    run_operation,
)
from evals.hardening.input.refusals import (
    API_INPUTS,
    TOOL_INPUTS,
    api_refusals,
    call_tool,
    problems,
    sales_order_args,
    tool_refusals,
    transfer_args,
)
from evals.hardening.input.report import figures, markdown_page
from evals.hardening.input.run import InputRun


@pytest.fixture
def company(sqlite_demo: Database) -> Company:
    return build_company(sqlite_demo)


@pytest.fixture
def echo_client(company: Company, tmp_path: Path) -> Iterator[TestClient]:
    """Not conftest's `client`: the web service as the input run drives it (a model echoing the user, no limit)."""
    with web_client(company.db, tmp_path) as c:
        yield c


def test_generated_requests_get_documented_answers_and_never_a_5xx(company: Company, echo_client: TestClient) -> None:
    """schemathesis against the app's own OpenAPI schema, signed in as maria with a bearer token; the chat's
    Server-Sent Events are checked event by event against the schema."""
    run = generated_requests(company, echo_client, FAST)
    assert run.reports == [], "\n\n".join(run.reports)
    assert run.failed_requests == 0
    assert len({r.operation for r in run.runs}) >= 20 and all(r.requests > 0 or r.unsatisfiable for r in run.runs)


def _faulty_app() -> FastAPI:
    """A route that answers a third of the numbers with a 500, a third with a body the schema does not allow, and
    raises for large ones."""
    app = FastAPI()

    @app.get("/numbers/{n}", response_model=dict[str, int])
    def number(n: int) -> Any:
        if n % 3 == 1:
            return JSONResponse({"detail": "boom"}, status_code=500)
        if n % 3 == 2:
            return JSONResponse({"n": "not a number"})
        if n > 1000:
            raise RuntimeError("overflow")
        return {"n": n}

    return app


@pytest.fixture(scope="module")
def faulty_run() -> OperationRun:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _faulty_app())
    operation = next(found.ok() for found in schema.get_all_operations())
    return run_operation(operation, GenerationMode.POSITIVE, 30, {})


def test_the_run_counts_every_5xx_and_schema_violation_and_goes_on_after_the_first(faulty_run: OperationRun) -> None:
    run = faulty_run
    assert run.requests == 30 and sum(run.statuses.values()) + run.failures.get("raised RuntimeError", 0) == 30
    assert run.statuses[500] == run.failures["ServerError"] > 0
    assert run.failures["JsonSchemaError"] > 0 and run.violations >= run.failures["JsonSchemaError"]
    assert run.server_errors == run.failures["ServerError"] + run.failures.get("raised RuntimeError", 0)
    assert 0 < run.failed_requests < run.requests and len(run.reports) == REPORTS_KEPT


def test_the_report_gives_each_operations_status_codes_and_failures_and_fails_the_run(
    faulty_run: OperationRun,
) -> None:
    run = InputRun(machine(), "test", "sqlite", FAST, SchemaRun([faulty_run], []), [], [], 1.0, 2.0, 3.0)
    page, data = markdown_page(run), figures(run)
    statuses = " ".join(f"{code}x{n}" for code, n in sorted(faulty_run.statuses.items()))
    assert f"| GET /numbers/{{n}} | 30 | - | 0 | {statuses} | {faulty_run.server_errors} |" in page
    assert "### Failures" in page and "curl -X GET" in page
    assert run.failures == faulty_run.failed_requests and data["passed"] is False
    assert data["totals"]["5xx"] == faulty_run.server_errors and data["totals"]["seconds"]["total"] == 6.0


def test_bad_inputs_to_the_tools_are_refused_clearly_and_change_nothing(company: Company) -> None:
    print("\n".join(f"{c.what:36} {c.user:6} {c.tool:28} -> {c.code}" for c in TOOL_INPUTS))
    refusals = tool_refusals(company)
    assert problems(refusals) == [], "\n".join(problems(refusals))
    assert len(refusals) == len(TOOL_INPUTS) and all(r.unchanged for r in refusals)


@pytest.mark.parametrize("spelling", ["v200", " V-200 ", "v-200", "V 200"])
def test_a_sku_written_loosely_resolves_to_that_sku_and_never_another(company: Company, spelling: str) -> None:
    result = call_tool(company, "sam", "check_availability", {"sku": spelling})
    assert result.data["sku"] == "V-200", result


def test_bad_inputs_to_the_api_get_a_4xx_that_says_what_to_fix_and_change_nothing(
    echo_client: TestClient, company: Company
) -> None:
    print("\n".join(f"{c.what:36} {c.user:6} {c.method:6} -> {c.status} {c.code}" for c in API_INPUTS))
    refusals = api_refusals(echo_client, company)
    assert problems(refusals) == [], "\n".join(problems(refusals))
    assert all(r.status is not None and 400 <= r.status < 500 and r.unchanged for r in refusals)


def test_bulk_decisions_on_forged_numbers_refuse_each_and_change_nothing(
    echo_client: TestClient, company: Company
) -> None:
    forged = ["DR-999999", "DR-1; DROP TABLE", "DR-0", "' OR 1=1 --", company.sams_draft]
    before = company.db.read(fingerprint)
    response = echo_client.post(
        "/api/approvals/bulk", json={"action": "approve", "numbers": forged}, headers=company.headers("sam")
    )
    assert response.status_code == 200
    results = {r["number"]: r for r in response.json()["results"]}
    assert all(not r["ok"] and r["error"]["message"] for r in results.values()), results
    assert results[company.sams_draft]["error"]["code"] == "permission_denied"  # his own
    assert {results[n]["error"]["code"] for n in forged[:4]} == {"not_found"}
    assert company.db.read(fingerprint) == before


def test_bad_tool_input_through_the_chat_is_answered_as_an_error_and_changes_nothing(
    echo_client: TestClient, company: Company
) -> None:
    headers = company.headers("uma")
    conversation = open_conversation(echo_client, company, "uma")
    asks = [
        ("draft_sales_order", sales_order_args(quantity=-1), "invalid_arguments"),
        ("draft_transfer", transfer_args(3), "out_of_scope"),  # a UK user naming DAL
        ("check_availability", {"sku": "V-2OO", "warehouse": "BHM"}, "not_found"),
    ]
    for tool, arguments, code in asks:
        before = company.db.read(fingerprint)
        path = f"/api/conversations/{conversation}/messages"
        response = echo_client.post(path, json={"text": chat_text(tool, arguments)}, headers=headers)
        after = company.db.read(fingerprint)
        events = dict(sse_events(response.text))
        assert response.status_code == 200 and json.loads(events["answer"]["text"])["error"] == code, response.text
        assert events["tool_result"]["ok"] is False and events["tool_result"]["error"]
        assert "draft" not in events
        assert after.pop("turns") == before.pop("turns") + 1  # the turn itself is recorded, nothing else
        assert after == before


def test_markup_in_a_comment_is_kept_as_text_and_served_as_json(echo_client: TestClient, company: Company) -> None:
    markup = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    response = echo_client.post(
        f"/api/exceptions/{company.cases[0]}/comment", json={"text": markup}, headers=company.headers("maria")
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["events"][-1]["text"] == markup

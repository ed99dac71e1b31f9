"""The planning doors of the web service: runs on demand and their record, the schedule inside the service, a
case's proposed draft opened as a preview and confirmed through the gate (one or many, each judged on its own),
and the board's case actions judged by the policy like the assistant's."""

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.actor import Person
from core.db import Database
from core.drafts import service as drafts_service
from core.drafts.service import confirm
from core.exceptions import detect_exceptions
from core.exceptions.models import ExceptionCase
from core.masterdata.service import load_actor
from core.planning.models import PlanningRun
from core.planning.runner import ANALYSES
from core.planning.schedule import Schedule
from core.policy.loader import parse_policy, policy_path
from tests import web
from tests.planning_cases import LARGE_PO, SMALL_PO, raise_proposals
from tools import ToolContext, default_registry


def _as(c: TestClient, user: str) -> dict[str, str]:
    return web.sign_in(c, user)


def test_a_manager_runs_the_analyses_over_their_entities_and_the_run_is_recorded(client: TestClient) -> None:
    maria = _as(client, "maria")
    run = client.post("/api/planning/run", json={}, headers=maria)
    assert run.status_code == 200, run.text
    body = run.json()
    assert (body["trigger"], body["requested_by"], body["status"], body["scoped"]) == ("api", "maria", "finished", True)
    assert [a["name"] for a in body["analyses"]] == ["detection", *(a.name for a in ANALYSES)] and body["errors"] == []
    assert body["seconds"] is not None and body["finished_at"] is not None
    assert [r["id"] for r in client.get("/api/planning/runs").json()["runs"]] == [body["id"]]


def test_running_the_analyses_is_for_managers_and_admins_in_their_own_entities(client: TestClient) -> None:
    sam = _as(client, "sam")
    refused = client.post("/api/planning/run", json={}, headers=sam)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert client.get("/api/planning/runs").status_code == 403
    maria = _as(client, "maria")
    assert client.post("/api/planning/run", json={"entities": ["UK"]}, headers=maria).status_code == 403
    unknown = client.post("/api/planning/run", json={"only": ["tea_leaves"]}, headers=maria)
    assert unknown.status_code == 422 and "the analyses are detection" in unknown.json()["message"]


def test_the_service_runs_the_analyses_on_its_schedule(demo: Database, tmp_path: Path) -> None:
    with web.app(demo, tmp_path, planning=Schedule(every_minutes=60)):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not demo.read(lambda s: s.scalars(select(PlanningRun)).all()):
            time.sleep(0.1)
    runs = demo.read(lambda s: s.scalars(select(PlanningRun)).all())
    assert [(r.trigger, r.status, r.scope) for r in runs] == [("schedule", "finished", None)]


def test_the_schedule_is_off_unless_configured(client: TestClient, demo: Database) -> None:
    assert demo.read(lambda s: s.scalars(select(PlanningRun)).all()) == []


def test_a_proposal_opens_as_the_exact_preview_and_confirming_it_lets_the_policy_decide(
    client: TestClient, demo: Database
) -> None:
    cases = raise_proposals(demo, {"repl:small": SMALL_PO, "repl:large": LARGE_PO})
    web.set_passwords(demo, "bea")
    bea = _as(client, "bea")
    opened = client.post(f"/api/exceptions/{cases['repl:small']}/proposal", headers=bea)
    assert opened.status_code == 201, opened.text
    preview = opened.json()
    assert (preview["kind"], preview["status"], preview["can_confirm"]) == ("purchase_order", "unconfirmed", True)
    assert preview["requester"] == "Bea Nguyen" and any("V-200" in line for line in preview["diff"])
    again = client.post(f"/api/exceptions/{cases['repl:small']}/proposal", headers=bea).json()
    assert again["number"] == preview["number"]  # the same preview while it waits, not a second draft
    events = client.get(f"/api/exceptions/{cases['repl:small']}").json()["events"]
    assert [e["text"] for e in events if e["kind"] == "commented"] == [f"{preview['number']} drafted from the proposal"]

    confirmed = client.post(f"/api/drafts/{preview['number']}/confirm", headers=bea).json()
    assert confirmed["status"] == "executed" and confirmed["result_ref"].startswith("PO-")

    large = client.post(f"/api/exceptions/{cases['repl:large']}/proposal", headers=bea).json()
    held = client.post(f"/api/drafts/{large['number']}/confirm", headers=bea).json()
    assert held["status"] == "pending_approval" and "manager of NA" in held["waiting_for"]


def test_bulk_acceptance_previews_each_proposal_and_each_is_judged_on_its_own(
    client: TestClient, demo: Database
) -> None:
    cases = raise_proposals(demo, {"repl:small": SMALL_PO, "repl:large": LARGE_PO, "repl:none": None})
    web.set_passwords(demo, "bea")
    bea = _as(client, "bea")
    numbers = [cases["repl:small"], cases["repl:large"], cases["repl:none"], "EX-999999"]
    opened = client.post("/api/proposals", json={"cases": numbers}, headers=bea)
    assert opened.status_code == 200, opened.text
    results = opened.json()["proposals"]
    assert [r["case"] for r in results] == numbers
    assert [r["draft"]["status"] if r["draft"] else r["error"]["code"] for r in results] == [
        "unconfirmed",
        "unconfirmed",
        "invalid_state",
        "not_found",
    ]
    assert "proposes no draft" in results[2]["error"]["message"]
    decided = [
        client.post(f"/api/drafts/{r['draft']['number']}/confirm", headers=bea).json()["status"]
        for r in results
        if r["draft"]
    ]
    assert decided == ["executed", "pending_approval"]


def test_a_proposal_outside_your_entities_is_refused(client: TestClient, demo: Database) -> None:
    cases = raise_proposals(demo, {"repl:small": SMALL_PO})
    uma = _as(client, "uma")  # UK only
    refused = client.post(f"/api/exceptions/{cases['repl:small']}/proposal", headers=uma)
    assert refused.status_code == 403
    case = select(ExceptionCase).where(ExceptionCase.condition_key == "repl:small")
    assert demo.read(lambda s: s.scalars(case).one().events[-1].kind) == "routed"  # nothing was drafted from it


# --- One rule for case actions in both channels ---------------------------------------------------------------


def test_a_board_action_is_an_exception_action_draft_the_policy_executed(client: TestClient, demo: Database) -> None:
    demo.run(lambda s: detect_exceptions(s))
    grace = _as(client, "grace")
    number = next(c["number"] for c in client.get("/api/exceptions?type=shortage").json()["cases"])
    done = client.post(f"/api/exceptions/{number}/comment", json={"text": "PO is on its way"}, headers=grace).json()
    assert done["draft_status"] == "executed" and done["events"][-1]["text"] == "PO is on its way"
    draft = client.get(f"/api/drafts/{done['draft']}").json()
    assert (draft["kind"], draft["requester"]) == ("exception_action", "Grace Okafor")
    assert [r["rule"] for r in draft["reasons"]] == ["exception_action.execute"]


def test_a_policy_that_holds_case_actions_holds_them_on_the_board_too(
    client: TestClient, demo: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo.run(lambda s: detect_exceptions(s))
    stricter = policy_path().read_text(encoding="utf-8") + (
        "\n  - id: exception_action.by_manager\n"
        "    kind: exception_action\n"
        "    when:\n"
        "      requester_roles: {contains_none: [manager, admin]}\n"
        "    effect:\n"
        "      approve: [manager]\n"
        '    reason: "a case is closed by a manager here"\n'
    )
    monkeypatch.setattr(drafts_service, "_POLICY", parse_policy(stricter))
    fiona = _as(client, "fiona")  # finance owns credit-hold cases
    number = next(c["number"] for c in client.get("/api/exceptions?type=credit_hold").json()["cases"])
    held = client.post(f"/api/exceptions/{number}/resolve", json={"resolution": "paid"}, headers=fiona).json()
    assert held["draft_status"] == "pending_approval" and held["status"] != "resolved"
    assert "a case is closed by a manager here" in held["explanation"]

    # The same action asked of the assistant: the tool's preview, confirmed by fiona, waits the same way.
    fin = demo.read(lambda s: load_actor(s, username="fiona"))
    ctx = ToolContext(fin, channel="web", conversation_id="c1", tool_call_id="t1")
    args = {"case_number": number, "action": "resolve", "text": "paid"}
    preview = default_registry().call(demo, ctx, "draft_exception_action", args)
    assert preview.draft_number is not None, preview.data
    asked = demo.run(lambda s: confirm(s, Person(fin, channel="web"), draft_number=preview.draft_number or ""))
    assert (asked.kind, asked.status) == ("exception_action", "pending_approval")
    assert client.get(f"/api/exceptions/{number}").json()["status"] != "resolved"

"""The briefing and the priorities over the web API: GET /api/briefing (what the widget shows when opened), the
exceptions board by priority with its factors, and the approvals inbox with its urgency and overdue flag."""

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.masterdata.service import load_actor
from evals.common.plant import PlantedFinding, PlantedProposal, plant_findings
from tests import web
from tests.fake_clock import FakeClock
from tests.web import TRANSFER_OVER_LIMIT

ATL = PlantedFinding(
    type="replenishment",  # type: ignore[arg-type]
    entity="NA",
    key="replenishment:V-200:ATL",
    title="V-200 will stock out at ATL on 2026-11-24",
    detail="Move 60 from DAL.",
    evidence={"sku": "V-200", "warehouse": "ATL", "available": 12},
    impact=Decimal("1320.00"),
    proposal=PlantedProposal(
        kind="transfer",
        payload={"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 60}]},
        summary="Transfer 60 V-200 from DAL to ATL",
    ),
)


def _plant(demo: Database) -> str:
    return demo.run(lambda s: plant_findings(s, [ATL])[0].number)


def test_the_briefing_says_what_needs_the_users_attention_with_links(client: TestClient, demo: Database) -> None:
    case = _plant(demo)
    web.sign_in(client, "maria")
    body = client.get("/api/briefing").json()
    assert body["user"] == "maria" and body["day"] == "2026-11-20"
    line = next(line for line in body["lines"] if line["topic"] == "replenishment")
    assert line["text"] == "1 reorder proposal (1 proposed draft ready)"
    assert line["items"][0]["ref"] == case and line["items"][0]["link"] == f"/exceptions?case={case}"
    assert body["headline"].startswith("Your briefing for 2026-11-20: ")
    client.cookies.clear()
    web.sign_in(client, "uma")  # UK sales: not NA's stock-out
    assert "replenishment" not in [line["topic"] for line in client.get("/api/briefing").json()["lines"]]
    client.cookies.clear()
    assert client.get("/api/briefing").status_code == 401


def test_the_exceptions_board_ranks_by_priority_and_shows_the_factors(client: TestClient, demo: Database) -> None:
    case = _plant(demo)
    web.sign_in(client, "maria")
    board = client.get("/api/exceptions").json()["cases"]
    assert [c["priority"] for c in board] == sorted((c["priority"] for c in board), reverse=True)
    planted = next(c for c in board if c["number"] == case)
    factors = {f["name"]: f for f in planted["factors"]}
    assert factors["value"]["basis"] == "USD 1,320.00 at risk" and factors["value"]["weight"] == 10
    assert abs(planted["priority"] - sum(f["score"] for f in planted["factors"])) < 0.05
    by_due = client.get("/api/exceptions?order=due").json()["cases"]
    assert [c["sla_due_at"] for c in by_due] == sorted(c["sla_due_at"] for c in by_due)
    assert all(c["priority"] is None and c["factors"] == [] for c in by_due)


def test_the_inbox_flags_an_overdue_draft_and_puts_it_first(
    client: TestClient, demo: Database, fake_clock: FakeClock
) -> None:
    sam = demo.read(lambda s: load_actor(s, username="sam"))
    ctx = RequestContext(sam, "web")

    def pending(payload: dict[str, Any]) -> str:
        return demo.run(lambda s: draft_action(s, ctx, confirmed=True, kind="transfer", payload=payload)).number

    old = pending(TRANSFER_OVER_LIMIT)
    fake_clock.advance(hours=30)  # past the escalation time (24 h by default)
    lines = [*TRANSFER_OVER_LIMIT["lines"], {"sku": "V-200", "quantity": 100}]
    new = pending({**TRANSFER_OVER_LIMIT, "lines": lines})
    web.sign_in(client, "maria")
    cards = client.get("/api/approvals").json()["drafts"]
    assert [(c["number"], c["overdue"]) for c in cards] == [(old, True), (new, False)]
    assert cards[0]["urgency"] > cards[1]["urgency"]
    assert [f["name"] for f in cards[0]["factors"]] == ["value", "tier", "sla", "margin", "age"]
    assert next(f for f in cards[0]["factors"] if f["name"] == "sla")["basis"].startswith("overdue by 6 h")

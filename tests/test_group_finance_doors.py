"""The group view through its doors on the demo company: the REST routes, the `reports` commands, the tool."""

from fastapi.testclient import TestClient

from core.db import Database
from tests import web
from tests.test_cli import _cli, seeded
from tests.test_tools import _call
from tests.world import World

__all__ = ["seeded"]


def test_the_group_routes_answer_in_one_currency_and_name_the_rates(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "grace", "sam")
    web.sign_in(client, "grace")
    group = client.get("/api/reports/group", params={"currency": "USD"})
    assert group.status_code == 200, group.text
    body = group.json()
    assert [e["entity"] for e in body["entities"]] == ["NA", "SEA", "UK"] and body["group"]["entity"] == "group"
    assert {r["pair"] for r in body["rates"]} == {"USD→USD", "SGD→USD", "GBP→USD"}
    assert abs(float(body["group"]["revenue"]) - sum(float(e["revenue"]) for e in body["entities"])) < 0.01
    pairs = client.get("/api/reports/intercompany").json()
    assert [(p["pair"], p["nets_to_zero"]) for p in pairs["pairs"]] == [
        ("NA-SEA", True),
        ("NA-UK", True),
        ("SEA-UK", True),
    ]
    margin = client.get("/api/reports/margin", params={"by": "category", "since": "2026-11-01"}).json()
    assert margin["by"] == "category" and margin["rows"] and margin["margin_pct"] is not None
    missing = client.get("/api/reports/group", params={"currency": "EUR"})
    assert missing.status_code == 422 and missing.json()["code"] == "missing_rate", missing.text
    bad = client.get("/api/reports/margin", params={"by": "warehouse"})
    assert bad.status_code == 422
    web.sign_in(client, "sam")
    refused = client.get("/api/reports/margin", params={"entity": "UK"})
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope", refused.text
    mine = client.get("/api/reports/intercompany").json()
    assert mine["pairs"] == [] and mine["not_checked"] == ["NA-SEA", "NA-UK"]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_reports_commands_print_the_group_the_pairs_and_the_margins(seeded: str) -> None:
    group = _cli(seeded, "reports", "group", "--user", "grace")
    assert group.exit_code == 0, group.output
    said = _words(group.output)  # Rich wraps at the terminal's width (80 under pytest-xdist)
    assert "group" in said and "GBP→USD" in said and "SGD→USD" in said
    pairs = _cli(seeded, "reports", "intercompany", "--user", "grace")
    assert pairs.exit_code == 0, pairs.output
    assert "Intercompany balances on 2026-11-20 in USD" in _words(pairs.output)
    margin = _cli(seeded, "reports", "margin", "--by", "customer", "--user", "grace", "--currency", "GBP")
    said = _words(margin.output)
    assert margin.exit_code == 0 and "Margin by customer" in said and "group: revenue GBP" in said
    refused = _cli(seeded, "reports", "margin", "--entity", "UK", "--user", "sam")
    assert refused.exit_code == 1 and "out_of_scope" in _words(refused.output)
    missing = _cli(seeded, "reports", "group", "--currency", "EUR", "--user", "grace")
    assert missing.exit_code == 1 and "missing_rate" in _words(missing.output)
    bad = _cli(seeded, "reports", "margin", "--by", "warehouse", "--user", "grace")
    assert bad.exit_code == 1 and "use entity, customer or category" in _words(bad.output)


def test_the_tool_answers_each_view_with_facts_on_both_databases(world: World) -> None:
    group = _call(world, "mia", "get_kpis", {"view": "group", "currency": "GBP"}).data
    assert group["group"]["currency"] == "GBP" and any(f.startswith("group revenue") for f in group["facts"])
    assert "Rate used: USD→GBP 0.8 (valid from 2020-01-01)." in group["facts"]
    pairs = _call(world, "mia", "get_kpis", {"view": "intercompany"}).data
    assert pairs["intercompany"]["pairs"] == [] and pairs["facts"][0].startswith("There are no intercompany")
    margin = _call(world, "mia", "get_kpis", {"view": "margin", "by": "customer"}).data
    assert margin["margin"]["by"] == "customer" and margin["facts"][-1].startswith("Group margin")
    refused = _call(world, "sam", "get_kpis", {"view": "margin", "entity": "UK"}).error
    assert refused is not None and refused.code == "out_of_scope"
    assert _call(world, "sam", "get_kpis", {"view": "margin", "by": "warehouse"}).error is not None


def test_rows_per_category_asked_with_no_view_are_the_margin_view(world: World) -> None:
    """`by` means something only in the margin view: {"by": "category"} alone asks for it; a view named stays."""
    by_category = _call(world, "mia", "get_kpis", {"by": "category"}).data
    assert by_category["margin"]["by"] == "category" and by_category["margin"]["rows"] is not None
    kpis = _call(world, "mia", "get_kpis", {}).data
    assert kpis.get("margin") is None and kpis["entities"]
    group = _call(world, "mia", "get_kpis", {"view": "group", "by": "category"}).data
    assert group.get("margin") is None and group["group"] is not None


def test_a_day_in_a_query_is_written_yyyy_mm_dd(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "grace")
    web.sign_in(client, "grace")
    assert client.get("/api/reports/margin", params={"since": "4.7e-168"}).status_code == 422  # no Unix time
    assert client.get("/api/stock/adjustments", params={"until": "1700000000"}).status_code == 422
    assert client.get("/api/reports/margin", params={"since": "2026-10-01"}).status_code == 200

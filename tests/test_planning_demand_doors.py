"""Demand planning through its doors on the demo company: the REST routes and the `forecast` commands."""

from fastapi.testclient import TestClient

from core.db import Database
from tests import web
from tests.test_cli import _cli, seeded

__all__ = ["seeded"]


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_planning_routes_answer_in_the_users_scope(client: TestClient, demo: Database) -> None:
    web.sign_in(client, "sam")
    shown = client.get("/api/planning/forecast", params={"sku": "V-200", "warehouse": "DAL"})
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["sku"], body["warehouse"], len(body["history"]), len(body["forecast"])) == ("V-200", "DAL", 52, 13)
    assert body["method"] in body["rmse_by_method"] or body["method"] in ("level", "none")
    assert body["demand_class"] in ("smooth", "erratic", "intermittent", "lumpy", "none")
    assert body["mean_weekly"] == sum(w["units"] for w in body["forecast"]) / 13
    short = client.get("/api/planning/forecast", params={"sku": "V-200", "warehouse": "DAL", "weeks": 8})
    assert len(short.json()["history"]) == 8
    refused = client.get("/api/planning/forecast", params={"sku": "V-200", "warehouse": "MAN"})
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope", refused.text
    unknown = client.get("/api/planning/forecast", params={"sku": "NOPE-1", "warehouse": "DAL"})
    assert unknown.status_code == 404
    accuracy = client.get("/api/planning/accuracy")
    assert accuracy.status_code == 200, accuracy.text
    figures = accuracy.json()
    assert figures["holdout_weeks"] == 13 and {c["group"] for c in figures["by_class"]} <= {"A", "B", "C"}
    assert figures["overall"]["weeks"] == sum(c["weeks"] for c in figures["by_class"]) > 0
    assert client.get("/api/planning/accuracy", params={"entity": "UK"}).status_code == 403
    anomalies = client.get("/api/planning/anomalies")
    assert anomalies.status_code == 200, anomalies.text
    found = anomalies.json()["anomalies"]
    assert found, "the demo's NA history has a few weeks far from their forecast"
    for a in found:
        assert a["warehouse"] in ("DAL", "ATL", "RNO") and a["key"].startswith("demand_anomaly:item:")
        assert a["orders"] and abs(a["score"]) >= 3.5 and a["orders"][0]["number"].startswith("SO-")
    assert client.get("/api/planning/anomalies", params={"entity": "SEA"}).status_code == 403


def test_the_forecast_commands_print_a_forecast_the_accuracy_and_the_anomalies(seeded: str) -> None:
    shown = _cli(seeded, "forecast", "show", "V-200", "--warehouse", "DAL", "--weeks", "10", "--user", "sam")
    assert shown.exit_code == 0, shown.output
    said = _words(shown.output)
    assert "V-200 at DAL, as of 2026-11-20" in said and "Weekly demand and forecast" in said and "method" in said
    refused = _cli(seeded, "forecast", "show", "V-200", "--warehouse", "MAN", "--user", "sam")
    assert refused.exit_code == 1 and "out_of_scope" in _words(refused.output)
    accuracy = _cli(seeded, "forecast", "accuracy", "--user", "grace")
    assert accuracy.exit_code == 0, accuracy.output
    assert "Forecast accuracy" in _words(accuracy.output) and "WAPE" in accuracy.output
    anomalies = _cli(seeded, "forecast", "anomalies", "--entity", "NA", "--user", "sam")
    assert anomalies.exit_code == 0, anomalies.output
    assert "no demand anomalies" in anomalies.output or "Demand" in anomalies.output
    assert _cli(seeded, "forecast", "anomalies", "--entity", "UK", "--user", "sam").exit_code == 1

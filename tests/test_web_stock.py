"""Counts and adjustments over the web API: a typed route through the write gate, and the report."""

from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from core.masterdata.service import load_actor
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from tests import web


def _on_hand(db: Database, sku: str, warehouse: str) -> int:
    def query(s: Any) -> int:
        report = available_to_promise(s, load_actor(s, username="wes"), sku=sku, warehouse=warehouse)
        return report.warehouses[0].on_hand

    return db.read(query)


def _count(c: TestClient, headers: dict[str, str], **adjustment: object) -> Any:
    return c.post("/api/stock/adjustments", json={"adjustment": adjustment, "confirm": True}, headers=headers)


def test_a_warehouse_clerk_posts_a_count_and_the_report_shows_it(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "wes")
    before = _on_hand(demo, "V-200", "DAL")
    wes = web.sign_in(client, "wes")
    posted = _count(client, wes, sku="V-200", warehouse="DAL", counted=before - 1)
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert body["status"] == "executed" and body["result_ref"].startswith("ADJ-"), body
    assert _on_hand(demo, "V-200", "DAL") == before - 1
    report = client.get("/api/stock/adjustments", params={"warehouse": "DAL"}).json()
    counts = [x for x in report["lines"] if x["reason"] == "correction"]  # the demo's own are write-offs and finds
    assert [(x["warehouse"], x["reason"], x["units_lost"], x["net_units"]) for x in counts] == [
        ("DAL", "correction", 1, -1)
    ]
    assert float(counts[0]["value"]) < 0
    assert demo.read(stock_disagreements) == []
    record = client.get(f"/api/records/{body['result_ref']}").json()
    assert record["kind"] == "stock_adjustment" and record["title"].endswith("V-200 @ DAL"), record
    assert {f["label"]: f["value"] for f in record["fields"]}["change"] == "-1"
    client.cookies.clear()
    web.sign_in(client, "uma")  # UK only: the Dallas count is not hers to see
    assert client.get(f"/api/records/{body['result_ref']}").status_code == 403


def test_counts_are_refused_for_sales_another_entity_and_unknown_items(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "wes")
    sam = web.sign_in(client, "sam")
    assert _count(client, sam, sku="V-200", warehouse="DAL", counted=1).json()["code"] == "permission_denied"
    client.cookies.clear()
    wes = web.sign_in(client, "wes")
    assert _count(client, wes, sku="V-200", warehouse="BHM", counted=1).status_code == 403
    assert _count(client, wes, sku="NOPE-9", warehouse="DAL", counted=1).status_code == 404
    assert _count(client, wes, sku="V-200", warehouse="DAL", counted=-4).status_code == 422
    assert _count(client, wes, sku="V-200", warehouse="DAL", quantity=2, reason="theft").status_code == 422


def test_the_openapi_schema_types_the_count(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/stock/adjustments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/StockAdjustmentRequest"}
    draft = schema["components"]["schemas"]["StockAdjustmentDraft"]["properties"]
    assert {"sku", "warehouse", "counted", "quantity", "reason", "note"} <= set(draft)
    assert "AdjustmentReport" in schema["components"]["schemas"]

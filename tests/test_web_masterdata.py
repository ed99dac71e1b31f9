"""Master data and credit over the web API: changes, credit limits and holds through the write gate, one record
read, refused by role, entity, a taken code and bad input, like the rest of the API."""

from fastapi.testclient import TestClient

from core.db import Database
from tests import web


def _change(c: TestClient, headers: dict[str, str], change: dict[str, object], confirm: bool = True) -> object:
    return c.post("/api/masterdata/changes", json={"change": change, "confirm": confirm}, headers=headers)


def test_a_cost_change_previews_its_diff_and_executes_and_the_item_reads_back(
    client: TestClient, demo: Database
) -> None:
    fiona = web.sign_in(client, "fiona")
    preview = client.post(
        "/api/masterdata/changes",
        json={"change": {"record": "item", "code": "V-200", "cost": "12.10"}, "confirm": False},
        headers=fiona,
    )
    assert preview.status_code == 201 and preview.json()["status"] == "unconfirmed", preview.text
    assert preview.json()["diff"] == ["item V-200: cost USD 11.67 → USD 12.10"]
    done = client.post(
        "/api/masterdata/changes",
        json={"change": {"record": "item", "code": "V-200", "cost": "12.10"}, "confirm": True},
        headers=fiona,
    )
    assert done.json()["status"] == "executed", done.text
    item = client.get("/api/masterdata/item/V-200").json()
    assert {f["label"]: f["value"] for f in item["fields"]}["cost"] == "USD 12.10"
    customer = client.get("/api/masterdata/customer/ACME").json()
    assert customer["entity"] == "NA" and {f["label"]: f["value"] for f in customer["fields"]}["tier"] == "A"


def test_master_data_refusals_over_http(client: TestClient, demo: Database) -> None:
    sam = web.sign_in(client, "sam")
    price = {"record": "price", "code": "V-200", "price_list": "NA-WHOLESALE", "price": "15"}
    denied = client.post("/api/masterdata/changes", json={"change": price, "confirm": True}, headers=sam)
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied")
    client.cookies.clear()
    maria = web.sign_in(client, "maria")
    taken = {"record": "customer", "code": "ACME", "create": True, "name": "Another Acme", "entity": "NA"}
    clash = client.post("/api/masterdata/changes", json={"change": taken, "confirm": True}, headers=maria)
    assert (clash.status_code, clash.json()["code"]) == (409, "duplicate_code") and "ACME" in clash.json()["message"]
    negative = {"record": "item", "code": "V-200", "list_price": "-3"}
    bad = client.post("/api/masterdata/changes", json={"change": negative, "confirm": True}, headers=maria)
    assert bad.status_code == 422 and "cannot be negative" in bad.json()["message"]
    unknown = client.post(
        "/api/masterdata/changes",
        json={"change": {"record": "item", "code": "ZZ-999", "cost": "1"}, "confirm": True},
        headers=maria,
    )
    assert unknown.status_code == 404
    other = client.post(
        "/api/masterdata/changes",
        json={"change": {"record": "supplier", "code": "MIDVAL", "lead_time_days": 9}, "confirm": True},
        headers=maria,
    )
    assert (other.status_code, other.json()["code"]) == (403, "out_of_scope")
    assert client.get("/api/masterdata/supplier/MIDVAL").status_code == 403
    no_csrf = client.post("/api/masterdata/changes", json={"change": negative, "confirm": True})
    assert no_csrf.status_code == 403


def test_a_limit_raise_asked_by_sales_waits_for_finance_and_a_hold_by_finance_executes(
    client: TestClient, demo: Database
) -> None:
    sam = web.sign_in(client, "sam")
    asked = client.post(
        "/api/customers/ACME/credit-limit", json={"credit_limit": "30000", "confirm": True}, headers=sam
    )
    assert asked.status_code == 201 and asked.json()["status"] == "pending_approval", asked.text
    number = asked.json()["number"]
    own = client.post(f"/api/drafts/{number}/approve", json={}, headers=sam)
    assert own.status_code == 403
    client.cookies.clear()
    fiona = web.sign_in(client, "fiona")
    approved = client.post(f"/api/drafts/{number}/approve", json={}, headers=fiona)
    assert approved.status_code == 200 and approved.json()["status"] == "executed", approved.text
    limit = {f["label"]: f["value"] for f in client.get("/api/masterdata/customer/ACME").json()["fields"]}
    assert limit["credit limit"] == "USD 30,000.00"
    held = client.post(
        "/api/customers/BRAZOSHV/credit-hold", json={"reason": "3 invoices unpaid", "confirm": True}, headers=fiona
    )
    assert held.json()["status"] == "executed", held.text
    again = client.post("/api/customers/BRAZOSHV/credit-hold", json={"reason": "still", "confirm": True}, headers=fiona)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")

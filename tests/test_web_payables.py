"""Payables over the web API on the demo company: book a supplier invoice through the write gate, refuse a duplicate
reference, another currency and the wrong role; release a held invoice (never by its booker), match one again after
the goods arrive; the ageing, what falls due this week, and SINV- records, scoped like the rest.

The demo's NA finance (fiona) booked SINV-1 (PACAIR, matched), SINV-2 (GLPIPE, 8% over the PO price, on hold) and
SINV-3 (KEYSTONE on PO-1430: 13 V-310 billed, 6 received, on hold). PO-1395 (KEYSTONE) received 348 V-200 at 11.67.
"""

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from core.masterdata.service import load_actor
from core.purchasing.service import receive_purchase_order
from tests import web

BOOK = {
    "po_number": "PO-1395",
    "supplier_ref": "8812",
    "lines": [{"sku": "V-200", "quantity": 40, "unit_price": "11.67"}],
}


def _book(c: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    return c.post("/api/supplier-invoices", json=BOOK | {"confirm": True} | changes, headers=headers)


def test_finance_books_an_invoice_and_duplicates_other_currencies_and_other_roles_are_refused(
    client: TestClient, demo: Database
) -> None:
    fiona = web.sign_in(client, "fiona")
    preview = _book(client, fiona, confirm=False)
    assert preview.status_code == 201 and preview.json()["status"] == "unconfirmed", preview.text
    made = _book(client, fiona).json()
    assert made["status"] == "executed" and made["result_ref"] == "SINV-4", made
    view = client.get("/api/supplier-invoices/SINV-4").json()
    assert (view["status"], view["supplier"], view["supplier_ref"], view["po"], view["total"]) == (
        "approved",
        "KEYSTONE",
        "8812",
        "PO-1395",
        "466.80",
    )
    assert view["due_date"] == "2026-12-20" and view["lines"][0]["result"] == "matched"
    again = _book(client, fiona)
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_document"), again.text
    assert "already booked as SINV-4" in again.json()["message"]
    pounds = _book(client, fiona, supplier_ref="8899", currency="GBP")
    assert (pounds.status_code, pounds.json()["code"]) == (422, "currency_mismatch"), pounds.text
    client.cookies.clear()
    sam = web.sign_in(client, "sam")
    refused = _book(client, sam, supplier_ref="8900")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert client.get("/api/supplier-invoices/SINV-1").status_code == 403  # sales do not read payables
    client.cookies.clear()
    web.sign_in(client, "uma")
    assert client.get("/api/payables/ageing").status_code == 403


def test_a_held_invoice_is_released_by_a_manager_never_by_its_booker(client: TestClient, demo: Database) -> None:
    fiona = web.sign_in(client, "fiona")
    held = client.get("/api/supplier-invoices/SINV-2").json()
    assert held["status"] == "on_hold" and held["lines"][0]["result"] == "price_over", held
    body = {"reason": "GLPIPE's new price was agreed", "confirm": True}
    own = client.post("/api/supplier-invoices/SINV-2/release", json=body, headers=fiona)
    assert (own.status_code, own.json()["code"]) == (403, "permission_denied") and "you booked" in own.text
    client.cookies.clear()
    grace = web.sign_in(client, "grace")
    released = client.post("/api/supplier-invoices/SINV-2/release", json=body, headers=grace)
    assert released.status_code == 201 and released.json()["status"] == "executed", released.text
    view = client.get("/api/supplier-invoices/SINV-2").json()
    assert (view["status"], view["released_by"]) == ("approved", "grace")
    twice = client.post("/api/supplier-invoices/SINV-2/release", json=body, headers=grace)
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_state")
    record = client.get("/api/records/SINV-2").json()
    assert record["kind"] == "supplier_invoice" and record["title"] == "Supplier invoice SINV-2", record
    assert {f["label"]: f["value"] for f in record["fields"]}["status"] == "approved for payment"


def test_a_held_invoice_matched_again_after_the_rest_arrives_is_approved(client: TestClient, demo: Database) -> None:
    fiona = web.sign_in(client, "fiona")
    still = client.post("/api/supplier-invoices/SINV-3/match", headers=fiona)
    assert still.status_code == 200 and still.json()["status"] == "on_hold", still.text
    assert still.json()["lines"][0]["received"] == 6

    def arrive(s: Any) -> None:
        receive_purchase_order(s, load_actor(s, username="wes"), po_number="PO-1430", quantities={"V-310": 7})

    demo.run(arrive)
    matched = client.post("/api/supplier-invoices/SINV-3/match", headers=fiona).json()
    assert (matched["status"], matched["lines"][0]["received"]) == ("approved", 13), matched
    listed = client.get("/api/supplier-invoices", params={"status": "on_hold"}).json()
    assert [v["number"] for v in listed] == ["SINV-2"]


def test_ageing_and_due_this_week_per_entity_and_supplier(client: TestClient, demo: Database) -> None:
    web.sign_in(client, "fiona")
    ageing = client.get("/api/payables/ageing").json()
    [na] = ageing["entities"]
    assert (na["entity"], na["currency"], na["invoices"]) == ("NA", "USD", 3)
    assert (Decimal(na["days_1_30"]), Decimal(na["current"]), Decimal(na["on_hold"])) == (
        Decimal("433.95"),
        Decimal("592.32"),
        Decimal("592.32"),
    )
    assert sorted(r["supplier"] for r in ageing["suppliers"]) == ["GLPIPE", "KEYSTONE", "PACAIR"]
    due = client.get("/api/payables/due").json()
    assert (due["as_of"], due["until"]) == ("2026-11-20", "2026-11-26")
    assert [(i["number"], i["days_past_due"]) for i in due["invoices"]] == [("SINV-1", 5), ("SINV-3", 0)]
    [total] = due["entities"]
    assert (Decimal(total["overdue"]), Decimal(total["due"])) == (Decimal("433.95"), Decimal("242.32"))
    only = client.get("/api/payables/due", params={"supplier": "PACAIR"}).json()
    assert [i["number"] for i in only["invoices"]] == ["SINV-1"]
    assert client.get("/api/payables/ageing", params={"entity": "UK"}).status_code == 403

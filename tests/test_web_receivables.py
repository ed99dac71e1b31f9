"""Receivables over the web API on the demo company: ageing, collections, payments recorded, applied and reversed
through the write gate, scoped and typed like the rest."""

from decimal import Decimal

from fastapi.testclient import TestClient

from core.db import Database
from tests import web

LATE = "CASCADEW"  # the demo's late customer, with USD 1,000.00 on account (core/demo/receivables.py)
DELINQUENT = "HEARTLAN2"  # the demo's customer long overdue (the overdue rule holds it once detection runs)


def test_finance_applies_cash_on_account_records_a_payment_and_asks_a_second_person_to_reverse_it(
    client: TestClient, demo: Database
) -> None:
    fiona = web.sign_in(client, "fiona")
    ageing = client.get("/api/receivables/ageing", params={"customer": LATE}).json()
    late = ageing["customers"][0]
    assert (late["code"], Decimal(late["on_account"])) == (LATE, Decimal("1000.00")), ageing
    assert Decimal(late["past_due"]) > 0 and ageing["entities"] == []
    on_account = client.get("/api/payments", params={"unapplied": True}).json()
    assert [(p["customer"], p["bank_reference"]) for p in on_account] == [(LATE, "BNK-NO-REMITTANCE")]
    number = on_account[0]["number"]
    applied = client.post(f"/api/payments/{number}/apply", json={"confirm": True}, headers=fiona)
    assert applied.status_code == 201 and applied.json()["status"] == "executed", applied.text
    after = client.get(f"/api/payments/{number}").json()
    assert Decimal(after["applied"]) > 0 and Decimal(after["applied"]) + Decimal(after["unapplied"]) == Decimal(1000)
    wrong = client.post(
        "/api/payments",
        json={"customer": LATE, "amount": "10.00", "bank_reference": "B", "currency": "GBP", "confirm": True},
        headers=fiona,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "currency_mismatch")
    body = {"customer": LATE, "amount": "250.00", "bank_reference": "BNK-42", "confirm": True}
    made = client.post("/api/payments", json=body, headers=fiona).json()
    assert made["status"] == "executed" and made["result_ref"].startswith("PAY-"), made
    reversal = client.post(
        f"/api/payments/{made['result_ref']}/reversal",
        json={"reason": "wrong customer", "confirm": True},
        headers=fiona,
    ).json()
    assert reversal["status"] == "pending_approval", reversal
    own = client.post(f"/api/drafts/{reversal['number']}/approve", json={}, headers=fiona)
    assert own.status_code == 403
    record = client.get(f"/api/records/{number}").json()
    assert record["kind"] == "payment" and record["title"] == f"Payment {number}", record
    client.cookies.clear()
    web.sign_in(client, "uma")  # UK only
    assert client.get(f"/api/payments/{number}").status_code == 403
    assert number not in [p["number"] for p in client.get("/api/payments").json()]


def test_collections_rank_the_long_overdue_customer_first_and_sales_cannot_record(
    client: TestClient, demo: Database
) -> None:
    web.sign_in(client, "fiona")
    report = client.get("/api/receivables/collections", params={"entity": "NA"}).json()
    first = report["customers"][0]
    assert (first["rank"], first["customer"]) == (1, DELINQUENT), report
    assert first["oldest_days_past_due"] > 90 and Decimal(first["buckets"]["90+"]) > Decimal(5000)
    assert "weighted by age" in report["ranking"]
    overdue = client.get("/api/receivables/overdue", params={"customer": DELINQUENT, "limit": 50}).json()
    assert overdue[0]["bucket"] == "90+" and all(o["customer"] == DELINQUENT for o in overdue), overdue
    dso = client.get("/api/receivables/ageing", params={"entity": "NA"}).json()["dso"]
    assert dso[0]["formula"].startswith("DSO = receivables / credit sales of the last 90 days x 90 = ")
    client.cookies.clear()
    sam = web.sign_in(client, "sam")
    refused = client.post(
        "/api/payments", json={"customer": LATE, "amount": "1", "bank_reference": "B", "confirm": False}, headers=sam
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    body = {"customer": LATE, "amount": "1", "bank_reference": "B", "confirm": False}
    assert client.post("/api/payments", json=body).status_code == 403  # no CSRF token

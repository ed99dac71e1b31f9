"""Returns over the web API: authorise and receive through the write gate, read one or a list, open RMA- and CN-
records, scoped and typed like the rest."""

from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from core.stock.reconciliation import stock_disagreements
from tests import web
from tests.web import shipped_na_order


def _authorise(c: TestClient, headers: dict[str, str], order: str, quantity: int, **extra: Any) -> Any:
    body = {"order_number": order, "lines": [{"line_no": 1, "quantity": quantity}], "reason": "damaged"}
    return c.post("/api/returns", json=body | {"confirm": True} | extra, headers=headers)


def test_sales_authorise_the_warehouse_receives_and_the_records_open(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "wes")
    order = shipped_na_order(demo)
    sam = web.sign_in(client, "sam")
    preview = _authorise(client, sam, order, 2, confirm=False)
    assert preview.status_code == 201 and preview.json()["status"] == "unconfirmed", preview.text
    made = _authorise(client, sam, order, 2).json()
    assert made["status"] == "executed" and made["result_ref"].startswith("RMA-"), made
    rma = made["result_ref"]
    over = _authorise(client, sam, order, 4)
    assert (over.status_code, over.json()["code"]) == (422, "invalid_input")
    assert client.post(f"/api/returns/{rma}/receipt", json={"confirm": True}, headers=sam).status_code == 403
    client.cookies.clear()
    wes = web.sign_in(client, "wes")
    received = client.post(f"/api/returns/{rma}/receipt", json={"confirm": True, "disposition": "restock"}, headers=wes)
    assert received.status_code == 201 and received.json()["status"] == "executed", received.text
    again = client.post(f"/api/returns/{rma}/receipt", json={"confirm": True}, headers=wes)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    view = client.get(f"/api/returns/{rma}").json()
    assert (view["status"], view["units"], view["order"]) == ("credited", 2, order), view
    assert [ln["disposition"] for ln in view["lines"]] == ["restock"]
    note = view["credit_notes"][0]
    assert note["number"].startswith("CN-") and float(note["amount"]) == float(view["value"]) > 0
    listed = client.get("/api/returns", params={"status": "credited"}).json()
    assert rma in [r["number"] for r in listed]
    record = client.get(f"/api/records/{rma}").json()
    assert record["kind"] == "return_authorisation" and record["title"] == f"Return {rma}", record
    credit = client.get(f"/api/records/{note['number']}").json()
    assert credit["kind"] == "credit_note" and {f["label"]: f["value"] for f in credit["fields"]}["return"] == rma
    assert demo.read(stock_disagreements) == []
    client.cookies.clear()
    web.sign_in(client, "uma")  # UK only: the NA return and its credit note are not hers to see
    assert client.get(f"/api/returns/{rma}").status_code == 403
    assert client.get(f"/api/records/{rma}").status_code == 403
    assert client.get(f"/api/records/{note['number']}").status_code == 403
    assert rma not in [r["number"] for r in client.get("/api/returns").json()]


def test_returns_are_refused_for_the_warehouse_and_bad_bodies(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "wes")
    order = shipped_na_order(demo)
    wes = web.sign_in(client, "wes")
    assert _authorise(client, wes, order, 1).json()["code"] == "permission_denied"
    assert client.get("/api/returns/RMA-99999").status_code == 404
    bad = client.post(
        "/api/returns", json={"order_number": order, "lines": [], "reason": "x", "confirm": True}, headers=wes
    )
    assert bad.status_code == 422
    assert client.get("/api/returns", params={"status": "lost"}).status_code == 422


def test_the_openapi_schema_types_the_returns(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/api/returns"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert post == {"$ref": "#/components/schemas/ReturnAuthorisationRequest"}
    receipt = schema["paths"]["/api/returns/{rma_number}/receipt"]["post"]["requestBody"]["content"]
    assert receipt["application/json"]["schema"] == {"$ref": "#/components/schemas/ReturnReceiptRequest"}
    view = schema["components"]["schemas"]["ReturnView"]["properties"]
    assert {"lines", "credit_notes", "status", "authorised_at", "received_at"} <= set(view)

"""Shipping over the web API on the demo company: ship through the gate, fulfilment status, milestones, and the
shipments and invoices answers cite opening as records, scoped like the rest."""

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.channels.web.records import READERS
from core.db import Database
from core.finance.models import Invoice
from core.masterdata.models import LegalEntity
from core.numbering import KINDS
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment
from core.stock.models import DemandSource, Reservation
from tests import web


def _sign_in(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return web.sign_in(c, username)


def _shipment_in(demo: Database, entity: str) -> str:
    def query(s: Session) -> str:
        found = s.scalar(
            select(Shipment.id)
            .join(SalesOrder, SalesOrder.id == Shipment.order_id)
            .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
            .where(LegalEntity.code == entity)
            .order_by(Shipment.id)
            .limit(1)
        )
        assert found is not None
        return f"SH-{found}"

    return demo.read(query)


def _invoice_in(demo: Database, entity: str) -> str:
    def query(s: Session) -> str:
        found = s.scalar(
            select(Invoice.id)
            .join(LegalEntity, LegalEntity.id == Invoice.entity_id)
            .where(LegalEntity.code == entity)
            .order_by(Invoice.id)
            .limit(1)
        )
        assert found is not None
        return f"INV-{found}"

    return demo.read(query)


def _reserved_na_line(demo: Database) -> tuple[str, int]:
    """An NA order confirmed with stock reserved on a line: (order number, line number)."""

    def query(s: Session) -> tuple[str, int]:
        row = s.execute(
            select(SalesOrder.id, SalesOrderLine.line_no)
            .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
            .join(Reservation, Reservation.source_id == SalesOrderLine.id)
            .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
            .where(
                LegalEntity.code == "NA",
                SalesOrder.status == OrderStatus.CONFIRMED.value,
                Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                Reservation.quantity >= 1,
            )
            .order_by(SalesOrder.id, SalesOrderLine.line_no)
            .limit(1)
        ).one()
        return f"SO-{row[0]}", row[1]

    return demo.read(query)


def test_every_document_kind_an_answer_can_cite_has_a_record_reader() -> None:
    assert set(READERS) == set(KINDS)


def test_shipments_and_invoices_open_for_their_own_entity_only(client: TestClient, demo: Database) -> None:
    na_shipment, uk_shipment = _shipment_in(demo, "NA"), _shipment_in(demo, "UK")
    na_invoice, uk_invoice = _invoice_in(demo, "NA"), _invoice_in(demo, "UK")
    _sign_in(client, "sam")
    shipment = client.get(f"/api/records/{na_shipment.lower()}").json()
    assert (shipment["kind"], shipment["ref"]) == ("shipment", na_shipment)
    assert {f["label"] for f in shipment["fields"]} >= {"order", "from", "shipped on", "status"}
    invoice = client.get(f"/api/records/{na_invoice}").json()
    assert (invoice["kind"], invoice["ref"]) == ("invoice", na_invoice)
    assert [f["label"] for f in invoice["fields"]][:3] == ["customer", "order", "shipment"]
    for foreign in (uk_shipment, uk_invoice):
        refused = client.get(f"/api/records/{foreign}")
        assert (refused.status_code, refused.json()["code"]) == (403, "out_of_scope")
    assert client.get("/api/records/SH-99999999").status_code == 404
    assert client.get("/api/records/INV-99999999").status_code == 404


def test_a_manager_ships_a_line_over_the_api_tracks_it_and_records_delivery(client: TestClient, demo: Database) -> None:
    order, line_no = _reserved_na_line(demo)
    headers = _sign_in(client, "sam")
    body = {"lines": [{"line_no": line_no, "quantity": 1}], "carrier": "UPS", "tracking_number": "1Z1", "confirm": True}
    refused = client.post(f"/api/orders/{order}/shipments", json=body, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")  # sales do not ship
    headers = _sign_in(client, "maria")
    draft = client.post(f"/api/orders/{order}/shipments", json=body, headers=headers)
    assert draft.status_code == 201, draft.text
    assert draft.json()["status"] == "executed"
    number = draft.json()["result_ref"]
    status = client.get(f"/api/orders/{order}/fulfilment").json()
    shipped = next(s for s in status["shipments"] if s["number"] == number)
    assert (shipped["carrier"], shipped["tracking_number"], shipped["lines"][0]["quantity"]) == ("UPS", "1Z1", 1)
    assert [m["milestone"] for m in shipped["milestones"]] == ["shipped"]
    delivered = client.post(f"/api/shipments/{number}/milestones", json={"milestone": "delivered"}, headers=headers)
    assert [m["milestone"] for m in delivered.json()["milestones"]] == ["shipped", "delivered"]
    again = client.post(f"/api/shipments/{number}/milestones", json={"milestone": "delivered"}, headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert client.get(f"/api/records/{number}").json()["fields"][3]["value"].startswith("delivered")


def test_over_shipping_over_the_api_is_refused_with_the_reason(client: TestClient, demo: Database) -> None:
    order, line_no = _reserved_na_line(demo)
    headers = _sign_in(client, "maria")
    body = {"lines": [{"line_no": line_no, "quantity": 1_000_000}], "confirm": False}
    refused = client.post(f"/api/orders/{order}/shipments", json=body, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")
    assert "left to ship" in refused.json()["message"] or "reserved" in refused.json()["message"]


def test_the_shipping_routes_are_typed_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    request = paths["/api/orders/{number}/shipments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["$ref"].endswith("/ShipmentRequest")
    assert paths["/api/orders/{number}/fulfilment"]["get"]["responses"]["200"]
    assert "/api/shipments/{number}/milestones" in paths
    kinds = schema["components"]["schemas"]["NewDraftRequest"]["properties"]["kind"]["enum"]
    assert "shipment" in kinds

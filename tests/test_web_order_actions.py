"""Order actions over the web API: cancel and re-allocate as typed routes through the write gate, and the
backorder queue; on the demo company."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.masterdata.models import LegalEntity
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.models import DemandSource, Reservation
from core.stock.reconciliation import stock_disagreements
from tests import web


def _reserved_line(s: Session) -> tuple[str, int]:
    """An NA confirmed order's line with units reserved: (order, line number)."""
    na = s.scalar(select(LegalEntity.id).where(LegalEntity.code == "NA"))
    row = s.execute(
        select(SalesOrder.id, SalesOrderLine.line_no)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(Reservation, Reservation.source_id == SalesOrderLine.id)
        .where(
            SalesOrder.entity_id == na,
            SalesOrder.status == OrderStatus.CONFIRMED.value,
            Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
            Reservation.quantity > 0,
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    return f"SO-{row[0]}", row[1]


def _fulfilment(c: TestClient, number: str) -> Any:
    return c.get(f"/api/orders/{number}/fulfilment").json()


def test_sales_previews_and_cancels_a_line_and_its_units_are_released(client: TestClient, demo: Database) -> None:
    order, line_no = demo.read(_reserved_line)
    sam = web.sign_in(client, "sam")
    reserved = next(ln["reserved"] for ln in _fulfilment(client, order)["lines"] if ln["line_no"] == line_no)
    body = {"line_no": line_no, "reason": "customer called", "confirm": False}
    preview = client.post(f"/api/orders/{order}/cancel", json=body, headers=sam)
    assert preview.status_code == 201, preview.text
    assert preview.json()["status"] == "unconfirmed"
    assert f"{order} line {line_no}: {reserved} reserved units released" in preview.json()["diff"]
    assert line_no in [ln["line_no"] for ln in _fulfilment(client, order)["lines"]]  # a preview changes nothing
    done = client.post(f"/api/orders/{order}/cancel", json=body | {"confirm": True}, headers=sam).json()
    assert done["status"] in ("executed", "pending_approval"), done
    if done["status"] == "executed":  # the line leaves the order, or the order goes if it was its only line
        after = _fulfilment(client, order)
        assert after["status"] == "cancelled" or line_no not in [ln["line_no"] for ln in after["lines"]], after
        assert all(ln["reserved"] == 0 for ln in after["lines"] if ln["line_no"] == line_no)
    assert demo.read(stock_disagreements) == []


def test_a_manager_reallocates_over_the_api_and_the_queue_shows_who_waits(client: TestClient, demo: Database) -> None:
    order, line_no = demo.read(_reserved_line)
    waiting = demo.run(lambda s: web.waiting_order(s, order, line_no))
    maria = web.sign_in(client, "maria")
    queue = client.get("/api/backorders").json()
    mine = [b for b in queue if b["document"] == f"{waiting} line 1"]
    assert len(mine) == 1 and mine[0]["backordered"] >= 2, queue
    assert all({"position", "sku", "warehouse", "tier", "placed"} <= set(b) for b in queue)
    body = {"line_no": line_no, "to_order": waiting, "quantity": 1, "reason": "rush", "confirm": True}
    done = client.post(f"/api/orders/{order}/reallocate", json=body, headers=maria)
    assert done.status_code == 201 and done.json()["status"] == "executed", done.text
    lines = _fulfilment(client, waiting)["lines"]
    assert lines[0]["reserved"] >= 1
    assert demo.read(stock_disagreements) == []
    client.cookies.clear()
    web.sign_in(client, "uma")  # UK only: NA's queue is not hers to see
    assert all(b["document"] != f"{waiting} line 1" for b in client.get("/api/backorders").json())


def test_order_actions_are_refused_for_the_wrong_role_and_bad_requests(client: TestClient, demo: Database) -> None:
    order, _ = demo.read(_reserved_line)
    fiona = web.sign_in(client, "fiona")  # finance: may not sell
    refused = client.post(f"/api/orders/{order}/cancel", json={"reason": "nope", "confirm": False}, headers=fiona)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), refused.text
    client.cookies.clear()
    sam = web.sign_in(client, "sam")
    bad_line = client.post(
        f"/api/orders/{order}/cancel", json={"line_no": 99, "reason": "gone", "confirm": False}, headers=sam
    )
    assert bad_line.status_code == 422, bad_line.text
    no_reason = client.post(f"/api/orders/{order}/cancel", json={"confirm": False}, headers=sam)
    assert no_reason.status_code == 422
    self_move = client.post(f"/api/orders/{order}/reallocate", json={"to_order": order, "confirm": False}, headers=sam)
    assert self_move.status_code == 422 and "both the source and the target" in self_move.text
    client.cookies.clear()
    uma = web.sign_in(client, "uma")  # UK only: NA's order is not hers to cancel
    other = client.post(f"/api/orders/{order}/cancel", json={"reason": "not mine", "confirm": False}, headers=uma)
    assert other.status_code == 403 and other.json()["code"] == "out_of_scope"


def test_the_openapi_schema_types_the_order_actions(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, model in (
        ("/api/orders/{number}/cancel", "CancelRequest"),
        ("/api/orders/{number}/reallocate", "ReallocateRequest"),
    ):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
    assert {"position", "tier", "backordered"} <= set(schema["components"]["schemas"]["Backorder"]["properties"])

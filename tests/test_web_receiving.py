"""Receiving over the typed API: a purchase-order receipt and a transfer shipped and received, each a draft
through the write gate as the signed-in user, with the same refusals as the core."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.purchasing.service import get_purchase_order
from core.stock.models import StockBalance
from core.stock.reconciliation import stock_disagreements
from core.transfers.service import TransferLineRequest, create_transfer, get_transfer
from tests import web


@pytest.fixture(autouse=True)
def _warehouse_users(demo: Database) -> None:
    web.set_passwords(demo, "wes", "wyn")


def _as(c: TestClient, username: str) -> dict[str, str]:
    c.cookies.clear()
    return web.sign_in(c, username)


def _open_na_po(db: Database) -> tuple[str, str, int]:
    """(PO number, SKU of its first line, units still open on it) of an open purchase order in NA."""

    def query(s: Session) -> tuple[str, str, int]:
        wes = load_actor(s, username="wes")
        for order in s.scalars(select(PurchaseOrder).where(PurchaseOrder.status == PurchaseOrderStatus.OPEN.value)):
            if wes.can_see(order.entity_id):
                po = get_purchase_order(s, wes, po_number=order.id)
                item = s.get(Item, po.lines[0].item_id)
                assert item is not None
                return po.number, item.sku, po.lines[0].open_quantity
        raise AssertionError("the demo has no open NA purchase order")

    return db.read(query)


def test_a_warehouse_user_receives_part_of_a_purchase_order_and_sales_cannot(
    client: TestClient, demo: Database
) -> None:
    number, sku, open_units = _open_na_po(demo)
    body: dict[str, Any] = {"lines": [{"sku": sku, "quantity": 1}], "confirm": True}
    refused = client.post(f"/api/purchase-orders/{number}/receipts", json=body, headers=_as(client, "sam"))
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    wes = _as(client, "wes")
    done = client.post(f"/api/purchase-orders/{number}/receipts", json=body, headers=wes)
    assert done.status_code == 201, done.text
    assert (done.json()["kind"], done.json()["status"], done.json()["result_ref"]) == ("po_receipt", "executed", number)
    left = demo.read(lambda s: get_purchase_order(s, load_actor(s, username="wes"), po_number=number))
    assert left.lines[0].open_quantity == open_units - 1
    typo = client.post(
        f"/api/purchase-orders/{number}/receipts", json={**body, "lines": [{"sku": sku, "qty": 1}]}, headers=wes
    )
    assert typo.status_code == 422
    assert demo.read(stock_disagreements) == []


def _free_at_dal(s: Session) -> str:
    dal = s.scalars(select(Warehouse).where(Warehouse.code == "DAL")).one()
    row = s.scalars(
        select(StockBalance)
        .where(
            StockBalance.warehouse_id == dal.id,
            StockBalance.on_hand - StockBalance.reserved - StockBalance.backordered >= 5,
        )
        .order_by(StockBalance.item_id)
    ).first()
    assert row is not None
    item = s.get(Item, row.item_id)
    assert item is not None
    return item.sku


def test_an_intercompany_transfer_is_shipped_in_na_and_received_damaged_in_the_uk(
    client: TestClient, demo: Database
) -> None:
    def make(s: Session) -> str:
        grace = load_actor(s, username="grace")
        lines = [TransferLineRequest(_free_at_dal(s), 5)]
        return create_transfer(s, grace, from_warehouse="DAL", to_warehouse="BHM", lines=lines).number

    number = demo.run(make)
    early = client.post(f"/api/transfers/{number}/receive", json={"confirm": True}, headers=_as(client, "wyn"))
    assert early.status_code == 409  # not shipped yet
    shipped = client.post(f"/api/transfers/{number}/ship", json={"confirm": True}, headers=_as(client, "wes"))
    assert (shipped.status_code, shipped.json()["status"]) == (201, "executed")
    wrong_side = client.post(f"/api/transfers/{number}/receive", json={"confirm": True}, headers=_as(client, "wes"))
    assert wrong_side.status_code == 403
    body = {"damaged": [{"quantity": 1}], "confirm": True}
    received = client.post(f"/api/transfers/{number}/receive", json=body, headers=_as(client, "wyn"))
    assert (received.status_code, received.json()["status"]) == (201, "executed"), received.text
    assert received.json()["currency"] == "GBP"
    record = client.get(f"/api/records/{number}").json()  # the UK user opens the NA → UK transfer
    assert record["fields"][-1]["value"].startswith("GBP ")
    status = demo.read(lambda s: get_transfer(s, load_actor(s, username="wyn"), transfer_number=number).status)
    assert status == "received"
    assert demo.read(stock_disagreements) == []


def test_the_receiving_routes_are_typed_in_the_openapi_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    receipt = spec["paths"]["/api/purchase-orders/{po_number}/receipts"]["post"]
    assert receipt["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReceiptRequest")
    fields = spec["components"]["schemas"]["TransferReceiveRequest"]["properties"]
    assert {"received", "damaged", "confirm", "idempotency_key"} <= set(fields)
    assert "po_receipt" in spec["components"]["schemas"]["NewDraftRequest"]["properties"]["kind"]["enum"]

"""Documents in over /api/integrations/ on the demo company, as a web shop's integration user with a real API
token: orders, shipments and receipts go through the gate; a retry with the same Idempotency-Key returns the
first answer and never a second document; a foreign entity or a bad document is refused and writes nothing."""

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.drafts.models import DraftAction
from core.identity import (
    add_integration_user,
    integration_tokens,
    issue_integration_token,
    revoke_integration_token,
)
from core.integrations.models import IntegrationRequest
from core.masterdata.models import Customer, Item, LegalEntity, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.purchasing.service import get_purchase_order
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment
from core.sales.service import quoted_prices
from core.stock.models import DemandSource, Reservation
from core.stock.reconciliation import stock_disagreements
from tests import web
from tests.databases import Fresh

ORDERS = "/api/integrations/sales-orders"
SHIPMENTS = "/api/integrations/shipments"
RECEIPTS = "/api/integrations/receipts"
SMALL = {"customer": "ACME", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}], "reference": "WEB-1001"}
LARGE = {"customer": "ACME", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 300}], "reference": "EDI-77"}


def _integration(db: Database, username: str = "webshop", entities: tuple[str, ...] = ("NA",)) -> str:
    """A bearer token of a new integration user of `entities`, issued by the demo's admin."""

    def command(s: Session) -> str:
        admin = load_actor(s, username="admin")
        add_integration_user(s, admin, username=username, entities=entities, display_name="Web shop")
        return issue_integration_token(s, admin, username=username, name="shop production").token

    return db.run(command)


@pytest.fixture
def shop(demo: Database) -> dict[str, str]:
    """The headers of the web shop's requests (its token), without a key."""
    return {"Authorization": f"Bearer {_integration(demo)}"}


def _keyed(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or uuid.uuid4().hex}


def _counts(db: Database) -> tuple[int, ...]:
    """Rows of everything a document could write: drafts, stored requests, orders, shipments."""

    def query(s: Session) -> tuple[int, ...]:
        return tuple(
            s.scalar(select(func.count()).select_from(table)) or 0
            for table in (DraftAction, IntegrationRequest, SalesOrder, Shipment)
        )

    return db.read(query)


def test_a_small_order_becomes_a_draft_that_executes_and_a_retry_returns_the_first_answer(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    before = _counts(demo)
    headers = _keyed(shop, "order-WEB-1001")
    first = client.post(ORDERS, json=SMALL, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["kind"], body["status"], body["outcome"], body["reference"]) == (
        "sales_order",
        "executed",
        "execute",
        "WEB-1001",
    )
    assert body["draft"].startswith("DR-") and body["waiting_for"] == [] and body["failure"] is None
    [order] = body["documents"]
    assert order.startswith("SO-") and "Idempotent-Replayed" not in first.headers
    retried = client.post(ORDERS, json=SMALL, headers=headers)
    assert (retried.status_code, retried.json()) == (201, body)
    assert retried.headers["Idempotent-Replayed"] == "true"
    stored = client.get("/api/integrations/requests/order-WEB-1001", headers=shop)
    assert (stored.status_code, stored.json()) == (200, body)
    assert _counts(demo) == (before[0] + 1, before[1] + 1, before[2] + 1, before[3])  # one draft, one order

    def placed(s: Session) -> tuple[str, str, str]:
        row = s.get(SalesOrder, int(order.removeprefix("SO-")))
        draft = s.scalars(select(DraftAction).where(DraftAction.id == int(body["draft"].removeprefix("DR-")))).one()
        assert row is not None
        return row.customer_reference, row.status, draft.channel

    assert demo.read(placed) == ("WEB-1001", OrderStatus.CONFIRMED.value, "integration")


def test_a_large_order_waits_for_a_manager_and_the_integration_cannot_approve_it(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    held = client.post(ORDERS, json=LARGE, headers=_keyed(shop))
    assert held.status_code == 201, held.text
    body = held.json()
    assert (body["status"], body["outcome"], body["documents"]) == ("pending_approval", "needs_approval", [])
    assert {"role": "manager", "entity": "NA"} in body["waiting_for"] and "manager" in body["decision"]
    for action, extra in (("approve", {}), ("reject", {"comment": "no"}), ("confirm", None)):
        refused = client.post(f"/api/drafts/{body['draft']}/{action}", json=extra, headers=shop)
        assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), action
        assert "not a person" in refused.json()["message"]
    bulk = client.post("/api/approvals/bulk", json={"action": "approve", "numbers": [body["draft"]]}, headers=shop)
    assert bulk.status_code == 200 and bulk.json()["results"][0]["ok"] is False
    grace = web.sign_in(client, "grace")
    approved = client.post(f"/api/drafts/{body['draft']}/approve", json={"comment": "ok"}, headers=grace)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] in {"executed", "pending_approval"}


def test_the_same_key_with_another_document_is_refused_and_a_key_is_required(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    headers = _keyed(shop, "k-1")
    assert client.post(ORDERS, json=SMALL, headers=headers).status_code == 201
    before = _counts(demo)
    changed = client.post(ORDERS, json={**SMALL, "reference": "WEB-1002"}, headers=headers)
    assert (changed.status_code, changed.json()["code"]) == (422, "idempotency_conflict")
    assert "already used for a different request" in changed.json()["message"]
    elsewhere = client.post(
        RECEIPTS, json={"purchase_order": "PO-1", "lines": [{"sku": "V-200", "quantity": 1}]}, headers=headers
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "idempotency_conflict")
    for missing in (shop, {**shop, "Idempotency-Key": ""}, {**shop, "Idempotency-Key": "has space"}):
        refused = client.post(ORDERS, json=SMALL, headers=missing)
        assert (refused.status_code, refused.json()["code"]) == (400, "idempotency_key_required")
        assert "Idempotency-Key" in refused.json()["message"]
    assert client.get("/api/integrations/requests/never-sent", headers=shop).status_code == 404
    assert _counts(demo) == before


def test_keys_belong_to_their_integration_user(client: TestClient, demo: Database, shop: dict[str, str]) -> None:
    edi = {"Authorization": f"Bearer {_integration(demo, 'edi')}"}
    first = client.post(ORDERS, json=SMALL, headers=_keyed(shop, "shared-key"))
    second = client.post(ORDERS, json=SMALL, headers=_keyed(edi, "shared-key"))
    assert first.status_code == second.status_code == 201
    assert first.json()["draft"] != second.json()["draft"]  # each sender's key is its own
    assert client.get("/api/integrations/requests/shared-key", headers=edi).json()["draft"] == second.json()["draft"]


def _uk_customer(s: Session) -> str:
    code = s.scalar(
        select(Customer.code)
        .join(LegalEntity, LegalEntity.id == Customer.entity_id)
        .where(LegalEntity.code == "UK")
        .order_by(Customer.code)
        .limit(1)
    )
    assert code is not None
    return code


@pytest.mark.parametrize(
    ("document", "status", "code"),
    [
        ({**SMALL, "lines": [{"sku": "NO-SUCH-SKU", "quantity": 5}]}, 404, "not_found"),
        ({**SMALL, "customer": "NOBODY-LTD"}, 404, "not_found"),
        ({**SMALL, "warehouse": "BHM"}, None, None),  # another entity's warehouse: refused, whatever the code
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": -5}]}, 422, "invalid_input"),
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": 0}]}, 422, "invalid_input"),
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": 10**12}]}, 422, "invalid_input"),
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": "5"}]}, 422, "invalid_input"),
        ({**SMALL, "lines": []}, 422, "invalid_input"),
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": 5, "unit_price": "0.01"}]}, 422, "invalid_input"),
        ({**SMALL, "lines": [{"sku": "V-200", "quantity": 5, "unit_price": "-3"}]}, 422, "invalid_input"),
        ({**SMALL, "admin": True}, 422, "invalid_input"),
        ({**SMALL, "requested_date": "yesterday"}, 422, "invalid_input"),
    ],
)
def test_a_bad_order_is_refused_with_the_usual_typed_error_and_writes_nothing(
    client: TestClient, demo: Database, shop: dict[str, str], document: dict[str, Any], status: int | None, code: str
) -> None:
    before = _counts(demo)
    refused = client.post(ORDERS, json=document, headers=_keyed(shop))
    assert refused.status_code in ((status,) if status else (403, 404, 409, 422)), refused.text
    assert refused.json()["code"] == code if code else refused.json()["code"] != "internal_error"
    assert _counts(demo) == before
    assert demo.read(stock_disagreements) == []


def test_a_price_the_erp_agrees_with_is_taken_and_malformed_json_is_refused(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    price = demo.read(lambda s: quoted_prices(s, load_actor(s, username="sam"), customer="ACME", skus=["V-200"]))
    priced = {**SMALL, "lines": [{"sku": "V-200", "quantity": 5, "unit_price": str(price["V-200"])}]}
    assert client.post(ORDERS, json=priced, headers=_keyed(shop)).json()["status"] == "executed"
    before = _counts(demo)
    broken = client.post(
        ORDERS, content=b'{"customer": "ACME", "lines": [', headers={**_keyed(shop), "Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (422, "invalid_input")
    assert "not valid JSON" in broken.json()["message"]
    assert _counts(demo) == before


def test_another_entitys_customer_order_or_purchase_order_is_refused(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    uk_customer = demo.read(_uk_customer)
    uk_order = demo.read(lambda s: _reserved_line(s, "UK"))[0]
    uk_po = demo.read(lambda s: _open_po(s, "UK"))[0]
    before = _counts(demo)
    for url, document in (
        (ORDERS, {**SMALL, "customer": uk_customer, "warehouse": "BHM"}),
        (SHIPMENTS, {"order": uk_order, "warehouse": "BHM"}),
        (RECEIPTS, {"purchase_order": uk_po, "lines": [{"sku": "V-200", "quantity": 1}]}),
    ):
        refused = client.post(url, json=document, headers=_keyed(shop))
        assert (refused.status_code, refused.json()["code"]) in {(403, "out_of_scope"), (404, "not_found")}, url
    assert _counts(demo) == before


def test_a_revoked_token_is_refused(client: TestClient, demo: Database, shop: dict[str, str]) -> None:
    def revoke(s: Session) -> None:
        admin = load_actor(s, username="admin")
        [token] = integration_tokens(s, admin, username="webshop")
        revoke_integration_token(s, admin, username="webshop", token_id=token.id)

    assert client.post(ORDERS, json=SMALL, headers=_keyed(shop)).status_code == 201
    demo.run(revoke)
    refused = client.post(ORDERS, json=SMALL, headers=_keyed(shop))
    assert (refused.status_code, refused.json()["code"]) == (401, "not_signed_in")


def test_the_integration_cannot_mint_its_own_tokens_nor_act_beyond_its_documents(
    client: TestClient, shop: dict[str, str]
) -> None:
    minted = client.post("/api/tokens", json={"name": "a spare"}, headers=shop)
    assert (minted.status_code, minted.json()["code"]) == (403, "permission_denied")
    adjust = {"adjustment": {"sku": "V-200", "warehouse": "DAL", "counted": 1}, "confirm": True}
    refused = client.post("/api/stock/adjustments", json=adjust, headers=shop)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), refused.text
    transfer = {"kind": "transfer", "confirm": True, "payload": web.TRANSFER_OVER_LIMIT}
    refused = client.post("/api/drafts", json=transfer, headers=shop)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), refused.text


def _reserved_line(s: Session, entity: str) -> tuple[str, int, int]:
    """A confirmed order of `entity` with units reserved on a line: (order number, line number, units)."""
    row = s.execute(
        select(SalesOrder.id, SalesOrderLine.line_no, Reservation.quantity)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(Reservation, Reservation.source_id == SalesOrderLine.id)
        .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
        .where(
            LegalEntity.code == entity,
            SalesOrder.status == OrderStatus.CONFIRMED.value,
            Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
            Reservation.quantity >= 1,
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    return f"SO-{row[0]}", row[1], row[2]


def _open_po(s: Session, entity: str) -> tuple[str, str]:
    """An open purchase order of `entity`: (its number, the SKU of its first line)."""
    admin = load_actor(s, username="admin")
    for order in s.scalars(
        select(PurchaseOrder)
        .join(LegalEntity, LegalEntity.id == PurchaseOrder.entity_id)
        .where(PurchaseOrder.status == PurchaseOrderStatus.OPEN.value, LegalEntity.code == entity)
        .order_by(PurchaseOrder.id)
    ):
        po = get_purchase_order(s, admin, po_number=order.id)
        item = s.get(Item, po.lines[0].item_id)
        assert item is not None
        return po.number, item.sku
    raise AssertionError(f"the demo has no open {entity} purchase order")


def test_a_wms_shipment_confirmation_ships_through_the_gate_once(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    order, line_no, units = demo.read(lambda s: _reserved_line(s, "NA"))
    warehouse = demo.read(
        lambda s: s.scalar(
            select(Warehouse.code)
            .join(SalesOrderLine, SalesOrderLine.warehouse_id == Warehouse.id)
            .where(SalesOrderLine.order_id == int(order.removeprefix("SO-")), SalesOrderLine.line_no == line_no)
        )
    )
    document = {
        "order": order,
        "warehouse": warehouse,
        "lines": [{"line_no": line_no, "quantity": units}],
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "packages": 2,
    }
    headers = _keyed(shop)
    shipped = client.post(SHIPMENTS, json=document, headers=headers)
    assert shipped.status_code == 201, shipped.text
    body = shipped.json()
    assert (body["kind"], body["status"]) == ("shipment", "executed")
    assert body["documents"] and all(number.startswith("SH-") for number in body["documents"])
    shipments = _counts(demo)[3]
    again = client.post(SHIPMENTS, json=document, headers=headers)
    assert (again.status_code, again.json()) == (201, body)
    assert _counts(demo)[3] == shipments
    view = client.get(f"/api/shipments/{body['documents'][0]}", headers=shop).json()
    assert (view["carrier"], view["tracking_number"], view["packages"]) == ("UPS", "1Z999AA10123456784", 2)
    over = client.post(SHIPMENTS, json=document, headers=_keyed(shop))  # a second WMS message, new key: over-shipping
    assert over.status_code in {409, 422} and _counts(demo)[3] == shipments


def test_a_goods_receipt_records_the_receipt_through_the_gate_once(
    client: TestClient, demo: Database, shop: dict[str, str]
) -> None:
    number, sku = demo.read(lambda s: _open_po(s, "NA"))

    def open_units(s: Session) -> int:
        po = get_purchase_order(s, load_actor(s, username="admin"), po_number=number)
        return po.lines[0].open_quantity

    before = demo.read(open_units)
    document = {"purchase_order": number, "lines": [{"sku": sku, "quantity": 1}]}
    headers = _keyed(shop)
    received = client.post(RECEIPTS, json=document, headers=headers)
    assert received.status_code == 201, received.text
    body = received.json()
    assert (body["kind"], body["status"], body["documents"]) == ("po_receipt", "executed", [number])
    assert client.post(RECEIPTS, json=document, headers=headers).json() == body
    assert demo.read(open_units) == before - 1  # received once, not twice
    assert demo.read(stock_disagreements) == []


# --- Two retries racing, on PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def pg_demo(fresh: Fresh) -> Iterator[Database]:
    with fresh("postgresql", "demo") as database:
        yield database


def test_two_racing_retries_make_one_order_on_postgresql(pg_demo: Database, tmp_path: Path) -> None:
    shop = {"Authorization": f"Bearer {_integration(pg_demo)}", "Idempotency-Key": "race-1"}
    before = _counts(pg_demo)
    start = threading.Barrier(2)
    answers: list[tuple[int, dict[str, Any]]] = []

    def send(c: TestClient) -> None:
        start.wait()
        response = c.post(ORDERS, json=SMALL, headers=shop)
        answers.append((response.status_code, response.json()))

    with web.app(pg_demo, tmp_path) as c:
        threads = [threading.Thread(target=send, args=(c,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [status for status, _ in answers] == [201, 201], answers
    assert answers[0][1] == answers[1][1] and answers[0][1]["status"] == "executed"
    assert _counts(pg_demo) == (before[0] + 1, before[1] + 1, before[2] + 1, before[3])

"""Exception detection on the demo company: the cases agree with the data, read in a few statements, once."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from core import clock
from core.db import Database
from core.exceptions import ExceptionCase, detect_exceptions, page_cases
from core.exceptions.detection import DETECTORS
from core.masterdata.models import Customer, Item, LegalEntity, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.atp import free_stock
from core.stock.models import DemandSource, Reservation, StockBalance


@contextmanager
def _statements(engine: Engine) -> Iterator[list[int]]:
    """Counts the SQL statements sent while the block runs."""
    count = [0]

    def counted(*_args: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", counted)


def _detect(db: Database) -> list[dict[str, Any]]:
    return db.run(
        lambda s: [
            {
                "key": c.dedup_key,
                "type": c.type,
                "entity_id": c.entity_id,
                "related": c.related,
                "suggestions": c.suggestions,
                "rule": c.routing_rule_id,
                "reason": c.routing_reason,
            }
            for c in detect_exceptions(s)
        ]
    )


def _backordered_lines(session: Session) -> set[str]:
    """Independently of the detector: open order lines with a backorder."""
    rows = session.scalars(
        select(Reservation.source_id)
        .join(SalesOrderLine, SalesOrderLine.id == Reservation.source_id)
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(
            Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
            Reservation.backordered > 0,
            SalesOrder.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value]),
        )
    )
    return {f"shortage:sales_order_line:{line_id}" for line_id in rows}


def _held_customers(session: Session) -> set[str]:
    rows = session.scalars(
        select(Customer.id)
        .join(SalesOrder, SalesOrder.customer_id == Customer.id)
        .where(Customer.on_credit_hold.is_(True), SalesOrder.status == OrderStatus.ON_HOLD.value)
    )
    return {f"credit_hold:customer:{customer_id}" for customer_id in rows}


def test_detection_on_the_demo_company_raises_what_the_data_shows_in_a_few_statements(demo_db: Database) -> None:
    with _statements(demo_db.engine) as count:
        cases = _detect(demo_db)
    # Set-based: a fixed handful of statements per detector (and for closing ended episodes), not one per line.
    assert count[0] <= 7 * (len(DETECTORS) + 1)
    by_type = Counter(c["type"] for c in cases)
    assert by_type["shortage"] >= 5 and by_type["credit_hold"] >= 1
    keys = {c["key"] for c in cases}
    assert {k for k in keys if k.startswith("shortage:")} == demo_db.read(_backordered_lines)
    assert {k for k in keys if k.startswith("credit_hold:")} == demo_db.read(_held_customers)
    with _statements(demo_db.engine) as again:
        assert _detect(demo_db) == []
    assert again[0] <= len(DETECTORS) + 2  # a repeated pass: about one look per detector, and the episodes


def test_demo_shortages_suggest_transfers_the_source_can_make_and_are_routed_by_entity(demo_db: Database) -> None:
    cases = [c for c in _detect(demo_db) if c["type"] == "shortage"]

    def facts(s: Session) -> tuple[dict[str, int], dict[int, str], dict[tuple[str, str], int]]:
        warehouses = {code: entity for code, entity in s.execute(select(Warehouse.code, Warehouse.entity_id))}
        entities = dict(s.execute(select(LegalEntity.id, LegalEntity.code)).all())
        free = {
            (sku, code): free_stock(on_hand, reserved, backordered)
            for sku, code, on_hand, reserved, backordered in s.execute(
                select(Item.sku, Warehouse.code, StockBalance.on_hand, StockBalance.reserved, StockBalance.backordered)
                .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
                .join(Item, Item.id == StockBalance.item_id)
            )
        }
        return warehouses, entities, free

    warehouses, entities, free = demo_db.read(facts)
    transfers = 0
    for case in cases:
        related, entity = case["related"], entities[case["entity_id"]]
        assert related["short"] == related["backordered"] > 0
        assert case["rule"] == ("shortage.na" if entity == "NA" else "shortage")
        assert case["reason"].startswith(f"shortage in {entity} → role warehouse (rule {case['rule']}")
        for transfer in (s for s in case["suggestions"] if s["kind"] == "transfer"):
            transfers += 1
            source = transfer["from_warehouse"]
            assert warehouses[source] == warehouses[related["warehouse"]] == case["entity_id"]
            assert free[(related["sku"], source)] >= transfer["quantity"]
            assert transfer["covers"] == (transfer["quantity"] == related["short"])
    assert transfers >= 5


def test_demo_purchase_orders_past_due_raise_one_late_case_each(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _detect(demo_db)
    later = clock.today() + timedelta(days=30)
    monkeypatch.setenv("ERP_TODAY", later.isoformat())
    late = [c for c in _detect(demo_db) if c["type"] == "late_supplier"]
    overdue = demo_db.read(
        lambda s: {
            f"PO-{po_id}"
            for po_id in s.scalars(
                select(PurchaseOrder.id).where(
                    PurchaseOrder.status.in_(["open", "partially_received"]), PurchaseOrder.expected_date < later
                )
            )
        }
    )
    assert len(overdue) >= 10
    assert {c["related"]["purchase_order"] for c in late} == overdue
    assert all(c["rule"] == "late_supplier" for c in late)
    assert _detect(demo_db) == []


def test_demo_managers_see_only_their_entities_cases(demo_db: Database) -> None:
    _detect(demo_db)
    ulrich = demo_db.read(lambda s: load_actor(s, username="ulrich"))  # manager of UK only
    grace = demo_db.read(lambda s: load_actor(s, username="grace"))  # manager of all three
    mine = demo_db.read(lambda s: page_cases(s, ulrich, limit=500).cases)
    everyone = demo_db.read(lambda s: page_cases(s, grace, limit=500).cases)
    assert mine and {c.entity_id for c in mine} == ulrich.entity_ids
    assert len(everyone) == demo_db.read(lambda s: len(list(s.scalars(select(ExceptionCase.id)))))
    assert len(mine) < len(everyone)

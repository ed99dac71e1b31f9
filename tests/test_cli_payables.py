"""`erp-assistant payables book | release | match | show | list | ageing | due` on a seeded SQLite file: finance books
an invoice against a received PO, a buyer reads why one is held, its booker may not release it, and the ageing and
what falls due this week print per entity."""

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import Result

from core.db import Database
from core.masterdata.models import Item, LegalEntity
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from tests.test_cli_shipping import _cli, seeded

__all__ = ["seeded"]  # the shipping tests' seeded company, with the demo's supplier invoices


def _said(result: Result) -> str:
    return " ".join(result.output.split())


def _received_line(url: str) -> tuple[str, str, int, str]:
    """A fully received NA purchase order nothing is billed on yet: (PO, SKU, units received, unit cost)."""

    def query(s: Session) -> tuple[str, str, int, str]:
        row = s.execute(
            select(PurchaseOrder.id, Item.sku, PurchaseOrderLine.qty_received, PurchaseOrderLine.unit_cost)
            .join(PurchaseOrderLine, PurchaseOrderLine.order_id == PurchaseOrder.id)
            .join(Item, Item.id == PurchaseOrderLine.item_id)
            .join(LegalEntity, LegalEntity.id == PurchaseOrder.entity_id)
            .where(LegalEntity.code == "NA", PurchaseOrder.status == PurchaseOrderStatus.RECEIVED.value)
            .order_by(PurchaseOrder.id)
        ).first()
        assert row is not None
        return f"PO-{row[0]}", row[1], row[2], f"{row[3]:.2f}"

    db = Database.from_url(url)
    try:
        return db.read(query)
    finally:
        db.dispose()


def test_finance_books_an_invoice_and_reads_it_back(seeded: str) -> None:
    po, sku, units, cost = _received_line(seeded)
    line = f"{sku}:{units}@{cost}"
    booked = _cli(seeded, "payables", "book", po, "--ref", "CLI-883", "--line", line, "--user", "fiona", "--yes")
    assert booked.exit_code == 0, booked.output
    assert "supplier_invoice — executed" in _said(booked) and "approved for payment" in _said(booked), booked.output
    found = re.search(r"result: (SINV-\d+)", booked.output)
    assert found is not None
    shown = _cli(seeded, "payables", "show", found.group(1), "--user", "bea")
    assert shown.exit_code == 0 and "approved for payment" in _said(shown) and "matched" in shown.output
    twice = _cli(seeded, "payables", "book", po, "--ref", "cli-883", "--line", line, "--user", "fiona", "--yes")
    assert twice.exit_code == 1 and "duplicate_document" in twice.output
    malformed = _cli(seeded, "payables", "book", po, "--ref", "X", "--line", "V-200=4", "--user", "fiona", "--yes")
    assert malformed.exit_code == 1 and "SKU:UNITS@PRICE" in malformed.output
    buyer = _cli(seeded, "payables", "book", po, "--ref", "B-1", "--line", line, "--user", "bea", "--yes")
    assert buyer.exit_code == 1 and "permission_denied" in buyer.output


def test_a_held_invoice_reads_with_its_figures_and_its_booker_may_not_release_it(seeded: str) -> None:
    listed = _cli(seeded, "payables", "list", "--status", "on_hold", "--user", "fiona")
    assert listed.exit_code == 0, listed.output
    held = re.findall(r"SINV-\d+", listed.output)
    assert held, listed.output
    shown = _cli(seeded, "payables", "show", held[-1], "--user", "bea")
    assert "on payment hold" in _said(shown) and ("PRICE OVER" in shown.output or "BILLED MORE" in shown.output)
    own = _cli(seeded, "payables", "release", held[-1], "--reason", "price agreed", "--user", "fiona", "--yes")
    assert own.exit_code == 1 and "permission_denied" in own.output and "you booked" in _said(own)
    again = _cli(seeded, "payables", "match", held[-1], "--user", "fiona")
    assert again.exit_code == 0 and "on payment hold" in _said(again), again.output


def test_ageing_and_due_print_per_entity(seeded: str) -> None:
    ageing = _cli(seeded, "payables", "ageing", "--user", "fiona")
    assert ageing.exit_code == 0 and "NA" in ageing.output and "61-90" in ageing.output, ageing.output
    due = _cli(seeded, "payables", "due", "--user", "fiona")
    assert due.exit_code == 0 and "Due 2026-11-20 to 2026-11-26" in _said(due), due.output
    sales = _cli(seeded, "payables", "ageing", "--user", "sam")
    assert sales.exit_code == 1 and "permission_denied" in sales.output

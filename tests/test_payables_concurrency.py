"""Payables under concurrency on PostgreSQL: two clerks booking the same supplier reference at once book it once, and
two invoices racing for the same received units bill them once (the second is held as over-billed)."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.payables.models import SupplierInvoice
from core.payables.service import InvoiceLineRequest, book_supplier_invoice
from core.policy.rules import Tolerances
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from tests.concurrency import all_at_once
from tests.world import World


def _received_po(world: World) -> str:
    bea, wes = world.actor("bea"), world.actor("wes")
    line = PurchaseLineRequest("V-200", 40, Decimal("41.50"))
    number = world.run(
        lambda s: create_purchase_order(s, bea, supplier="VALVECO", warehouse="DAL", lines=[line]).number
    )
    world.run(lambda s: receive_purchase_order(s, wes, po_number=number))
    return number


@pytest.mark.postgres
def test_the_same_supplier_reference_booked_twice_at_once_is_booked_once(pg_world: World) -> None:
    first, second = _received_po(pg_world), _received_po(pg_world)  # two POs: only the supplier lock queues them
    fin, gus = pg_world.actor("fin"), pg_world.actor("gus")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk, po=po: book_supplier_invoice(  # type: ignore[misc]
                s, clerk, po_number=po, supplier_ref="INV-883", tolerances=Tolerances(),
                lines=[InvoiceLineRequest(10, Decimal("41.50"), line_no=1)],
            )
            for clerk, po in ((fin, first), (gus, second))
        ],
    )  # fmt: skip
    assert outcomes == {"ok": 1, "duplicate_document": 1}
    assert pg_world.read(lambda s: s.scalar(select(func.count()).select_from(SupplierInvoice))) == 1


@pytest.mark.postgres
def test_two_invoices_racing_for_the_same_received_units_bill_them_once(pg_world: World) -> None:
    po = _received_po(pg_world)
    fin = pg_world.actor("fin")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, ref=ref: book_supplier_invoice(  # type: ignore[misc]
                s, fin, po_number=po, supplier_ref=ref, tolerances=Tolerances(),
                lines=[InvoiceLineRequest(30, Decimal("41.50"), line_no=1)],
            )
            for ref in ("A-1", "A-2")
        ],
    )  # fmt: skip
    assert outcomes == {"ok": 2}
    statuses = pg_world.read(lambda s: sorted(s.scalars(select(SupplierInvoice.status).order_by(SupplierInvoice.id))))
    assert statuses == ["approved", "on_hold"]  # 40 received: the second invoice's 30 are 20 beyond what is left

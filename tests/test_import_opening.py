"""Opening balances taken over from a previous system: stock as `opening` ledger receipts, open purchase and sales
orders made by the core's own commands, open receivables that age, count in exposure and take payments."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import clock
from core.audit.models import AuditEvent
from core.db import Database
from core.errors import CurrencyMismatch, ErpError, InvalidInput, InvalidState, PermissionDenied
from core.finance.models import Invoice
from core.finance.service import credit_status, margin_by_entity
from core.imports.opening import Change, OpeningStockRow, load_opening_stock
from core.imports.opening_documents import (
    OpenInvoice,
    OpenPurchaseLine,
    OpenPurchaseOrder,
    OpenSalesLine,
    OpenSalesOrder,
    load_open_invoices,
    load_open_purchase_orders,
    load_open_sales_orders,
)
from core.masterdata.models import Customer, Item, Supplier, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder
from core.receivables.ageing import ageing, collections
from core.receivables.service import Allocation, record_payment
from core.receivables.sums import open_amount
from core.sales.models import SalesOrder
from core.sales.service import LineRequest, order_status
from core.stock.models import LedgerEntry, OpeningStock
from core.stock.reconciliation import stock_disagreements
from core.stock.service import adjust_stock, available_to_promise
from tests import web
from tests.world import World

TODAY = date(2026, 11, 20)


def _ids(world: World) -> dict[str, int]:
    """Ids by SKU, warehouse, customer and supplier code: what the import engine resolves references to."""

    def query(s: Session) -> dict[str, int]:
        ids: dict[str, int] = {}
        for model, column in ((Item, Item.sku), (Warehouse, Warehouse.code), (Customer, Customer.code)):
            ids |= {code: id_ for id_, code in s.execute(select(model.id, column))}
        ids |= {f"sup:{code}": id_ for id_, code in s.execute(select(Supplier.id, Supplier.code))}
        return ids

    return world.read(query)


def _stock(world: World, *rows: tuple[str, str, int, str], user: str = "root") -> dict[tuple[str, str], Any]:
    """Load opening stock (SKU, warehouse, quantity, unit cost); what happened, by (SKU, warehouse)."""
    ids, root = _ids(world), world.actor(user)
    wanted = [OpeningStockRow(ids[sku], ids[wh], qty, Decimal(cost)) for sku, wh, qty, cost in rows]
    outcome = world.run(lambda s: load_opening_stock(s, root, wanted))
    names = {(ids[sku], ids[wh]): (sku, wh) for sku, wh, _q, _c in rows}
    return {names[key]: (change, outcome.refused.get(key)) for key, change in outcome.changes.items()}


def _ledger(world: World, sku: str, warehouse: str) -> list[tuple[str, int]]:
    def query(s: Session) -> list[tuple[str, int]]:
        rows = s.execute(
            select(LedgerEntry.movement, LedgerEntry.quantity)
            .join(Item, Item.id == LedgerEntry.item_id)
            .join(Warehouse, Warehouse.id == LedgerEntry.warehouse_id)
            .where(Item.sku == sku, Warehouse.code == warehouse)
            .order_by(LedgerEntry.id)
        )
        return [(m, q) for m, q in rows]

    return world.read(query)


def _import_events(world: World) -> list[tuple[str, dict[str, Any]]]:
    rows = world.read(
        lambda s: s.execute(
            select(AuditEvent.action, AuditEvent.data).where(AuditEvent.channel == "import").order_by(AuditEvent.seq)
        ).all()
    )
    return [(action, data) for action, data in rows]


# --- Opening stock -------------------------------------------------------------------------------------------


def test_opening_stock_is_a_ledger_receipt_that_the_balance_and_atp_agree_with(world: World) -> None:
    done = _stock(world, ("P-100", "ATL", 40, "48.50"), ("V-220", "ATL", 7, "10"), ("X-900", "ATL", 0, "4000"))
    assert done == {
        ("P-100", "ATL"): (Change.CREATED, None),
        ("V-220", "ATL"): (Change.CREATED, None),
        ("X-900", "ATL"): (Change.UNCHANGED, None),
    }
    assert _ledger(world, "P-100", "ATL") == [("opening", 40)]
    assert world.balance("P-100", "ATL").on_hand == 40
    assert world.read(stock_disagreements) == []
    atp = world.read(lambda s: available_to_promise(s, world.actor("root"), sku="P-100", warehouse="ATL"))
    assert atp.warehouses[0].available_now == 40
    entry = world.read(lambda s: s.scalars(select(OpeningStock).order_by(OpeningStock.id)).first())
    assert entry is not None
    assert (entry.quantity, entry.on_hand, entry.unit_cost, entry.value, entry.currency) == (
        40,
        40,
        Decimal("48.5000"),
        Decimal("1940.0000"),
        "USD",
    )
    assert _import_events(world) == [
        ("opening_stock_loaded", {"counts": {"created": 2, "updated": 0, "unchanged": 1, "refused": 0}, "refused": 0})
    ]


def test_loading_the_same_opening_stock_again_changes_nothing(world: World) -> None:
    _stock(world, ("P-100", "ATL", 40, "48.50"))
    again = _stock(world, ("P-100", "ATL", 40, "48.50"))
    assert again == {("P-100", "ATL"): (Change.UNCHANGED, None)}
    assert _ledger(world, "P-100", "ATL") == [("opening", 40)]
    assert len(_import_events(world)) == 1


def test_a_changed_opening_figure_posts_the_difference_and_a_changed_cost_revalues(world: World) -> None:
    _stock(world, ("P-100", "ATL", 40, "48.50"))
    assert _stock(world, ("P-100", "ATL", 25, "48.50")) == {("P-100", "ATL"): (Change.UPDATED, None)}
    assert _ledger(world, "P-100", "ATL") == [("opening", 40), ("opening", -15)]
    assert world.balance("P-100", "ATL").on_hand == 25
    assert _stock(world, ("P-100", "ATL", 25, "50")) == {("P-100", "ATL"): (Change.UPDATED, None)}
    values = world.read(lambda s: s.execute(select(OpeningStock.unit_cost, OpeningStock.value)).all())
    assert sorted(values) == [(Decimal("50"), Decimal("-750")), (Decimal("50"), Decimal("2000"))]
    assert _ledger(world, "P-100", "ATL") == [("opening", 40), ("opening", -15)]
    assert world.read(stock_disagreements) == []


def test_an_opening_figure_cannot_change_once_other_movements_are_posted(world: World) -> None:
    _stock(world, ("P-100", "ATL", 40, "48.50"))
    wes = world.actor("wes")
    world.run(lambda s: adjust_stock(s, wes, sku="P-100", warehouse="ATL", quantity=-1, reason="dropped"))
    done = _stock(world, ("P-100", "ATL", 50, "48.50"), ("V-200", "DAL", 100, "10"), ("P-100", "DAL", 0, "50"))
    assert done[("P-100", "ATL")][0] is Change.REFUSED
    assert "use a stock count instead" in done[("P-100", "ATL")][1]
    assert done[("V-200", "DAL")][0] is Change.REFUSED  # the world's stock came by adjustments, not an import
    assert done[("P-100", "DAL")] == (Change.UNCHANGED, None)  # never loaded as opening stock, nor asked to be
    assert world.balance("P-100", "ATL").on_hand == 39
    assert world.balance("V-200", "DAL").on_hand == 100
    assert _stock(world, ("P-100", "ATL", 40, "48.50")) == {("P-100", "ATL"): (Change.UNCHANGED, None)}


def test_opening_stock_cannot_drop_below_what_orders_reserved(world: World) -> None:
    _stock(world, ("P-100", "ATL", 40, "48.50"))
    world.place_order("ACME", LineRequest("P-100", 30, warehouse="ATL"), confirm=True)
    done = _stock(world, ("P-100", "ATL", 20, "48.50"))
    assert done[("P-100", "ATL")][0] is Change.REFUSED
    assert "30 units are reserved" in done[("P-100", "ATL")][1]
    assert world.balance("P-100", "ATL").on_hand == 40


def test_opening_stock_goes_to_waiting_backorders_first(world: World) -> None:
    world.place_order("ACME", LineRequest("X-900", 3, warehouse="ATL"), confirm=True, backorder=True)
    assert world.balance("X-900", "ATL").backordered == 3
    assert _stock(world, ("X-900", "ATL", 5, "3900")) == {("X-900", "ATL"): (Change.CREATED, None)}
    balance = world.balance("X-900", "ATL")
    assert (balance.on_hand, balance.reserved, balance.backordered) == (5, 3, 0)
    assert world.read(stock_disagreements) == []


def test_only_an_administrator_loads_opening_balances(world: World) -> None:
    with pytest.raises(PermissionDenied, match="admin"):
        _stock(world, ("P-100", "ATL", 40, "48.50"), user="gus")
    with pytest.raises(InvalidInput, match="given twice"):
        _stock(world, ("P-100", "ATL", 40, "48.50"), ("P-100", "ATL", 41, "48.50"))
    with pytest.raises(InvalidInput, match="whole number"):
        _stock(world, ("P-100", "ATL", 1.5, "48.50"))  # type: ignore[arg-type]
    assert world.balance("P-100", "ATL").on_hand == 0


# --- Open purchase orders ------------------------------------------------------------------------------------


def _purchase(world: World, ref: str, expected: date, *lines: tuple[str, int, int, str], **kw: Any) -> Any:
    ids, root = _ids(world), world.actor("root")
    order = OpenPurchaseOrder(
        external_ref=ref,
        supplier_id=ids[f"sup:{kw.get('supplier', 'VALVECO')}"],
        warehouse_id=ids[kw.get("warehouse", "DAL")],
        expected_date=expected,
        lines=[OpenPurchaseLine(ids[sku], qty, received, Decimal(price)) for sku, qty, received, price in lines],
    )
    return world.run(lambda s: load_open_purchase_orders(s, root, [order]))


def test_an_open_purchase_order_is_dated_incoming_supply_net_of_what_arrived(world: World) -> None:
    outcome = _purchase(world, "OLD-PO-7", TODAY + timedelta(days=7), ("V-220", 50, 20, "10.50"))
    assert outcome.changes == {"OLD-PO-7": Change.CREATED}
    number = outcome.numbers["OLD-PO-7"]
    po = world.read(
        lambda s: [
            (po.number, po.status, po.lines[0].qty_received)
            for po in s.scalars(select(PurchaseOrder).where(PurchaseOrder.external_ref == "OLD-PO-7"))
        ]
    )
    assert po == [(number, "partially_received", 20)]
    assert world.balance("V-220", "DAL").incoming == 30
    assert world.balance("V-220", "DAL").on_hand == 30  # what arrived is in the opening stock, not posted again
    root = world.actor("root")
    now = world.read(lambda s: available_to_promise(s, root, sku="V-220", warehouse="DAL"))
    later = world.read(
        lambda s: available_to_promise(s, root, sku="V-220", warehouse="DAL", on_date=TODAY + timedelta(days=7))
    )
    assert (now.warehouses[0].available_now, later.warehouses[0].available_on_date) == (30, 60)
    assert _purchase(world, "OLD-PO-7", TODAY + timedelta(days=7), ("V-220", 50, 20, "10.50")).changes == {
        "OLD-PO-7": Change.UNCHANGED
    }
    assert world.balance("V-220", "DAL").incoming == 30
    assert world.read(stock_disagreements) == []


def test_a_late_open_purchase_order_keeps_its_past_date(world: World) -> None:
    _purchase(world, "OLD-PO-8", TODAY - timedelta(days=3), ("P-100", 10, 0, "45"))
    po = world.read(lambda s: s.scalars(select(PurchaseOrder).where(PurchaseOrder.external_ref == "OLD-PO-8")).one())
    assert po.expected_date == TODAY - timedelta(days=3)
    atp = world.read(lambda s: available_to_promise(s, world.actor("root"), sku="P-100", warehouse="DAL"))
    assert atp.warehouses[0].incoming[0].due_date == TODAY - timedelta(days=3)
    assert atp.warehouses[0].available_now == 15


# --- Open sales orders ---------------------------------------------------------------------------------------


def _sale(world: World, ref: str, customer: str, warehouse: str, *lines: tuple[str, int, str | None]) -> Any:
    ids, root = _ids(world), world.actor("root")
    order = OpenSalesOrder(
        external_ref=ref,
        customer_id=ids[customer],
        warehouse_id=ids[warehouse],
        order_date=TODAY - timedelta(days=5),
        requested_date=TODAY - timedelta(days=1),
        lines=[OpenSalesLine(ids[sku], qty, Decimal(p) if p else None) for sku, qty, p in lines],
    )
    return world.run(lambda s: load_open_sales_orders(s, root, [order]))


def test_an_open_sales_order_reserves_stock_and_backorders_the_rest(world: World) -> None:
    outcome = _sale(world, "OLD-SO-1", "ACME", "DAL", ("V-220", 40, "21.00"), ("V-200", 5, None))
    assert outcome.changes == {"OLD-SO-1": Change.CREATED}
    number = outcome.numbers["OLD-SO-1"]
    view = world.read(lambda s: order_status(s, world.actor("root"), order_number=number))
    assert view.status == "confirmed"
    assert (view.order_date, view.requested_date) == (TODAY - timedelta(days=5), TODAY - timedelta(days=1))
    assert [(ln.sku, ln.reserved, ln.backordered, ln.unit_price) for ln in view.lines] == [
        ("V-220", 30, 10, Decimal("21.00")),
        ("V-200", 5, 0, Decimal("18.00")),  # ACME's price list
    ]
    again = _sale(world, "OLD-SO-1", "ACME", "DAL", ("V-220", 40, "21.00"), ("V-200", 5, None))
    assert again.changes == {"OLD-SO-1": Change.UNCHANGED}
    changed = _sale(world, "OLD-SO-1", "ACME", "DAL", ("V-220", 41, "21.00"))
    assert changed.changes == {"OLD-SO-1": Change.REFUSED} and number in changed.refused["OLD-SO-1"]
    assert world.balance("V-220", "DAL").backordered == 10
    assert world.read(stock_disagreements) == []
    assert [a for a, _ in _import_events(world)] == ["open_sales_orders_loaded"]


def test_an_open_sales_order_for_a_customer_on_credit_hold_is_held_as_the_core_holds_it(world: World) -> None:
    outcome = _sale(world, "OLD-SO-2", "HOLDCO", "DAL", ("V-220", 5, None))
    view = world.read(lambda s: order_status(s, world.actor("root"), order_number=outcome.numbers["OLD-SO-2"]))
    assert view.status == "on_hold" and view.lines[0].reserved == 0


# --- Open receivables ----------------------------------------------------------------------------------------


def _invoices(world: World, *rows: tuple[str, str, int, int, str, str]) -> Any:
    """(ref, customer, days ago issued, days ago due, amount, currency)."""
    ids, root = _ids(world), world.actor("root")
    wanted = [
        OpenInvoice(ref, ids[c], TODAY - timedelta(days=i), TODAY - timedelta(days=d), Decimal(a), ccy)
        for ref, c, i, d, a, ccy in rows
    ]
    return world.run(lambda s: load_open_invoices(s, root, wanted))


def test_open_receivables_age_count_in_exposure_and_take_payments(world: World) -> None:
    margin_before = world.read(lambda s: margin_by_entity(s, world.actor("root"), since=TODAY - timedelta(days=90)))
    outcome = _invoices(world, ("A-991", "ACME", 50, 20, "1000.00", "USD"), ("A-992", "ACME", 10, -20, "250", "usd"))
    assert outcome.changes == {"A-991": Change.CREATED, "A-992": Change.CREATED}
    root, fin = world.actor("root"), world.actor("fin")
    assert world.read(lambda s: credit_status(s, root, customer="ACME")).open_receivables == Decimal("1250.00")
    report = world.read(lambda s: ageing(s, fin, entity="NA"))
    acme = next(line for line in report.customers if line.code == "ACME")
    assert (acme.buckets["1-30"], acme.buckets["current"]) == (Decimal("1000.00"), Decimal("250.00"))
    assert next(d for d in report.dso if d.entity == "NA").credit_sales == Decimal("1250.00")
    assert [t.customer for t in world.read(lambda s: collections(s, fin))] == ["ACME"]
    number = outcome.numbers["A-991"]
    world.run(
        lambda s: record_payment(
            s, fin, customer="ACME", amount=Decimal(400), bank_reference="wire 1", allocations=[Allocation(number)]
        )
    )
    invoice = world.read(lambda s: s.scalars(select(Invoice).where(Invoice.external_ref == "A-991")).one())
    assert world.read(lambda s: open_amount(s, invoice)) == Decimal("600.00")
    margin_after = world.read(lambda s: margin_by_entity(s, root, since=TODAY - timedelta(days=90)))
    assert margin_after == margin_before  # the old system's revenue, not this one's


def test_reloading_open_receivables_changes_nothing_and_corrects_only_unsettled_ones(world: World) -> None:
    _invoices(world, ("A-991", "ACME", 50, 20, "1000.00", "USD"), ("A-992", "ACME", 10, -20, "250", "USD"))
    assert _invoices(world, ("A-991", "ACME", 50, 20, "1000", "USD")).changes == {"A-991": Change.UNCHANGED}
    fin = world.actor("fin")
    world.run(lambda s: record_payment(s, fin, customer="ACME", amount=Decimal(100), bank_reference="w"))
    later = _invoices(world, ("A-991", "ACME", 50, 20, "900", "USD"), ("A-992", "ACME", 10, -20, "240", "USD"))
    assert later.changes == {"A-991": Change.REFUSED, "A-992": Change.UPDATED}
    assert "paid or credited" in later.refused["A-991"]
    count = world.read(lambda s: s.scalar(select(func.count()).select_from(Invoice)))
    assert count == 2


# --- Wrong references ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load", "error", "text"),
    [
        (lambda w: _sale(w, "X-1", "BRIT", "DAL", ("V-220", 1, None)), InvalidInput, "does not ship for UK"),
        (lambda w: _purchase(w, "X-2", TODAY, ("F-300", 5, 0, "4"), supplier="UKSUP"), InvalidInput, "supplies UK"),
        (lambda w: _invoices(w, ("X-3", "ACME", 5, 0, "10", "GBP")), CurrencyMismatch, "invoiced in USD"),
        (lambda w: _purchase(w, "X-4", TODAY, ("V-220", 5, 9, "4")), InvalidInput, "more than the 5 ordered"),
    ],
)
def test_a_wrong_reference_is_refused_with_a_typed_error_and_changes_nothing(
    world: World, load: Any, error: type[ErpError], text: str
) -> None:
    before = world.read(_document_counts)
    with pytest.raises(error, match=text) as raised:
        load(world)
    assert raised.value.details["external_ref"] in ("X-1", "X-2", "X-3", "X-4")
    assert world.read(_document_counts) == before
    assert world.read(stock_disagreements) == []
    assert _import_events(world) == []


def test_an_open_sales_order_of_an_inactive_item_is_refused_as_the_core_refuses_it(world: World) -> None:
    world.run(lambda s: s.execute(update(Item).where(Item.sku == "X-900").values(active=False)))
    with pytest.raises(InvalidState, match="inactive items cannot be sold: X-900"):
        _sale(world, "OLD-SO-9", "ACME", "DAL", ("X-900", 1, None))
    assert world.read(lambda s: s.scalar(select(func.count()).select_from(SalesOrder))) == 0


def _document_counts(s: Session) -> tuple[int, ...]:
    models = (SalesOrder, PurchaseOrder, Invoice, LedgerEntry)
    return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in models)


def test_an_opening_invoice_opens_as_a_record_with_its_previous_number(client: TestClient, demo: Database) -> None:
    def load(s: Session) -> str:
        admin = load_actor(s, username="admin")
        customer = s.scalars(select(Customer).where(Customer.code == "ACME")).one()
        today = clock.today()
        invoice = OpenInvoice("LEGACY-77", customer.id, today, today + timedelta(days=30), Decimal("99.50"), "USD")
        return load_open_invoices(s, admin, [invoice]).numbers["LEGACY-77"]

    number = demo.run(load)
    web.sign_in(client, "sam")
    record = client.get(f"/api/records/{number}").json()
    fields = {f["label"]: f["value"] for f in record["fields"]}
    assert (record["kind"], fields["previous system's number"], fields["open"]) == ("invoice", "LEGACY-77", "USD 99.50")
    assert fields["customer"].startswith("ACME ")

"""What the README's walk-through relies on, made true on whatever day the demo company is generated.

The history and today's business depend on the generation day (`ERP_TODAY`): the calendar decides
seasons, weekdays and which random draws land where, so free stock at the end of the history varies from
day to day. The README's examples may not: `tests/test_readme_walkthrough.py` runs them on several days.
What each example needs, and what makes it so:

- "how many V-200 can we promise in Atlanta?": 12 available at ATL now, and a purchase order bringing
  200 more in 10 days. The V-200 shortage scenario (`scenario.V200`) builds exactly that: the history
  ends with at least 12 at ATL, today's orders take it down to 12, and nothing else picks that key.
- "draft a transfer of 3 P-200 and 5 P-180 from DAL to ATL" (about USD 15,000, so a manager of NA
  approves it): at least 3 P-200 and 5 P-180 free at DAL. Pumps sell a unit at a time and are restocked
  in small lots, so on some days DAL ends the history with fewer: `guarantee_walkthrough_stock` then
  receives the shortfall today, on a purchase order from the item's usual supplier.
- "a transfer of 40 V-200 from DAL to ATL" (within a transfer's limits, so it executes) and ACME's order
  of 300 V-200 (served from DAL, the warehouse with most free stock): at least 340 free V-200 at DAL,
  enough for both in a row. The shortage scenario tops DAL's on-hand up to 340 at the end of the history;
  the same receipt covers anything today's documents took from it.
- ACME's order of 300 V-200 going over its credit limit (so finance approves it as well as a manager):
  `credit.CreditDesk` keeps ACME's headroom under USD 4,000, below the order's value.

A guarantee already met sends no command and draws no random number, so a day whose company met them all
(2026-11-20, the day the tests and evaluation tasks pin) is generated exactly as before.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Role
from core.db import Database
from core.demo.company import Company
from core.demo.directory import ACME_CODE, user_for
from core.exceptions.routing import load_routing
from core.finance.models import Invoice
from core.masterdata.models import Customer
from core.masterdata.service import load_actor
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from core.receivables.ageing import long_overdue
from core.receivables.service import record_payment
from core.stock.atp import free_stock
from core.stock.models import StockBalance


@dataclass(frozen=True)
class WalkthroughStock:
    """At least `free` units of `sku` nobody has claimed at `warehouse`, for the README example `used_by`."""

    sku: str
    warehouse: str
    free: int
    used_by: str


WALKTHROUGH_STOCK = (
    WalkthroughStock("P-200", "DAL", 3, "draft a transfer of 3 P-200 and 5 P-180 from DAL to ATL"),
    WalkthroughStock("P-180", "DAL", 5, "draft a transfer of 3 P-200 and 5 P-180 from DAL to ATL"),
    WalkthroughStock("V-200", "DAL", 340, "a transfer of 40 V-200 from DAL to ATL, then ACME's 300 V-200"),
)


def free_at(session: Session, company: Company, sku: str, warehouse: str) -> int:
    """Free stock (on hand - reserved - backordered) of an item at a warehouse."""
    key = (company.item_by_sku[sku].id, company.warehouse_by_code[warehouse].id)
    balance = session.get(StockBalance, key)
    return free_stock(balance.on_hand, balance.reserved, balance.backordered) if balance else 0


def shortfalls(db: Database, company: Company) -> list[tuple[WalkthroughStock, int]]:
    """The guarantees not met now, with the units each lacks. A company too small to have the README's items
    (P-200 and P-180 are generated SKUs, not anchors) has no walk-through to guarantee for them."""
    wanted = [g for g in WALKTHROUGH_STOCK if g.sku in company.item_by_sku]
    free = db.read(lambda s: [free_at(s, company, g.sku, g.warehouse) for g in wanted])
    return [(g, g.free - have) for g, have in zip(wanted, free, strict=True) if have < g.free]


def guarantee_walkthrough_stock(db: Database, company: Company) -> int:
    """Receive today what the walk-through's stock lacks: one purchase order per supplier and warehouse,
    ordered by the entity's buyer and received by its warehouse keeper. Returns the orders made."""
    batches: dict[tuple[str, str], list[PurchaseLineRequest]] = {}
    for guarantee, missing in shortfalls(db, company):
        site = company.warehouse_by_code[guarantee.warehouse]
        vendor = company.supplier_for(company.item_by_sku[guarantee.sku], site.entity_id)
        batches.setdefault((vendor.code, site.code), []).append(PurchaseLineRequest(guarantee.sku, missing))
    for (supplier_code, warehouse_code), lines in batches.items():
        _receive_today(db, company, supplier_code, warehouse_code, lines)
    return len(batches)


def _receive_today(
    db: Database, company: Company, supplier: str, warehouse: str, lines: list[PurchaseLineRequest]
) -> None:
    """A delivery received this morning: ordered by the entity's buyer, received by its warehouse keeper."""
    entity = company.entity_of(company.warehouse_by_code[warehouse].id).code
    buyer = db.read(lambda s: load_actor(s, username=user_for(Role.BUYER, entity)))
    keeper = db.read(lambda s: load_actor(s, username=user_for(Role.WAREHOUSE, entity)))

    def command(s: Session) -> None:
        order = create_purchase_order(s, buyer, supplier=supplier, warehouse=warehouse, lines=lines)
        receive_purchase_order(s, keeper, po_number=order.id)

    db.run(command)


def guarantee_walkthrough_credit(db: Database, company: Company) -> Decimal:
    """Keep ACME, the walk-through's customer, under the overdue-hold limit: on a day whose history left more than
    the limit open on its long-overdue invoices (2026-12-08: USD 5,220.10 on two disputed March invoices), the first
    exception pass put it on credit hold and blocked the walk-through's order. ACME then pays those invoices today,
    before its credit limit is set from its exposure. A day under the limit sends no command. Returns what was paid."""
    rule = load_routing().overdue_hold
    if rule is None or not rule.over or ACME_CODE not in {c.code for c in company.customers}:
        return Decimal(0)
    finance = db.read(lambda s: load_actor(s, username=user_for(Role.FINANCE, "NA")))

    def command(s: Session) -> Decimal:
        acme = s.scalar(select(Customer.id).where(Customer.code == ACME_CODE))
        late = long_overdue(s, Invoice.customer_id == acme, entity_ids=None, days=rule.days_past_due).get(acme or 0)
        if late is None or late.currency not in rule.over or late.amount <= rule.over[late.currency]:
            return Decimal(0)
        record_payment(s, finance, customer=ACME_CODE, amount=late.amount, bank_reference="ACME-CATCH-UP")
        return late.amount

    paid: Decimal = db.run(command)
    return paid

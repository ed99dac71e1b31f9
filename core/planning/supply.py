"""Where an item is bought and how long it takes: an entity's source per item, its price, the supplier's lead time.

- The **source** of an item for an entity is its `item_sources` row (supplier, minimum order quantity, pack
  size); an item without one is bought from the supplier it was last bought from by that entity (pack and
  minimum 1). An item neither has, nobody knows where to buy: it can only be transferred.
- The **price** is the supplier's unit cost on the last purchase order for the item, in the supplier's
  currency; never bought from it, the standard cost (which is in the group currency) converted.
- The **lead time** of a supplier is the mean and spread of its receipts' days (first receipt's day minus the
  order day) over the window before `as_of`, with at least `min_receipts` of them; else the supplier's master
  lead time with the planning file's share of it as the spread.

Everything is read as it was known before `as_of` (purchase orders placed and receipts posted before it).
"""

import statistics
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.masterdata.models import Supplier
from core.numbering import PURCHASE_ORDER
from core.planning.replenishment import ReplenishmentSettings
from core.purchasing.models import ItemSource, PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.stock.models import LedgerEntry, Movement

SourceKey = tuple[int, int]  # (item_id, entity_id)


@dataclass(frozen=True)
class Source:
    """Where an entity buys an item."""

    supplier_id: int
    supplier: str  # its code
    currency: str
    moq: int
    pack_size: int
    basis: str  # "item source" or "last bought on PO-123"


@dataclass(frozen=True)
class LeadTime:
    """A supplier's lead time in days and its standard deviation, and what they were taken from."""

    days: float
    sd_days: float
    receipts: int  # the receipts measured (0: the master lead time was used)
    basis: str


@dataclass(frozen=True)
class Purchases:
    """What the purchase history says: the last supplier of each (item, entity) and the last price per supplier."""

    last_supplier: dict[SourceKey, tuple[int, int]]  # (item, entity) -> (supplier id, PO id)
    last_cost: dict[tuple[int, int], Decimal]  # (supplier id, item id) -> unit cost in the supplier's currency


def purchases_before(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> Purchases:
    """The last supplier and the last prices from the purchase orders placed before `as_of` (not cancelled)."""
    query = (
        select(
            PurchaseOrder.entity_id,
            PurchaseOrderLine.item_id,
            PurchaseOrder.supplier_id,
            PurchaseOrder.id,
            PurchaseOrderLine.unit_cost,
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
        .where(PurchaseOrder.order_date < as_of, PurchaseOrder.status != PurchaseOrderStatus.CANCELLED.value)
        .order_by(PurchaseOrder.order_date, PurchaseOrder.id)
    )
    if entity_ids is not None:
        query = query.where(PurchaseOrder.entity_id.in_(list(entity_ids)))
    last_supplier: dict[SourceKey, tuple[int, int]] = {}
    last_cost: dict[tuple[int, int], Decimal] = {}
    for entity_id, item_id, supplier_id, po_id, unit_cost in session.execute(query):
        last_supplier[(item_id, entity_id)] = (supplier_id, po_id)
        last_cost[(supplier_id, item_id)] = Decimal(unit_cost)
    return Purchases(last_supplier, last_cost)


def supply_sources(
    session: Session, purchases: Purchases, *, entity_ids: Collection[int] | None = None
) -> dict[SourceKey, Source]:
    """The source of every (item, entity) that has one: its item-source row, else its last supplier."""
    suppliers = {s.id: s for s in session.scalars(select(Supplier))}
    query = select(ItemSource)
    if entity_ids is not None:
        query = query.where(ItemSource.entity_id.in_(list(entity_ids)))
    sources: dict[SourceKey, Source] = {}
    for (item_id, entity_id), (supplier_id, po_id) in purchases.last_supplier.items():
        supplier = suppliers[supplier_id]
        sources[(item_id, entity_id)] = Source(
            supplier.id, supplier.code, supplier.currency, 1, 1, f"last bought on {PURCHASE_ORDER.format(po_id)}"
        )
    for row in session.scalars(query):
        supplier = suppliers[row.supplier_id]
        sources[(row.item_id, row.entity_id)] = Source(
            supplier.id, supplier.code, supplier.currency, row.moq, row.pack_size, "item source"
        )
    return sources


def supplier_lead_times(session: Session, *, as_of: date, settings: ReplenishmentSettings) -> dict[int, LeadTime]:
    """Every supplier's lead time: measured on its receipts in the window before `as_of`, or its master figure."""
    since = as_of - timedelta(days=settings.lead_time_window_days)
    first_receipt = func.min(LedgerEntry.posted_at)
    rows = session.execute(
        select(PurchaseOrder.supplier_id, PurchaseOrder.order_date, first_receipt)
        .join(LedgerEntry, (LedgerEntry.ref_type == "purchase_order") & (LedgerEntry.ref_id == PurchaseOrder.id))
        .where(
            LedgerEntry.movement == Movement.RECEIPT.value,
            LedgerEntry.posted_at < datetime.combine(as_of, time.min),
            PurchaseOrder.order_date >= since,
        )
        .group_by(PurchaseOrder.id, PurchaseOrder.supplier_id, PurchaseOrder.order_date)
    )
    measured: dict[int, list[int]] = {}
    for supplier_id, ordered, received in rows:
        measured.setdefault(supplier_id, []).append(max(0, (_day(received) - ordered).days))
    times = {}
    for supplier in session.scalars(select(Supplier)):
        days = measured.get(supplier.id, [])
        if len(days) >= settings.min_receipts:
            times[supplier.id] = LeadTime(
                statistics.fmean(days),
                statistics.stdev(days),
                len(days),
                f"{len(days)} receipts in the {settings.lead_time_window_days} days before {as_of}",
            )
        else:
            spread = supplier.lead_time_days * settings.lead_time_spread
            times[supplier.id] = LeadTime(
                float(supplier.lead_time_days),
                spread,
                0,
                f"{supplier.code}'s master lead time {supplier.lead_time_days} days, spread "
                f"{settings.lead_time_spread:.0%} ({len(days)} receipts measured, fewer than {settings.min_receipts})",
            )
    return times


def _day(value: datetime | date | str) -> date:
    """A timestamp's day (SQLite hands an aggregate's datetime back as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value

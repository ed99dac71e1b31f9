"""Supplier performance and risk: a scorecard per supplier, and an alert when a figure crosses its threshold.

The scorecard of a supplier covers its purchase orders due (by their expected date) in the `lookback_days`
before `as_of`, as far as the receipts posted before `as_of` show them:

- on-time rate: orders whose first receipt came on or before the expected date, of the orders due; an order
  due and not received yet counts as late;
- fill rate: units received by the expected date, of the units ordered on the orders due;
- lead-time drift: the average delay (first receipt less expected date, in days) of the orders due in the
  last `recent_days`, less that of the earlier ones; with the promised and the recent actual lead time;
- price variance: what the orders placed in the window paid against the items' standard cost (converted into
  the order's currency at the order date), in percent of the standard;
- concentration: the supplier's share of its entity's spend in the window, and the items whose supply in the
  window came (by units ordered) at least `item_share` from it.

`supplier_lateness` (each supplier's record of days late, per order) is what late-order risk reads too.
One finding per supplier (SUPPLIER_RISK, key "supplier_risk:supplier:<id>") names every figure past its
threshold (the `suppliers:` section of the planning file); its impact is the value still open on the
supplier's orders, the money that waits on its record.
"""

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.exceptions.findings import Finding
from core.exceptions.models import ExceptionType, Severity
from core.fx import rates_on, rates_over
from core.masterdata.models import Item, LegalEntity, Supplier
from core.money import format_money, round_money
from core.planning.config import planning_section
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.sales.pricing import GROUP_CURRENCY, round_percent
from core.stock.models import LedgerEntry, Movement

NOT_ORDERED = (PurchaseOrderStatus.CANCELLED.value,)
OPEN_PO_STATUSES = (PurchaseOrderStatus.OPEN.value, PurchaseOrderStatus.PARTIALLY_RECEIVED.value)


class SupplierThresholds(BaseModel):
    """The `suppliers:` section of the planning file."""

    lookback_days: int = Field(180, ge=14, le=1095)
    recent_days: int = Field(60, ge=7, le=365)
    min_orders: int = Field(5, ge=1)  # a supplier with fewer orders due in the window is scored, not judged
    on_time_min: float = Field(0.75, ge=0, le=1)
    fill_rate_min: float = Field(0.75, ge=0, le=1)
    lead_time_drift_days: float = Field(3.0, gt=0)
    price_variance_pct: float = Field(5.0, gt=0)
    spend_share_max: float = Field(0.5, gt=0, le=1)
    item_share: float = Field(
        1.0, gt=0, le=1
    )  # an item is sole-sourced when this share of its supply is one supplier's
    sole_source_items_max: int | None = Field(None, ge=0)  # alert above this many sole-sourced items (None: never)


def thresholds() -> SupplierThresholds:
    return planning_section("suppliers", SupplierThresholds)


# --- what the receipts say, per purchase-order line ------------------------------------------------


@dataclass(frozen=True)
class OrderedLine:
    """A purchase-order line with what was received against it before `as_of`."""

    po_id: int
    supplier_id: int
    entity_id: int
    item_id: int
    currency: str
    order_date: date
    expected_date: date
    quantity: int
    unit_cost: Decimal
    received: int  # units received before as_of
    received_on_time: int  # units received on or before the expected date
    first_receipt: date | None


def ordered_lines(
    session: Session,
    *,
    as_of: date,
    since: date,
    entity_ids: Collection[int] | None = None,
    supplier_ids: Collection[int] | None = None,
) -> list[OrderedLine]:
    """Purchase-order lines ordered before `as_of` and due (expected) or ordered on or after `since`, with their
    receipts before `as_of` (the ledger's receipt rows of the order and item)."""
    query = (
        select(
            PurchaseOrderLine.order_id,
            PurchaseOrder.supplier_id,
            PurchaseOrder.entity_id,
            PurchaseOrderLine.item_id,
            PurchaseOrder.currency,
            PurchaseOrder.order_date,
            PurchaseOrder.expected_date,
            PurchaseOrderLine.quantity,
            PurchaseOrderLine.unit_cost,
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
        .where(
            PurchaseOrder.order_date < as_of,
            (PurchaseOrder.expected_date >= since) | (PurchaseOrder.order_date >= since),
            PurchaseOrder.status.not_in(NOT_ORDERED),
        )
        .order_by(PurchaseOrderLine.id)
    )
    if entity_ids is not None:
        query = query.where(PurchaseOrder.entity_id.in_(sorted(entity_ids)))
    if supplier_ids is not None:
        query = query.where(PurchaseOrder.supplier_id.in_(sorted(supplier_ids)))
    rows = session.execute(query).all()
    receipts = _receipts(session, as_of=as_of, since=since - timedelta(days=366), entity_ids=entity_ids)
    lines = []
    for po_id, supplier_id, entity_id, item_id, ccy, ordered, expected, quantity, cost in rows:
        got = receipts.get((po_id, item_id), [])
        lines.append(
            OrderedLine(
                po_id=po_id,
                supplier_id=supplier_id,
                entity_id=entity_id,
                item_id=item_id,
                currency=ccy,
                order_date=ordered,
                expected_date=expected,
                quantity=quantity,
                unit_cost=Decimal(cost),
                received=sum(q for _, q in got),
                received_on_time=sum(q for day, q in got if day <= expected),
                first_receipt=min((day for day, _ in got), default=None),
            )
        )
    return lines


def _receipts(
    session: Session, *, as_of: date, since: date, entity_ids: Collection[int] | None
) -> dict[tuple[int, int], list[tuple[date, int]]]:
    """Receipts posted before `as_of` per (purchase order, item): [(day, units)]."""
    query = (
        select(LedgerEntry.ref_id, LedgerEntry.item_id, LedgerEntry.posted_at, LedgerEntry.quantity)
        .join(PurchaseOrder, PurchaseOrder.id == LedgerEntry.ref_id)
        .where(
            LedgerEntry.movement == Movement.RECEIPT.value,
            LedgerEntry.ref_type == "purchase_order",
            LedgerEntry.posted_at < datetime.combine(as_of, time.min),
            LedgerEntry.posted_at >= datetime.combine(since, time.min),
        )
    )
    if entity_ids is not None:
        query = query.where(PurchaseOrder.entity_id.in_(sorted(entity_ids)))
    found: dict[tuple[int, int], list[tuple[date, int]]] = {}
    for po_id, item_id, posted, quantity in session.execute(query):
        found.setdefault((po_id, item_id), []).append((posted.date(), int(quantity)))
    return found


# --- pure figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRecord:
    """One purchase order as the record sees it: when it was promised, when it came (first receipt), how full."""

    po_id: int
    supplier_id: int
    order_date: date
    expected_date: date
    first_receipt: date | None
    ordered: int
    received_on_time: int

    def delay(self, as_of: date) -> int:
        """Days late (negative: early); an order still awaited is at least as late as `as_of` makes it."""
        arrived = self.first_receipt if self.first_receipt is not None else max(as_of, self.expected_date)
        return (arrived - self.expected_date).days

    def on_time(self, as_of: date) -> bool:
        return self.delay(as_of) <= 0


def order_records(lines: Sequence[OrderedLine]) -> list[OrderRecord]:
    """The lines of each purchase order folded into one record per order."""
    by_po: dict[int, list[OrderedLine]] = {}
    for line in lines:
        by_po.setdefault(line.po_id, []).append(line)
    records = []
    for po_id, rows in sorted(by_po.items()):
        first = min((r.first_receipt for r in rows if r.first_receipt is not None), default=None)
        head = rows[0]
        records.append(
            OrderRecord(
                po_id,
                head.supplier_id,
                head.order_date,
                head.expected_date,
                first,
                sum(r.quantity for r in rows),
                sum(min(r.received_on_time, r.quantity) for r in rows),
            )
        )
    return records


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of the values by linear interpolation between closest ranks (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def on_time_rate(records: Sequence[OrderRecord], as_of: date) -> float | None:
    """Share of the orders due before `as_of` that arrived by their expected date (None: none due)."""
    due = [r for r in records if r.expected_date < as_of]
    return sum(r.on_time(as_of) for r in due) / len(due) if due else None


def fill_rate(records: Sequence[OrderRecord], as_of: date) -> float | None:
    """Units received by the expected date, of the units ordered, over the orders due before `as_of`."""
    due = [r for r in records if r.expected_date < as_of]
    ordered = sum(r.ordered for r in due)
    return sum(r.received_on_time for r in due) / ordered if ordered else None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Drift:
    promised_days: float | None  # average promised lead time (expected less order date) of the recent orders
    recent_days: float | None  # average actual lead time (first receipt less order date) of the recent orders
    recent_delay: float | None  # average days late, recent orders
    earlier_delay: float | None  # average days late, earlier orders

    @property
    def drift(self) -> float | None:
        """How many days later than before the supplier delivers now, against the promised dates."""
        if self.recent_delay is None or self.earlier_delay is None:
            return None
        return self.recent_delay - self.earlier_delay


def lead_time_drift(records: Sequence[OrderRecord], as_of: date, recent_from: date) -> Drift:
    """The delay of orders due since `recent_from` against that of the orders due before it (received or due)."""
    due = [r for r in records if r.expected_date < as_of]
    recent = [r for r in due if r.expected_date >= recent_from]
    earlier = [r for r in due if r.expected_date < recent_from]
    arrived = [r for r in recent if r.first_receipt is not None]
    return Drift(
        promised_days=mean([(r.expected_date - r.order_date).days for r in recent]),
        recent_days=mean([(r.first_receipt - r.order_date).days for r in arrived if r.first_receipt]),
        recent_delay=mean([r.delay(as_of) for r in recent]),
        earlier_delay=mean([r.delay(as_of) for r in earlier]),
    )


def price_variance_pct(paid: Decimal, standard: Decimal) -> Decimal | None:
    """What was paid over the standard cost of the same units, in percent of the standard (None: no standard)."""
    return round_percent((paid - standard) * 100 / standard) + 0 if standard > 0 else None  # + 0: never "-0.0"


def typical_lateness(delays: Sequence[int], q: float, min_orders: int) -> int:
    """The days late a supplier's order typically runs (the q-quantile of its delays, whole days up, never below
    0); 0 with fewer than `min_orders` orders on record."""
    if len(delays) < min_orders:
        return 0
    value = round(quantile([float(d) for d in delays], q), 6)  # 3.0000000000000004 is 3 days, not 4
    return max(0, math.ceil(value))


def supplier_lateness(
    session: Session, *, as_of: date, lookback_days: int, entity_ids: Collection[int] | None = None
) -> dict[int, list[int]]:
    """Each supplier's delays in days (one per order due in the window before `as_of`), oldest due first."""
    since = as_of - timedelta(days=lookback_days)
    lines = ordered_lines(session, as_of=as_of, since=since, entity_ids=entity_ids)
    records = [r for r in order_records(lines) if since <= r.expected_date < as_of]
    delays: dict[int, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.expected_date, r.po_id)):
        delays.setdefault(record.supplier_id, []).append(record.delay(as_of))
    return delays


# --- the scorecard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorecard:
    """One supplier's figures over the window, in its entity's currency where they are money."""

    supplier_id: int
    supplier: str
    name: str
    entity_id: int
    entity: str
    currency: str  # the entity's
    since: date
    as_of: date
    orders_due: int
    on_time_rate: float | None
    fill_rate: float | None
    drift: Drift
    spend: Decimal  # ordered in the window, in the entity's currency
    spend_share: float | None  # of the entity's spend in the window
    price_variance_pct: Decimal | None
    sole_source_items: list[str]  # SKUs
    open_value: Decimal  # still to come on its open orders, in the entity's currency
    breaches: list[str]  # the alerts, in words

    @property
    def judged(self) -> bool:
        return bool(self.breaches)


def supplier_scorecards(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Scorecard]:
    """A scorecard per supplier of the entities (all if None) with orders in the window, by entity then code."""
    limits = thresholds()
    since = as_of - timedelta(days=limits.lookback_days)
    lines = ordered_lines(session, as_of=as_of, since=since, entity_ids=entity_ids)
    suppliers = {
        s.id: s
        for s in session.scalars(select(Supplier).where(Supplier.id.in_(sorted({ln.supplier_id for ln in lines}))))
    }
    entities = {e.id: e for e in session.scalars(select(LegalEntity))}
    rates = _rates(session, lines, entities, as_of)
    items = {ln.item_id for ln in lines}
    standard = {
        i: Decimal(c) for i, c in session.execute(select(Item.id, Item.standard_cost).where(Item.id.in_(items)))
    }
    skus = {i: str(sku) for i, sku in session.execute(select(Item.id, Item.sku).where(Item.id.in_(items)))}
    placed = [ln for ln in lines if ln.order_date >= since]
    spend = _spend(placed, entities, rates, as_of)
    entity_spend: dict[int, Decimal] = {}
    for (entity_id, _), amount in spend.items():
        entity_spend[entity_id] = entity_spend.get(entity_id, Decimal(0)) + amount
    sole = _sole_sourced(placed, limits.item_share)
    open_values = _open_values(session, sorted(suppliers), entities, as_of)
    cards = []
    for supplier_id, supplier in suppliers.items():
        mine = [ln for ln in lines if ln.supplier_id == supplier_id]
        records = [r for r in order_records(mine) if since <= r.expected_date < as_of]
        entity = entities[supplier.entity_id]
        paid = sum((ln.unit_cost * ln.quantity for ln in mine if ln.order_date >= since), Decimal(0))
        std = sum(
            (
                Decimal(standard[ln.item_id]) * rates[(GROUP_CURRENCY, ln.currency, ln.order_date)] * ln.quantity
                for ln in mine
                if ln.order_date >= since
            ),
            Decimal(0),
        )
        own_spend = spend.get((supplier.entity_id, supplier_id), Decimal(0))
        total = entity_spend.get(supplier.entity_id, Decimal(0))
        card = Scorecard(
            supplier_id=supplier_id,
            supplier=supplier.code,
            name=supplier.name,
            entity_id=supplier.entity_id,
            entity=entity.code,
            currency=entity.base_currency,
            since=since,
            as_of=as_of,
            orders_due=len(records),
            on_time_rate=on_time_rate(records, as_of),
            fill_rate=fill_rate(records, as_of),
            drift=lead_time_drift(records, as_of, as_of - timedelta(days=limits.recent_days)),
            spend=round_money(own_spend),
            spend_share=float(own_spend / total) if total > 0 else None,
            price_variance_pct=price_variance_pct(paid, std),
            sole_source_items=sorted(skus[i] for i in sole.get(supplier_id, [])),
            open_value=open_values.get(supplier_id, Decimal("0.00")),
            breaches=[],
        )
        cards.append(_judged(card, limits))
    return sorted(cards, key=lambda c: (c.entity, c.supplier))


def _rates(
    session: Session, lines: Sequence[OrderedLine], entities: dict[int, LegalEntity], as_of: date
) -> dict[tuple[str, str, date], Decimal]:
    """USD into each order's currency on its order date, and each order's currency into its entity's on `as_of`."""
    into = rates_over(
        session, [(GROUP_CURRENCY, c) for c in {ln.currency for ln in lines}], {ln.order_date for ln in lines}
    )
    found = {(*pair, day): rate.rate for (pair, day), rate in into.items()}
    pairs = {(ln.currency, entities[ln.entity_id].base_currency) for ln in lines}
    for pair, rate in rates_on(session, pairs, as_of).items():
        found[(*pair, as_of)] = rate.rate
    return found


def _spend(
    lines: Sequence[OrderedLine],
    entities: dict[int, LegalEntity],
    rates: dict[tuple[str, str, date], Decimal],
    as_of: date,
) -> dict[tuple[int, int], Decimal]:
    """Ordered value per (entity, supplier), in the entity's currency at the rates of `as_of`."""
    spend: dict[tuple[int, int], Decimal] = {}
    for ln in lines:
        rate = rates[(ln.currency, entities[ln.entity_id].base_currency, as_of)]
        key = (ln.entity_id, ln.supplier_id)
        spend[key] = spend.get(key, Decimal(0)) + ln.unit_cost * ln.quantity * rate
    return spend


def _sole_sourced(lines: Sequence[OrderedLine], share: float) -> dict[int, list[int]]:
    """Items (per entity) whose units ordered in the window came at least `share` from one supplier: by supplier."""
    units: dict[tuple[int, int], dict[int, int]] = {}
    for ln in lines:
        by_supplier = units.setdefault((ln.entity_id, ln.item_id), {})
        by_supplier[ln.supplier_id] = by_supplier.get(ln.supplier_id, 0) + ln.quantity
    sole: dict[int, list[int]] = {}
    for (_, item_id), by_supplier in units.items():
        total = sum(by_supplier.values())
        top, most = max(by_supplier.items(), key=lambda kv: (kv[1], -kv[0]))
        if total and most / total >= share:
            sole.setdefault(top, []).append(item_id)
    return sole


def _open_values(
    session: Session, supplier_ids: list[int], entities: dict[int, LegalEntity], as_of: date
) -> dict[int, Decimal]:
    """What is still to come on each supplier's open orders, in its entity's currency."""
    rows = session.execute(
        select(
            PurchaseOrder.supplier_id,
            PurchaseOrder.entity_id,
            PurchaseOrder.currency,
            func.sum((PurchaseOrderLine.quantity - PurchaseOrderLine.qty_received) * PurchaseOrderLine.unit_cost),
        )
        .join(PurchaseOrderLine, PurchaseOrderLine.order_id == PurchaseOrder.id)
        .where(
            PurchaseOrder.supplier_id.in_(supplier_ids),
            PurchaseOrder.status.in_(OPEN_PO_STATUSES),
            PurchaseOrderLine.qty_received < PurchaseOrderLine.quantity,
        )
        .group_by(PurchaseOrder.supplier_id, PurchaseOrder.entity_id, PurchaseOrder.currency)
    ).all()
    if not rows:
        return {}
    rates = rates_on(session, {(ccy, entities[e].base_currency) for _, e, ccy, _ in rows}, as_of)
    values: dict[int, Decimal] = {}
    for supplier_id, entity_id, ccy, amount in rows:
        value = rates[(ccy, entities[entity_id].base_currency)].apply(Decimal(amount or 0))
        values[supplier_id] = values.get(supplier_id, Decimal("0.00")) + value
    return values


def _pct(value: float) -> str:
    return f"{round_percent(Decimal(str(value * 100)))}%"


def breaches(card: Scorecard, limits: SupplierThresholds) -> list[str]:
    """The figures of a scorecard past their thresholds, in words (none for a supplier with too few orders due)."""
    found = []
    if card.orders_due >= limits.min_orders:
        if card.on_time_rate is not None and card.on_time_rate < limits.on_time_min:
            found.append(
                f"on time {_pct(card.on_time_rate)} of {card.orders_due} orders due, below {_pct(limits.on_time_min)}"
            )
        if card.fill_rate is not None and card.fill_rate < limits.fill_rate_min:
            found.append(f"fill rate by the expected date {_pct(card.fill_rate)}, below {_pct(limits.fill_rate_min)}")
        drift = card.drift.drift
        if drift is not None and drift >= limits.lead_time_drift_days:
            found.append(
                f"lead time drifting: recent orders {card.drift.recent_delay:+.1f} days against the expected date, "
                f"earlier ones {card.drift.earlier_delay:+.1f} ({drift:+.1f} days)"
            )
    if card.price_variance_pct is not None and abs(card.price_variance_pct) >= Decimal(str(limits.price_variance_pct)):
        found.append(f"paid {card.price_variance_pct:+}% against standard cost (limit {limits.price_variance_pct}%)")
    if card.spend_share is not None and card.spend_share > limits.spend_share_max:
        found.append(
            f"{_pct(card.spend_share)} of {card.entity}'s purchasing spend, above {_pct(limits.spend_share_max)}"
        )
    if limits.sole_source_items_max is not None and len(card.sole_source_items) > limits.sole_source_items_max:
        found.append(f"sole source of {len(card.sole_source_items)} items (limit {limits.sole_source_items_max})")
    return found


def _judged(card: Scorecard, limits: SupplierThresholds) -> Scorecard:
    return replace(card, breaches=breaches(card, limits))


def find_supplier_risks(session: Session, *, as_of: date, entity_ids: Collection[int] | None = None) -> list[Finding]:
    """A SUPPLIER_RISK finding for each supplier with a figure past its threshold."""
    cards = supplier_scorecards(session, as_of=as_of, entity_ids=entity_ids)
    return [supplier_finding(card) for card in cards if card.judged]


def supplier_finding(card: Scorecard) -> Finding:
    severity = Severity.HIGH if len(card.breaches) > 1 else Severity.MEDIUM
    return Finding(
        type=ExceptionType.SUPPLIER_RISK,
        entity_id=card.entity_id,
        key=f"supplier_risk:supplier:{card.supplier_id}",
        severity=severity,
        title=f"{card.supplier}: {card.breaches[0]}" + (f" (+{more} more)" if (more := len(card.breaches) - 1) else ""),
        detail=(
            f"{card.name} ({card.supplier}, {card.entity}) over {card.since}..{card.as_of - timedelta(days=1)}: "
            + "; ".join(card.breaches)
            + f". Still to come on its open orders: {format_money(card.open_value, card.currency)}."
        ),
        evidence=scorecard_evidence(card),
        impact=round_money(card.open_value),
    )


def scorecard_evidence(card: Scorecard) -> dict[str, object]:
    return {
        "supplier": card.supplier,
        "entity": card.entity,
        "window": [card.since.isoformat(), (card.as_of - timedelta(days=1)).isoformat()],
        "orders_due": card.orders_due,
        "on_time_rate": None if card.on_time_rate is None else round(card.on_time_rate, 4),
        "fill_rate": None if card.fill_rate is None else round(card.fill_rate, 4),
        "promised_lead_time_days": _round(card.drift.promised_days),
        "recent_lead_time_days": _round(card.drift.recent_days),
        "recent_delay_days": _round(card.drift.recent_delay),
        "earlier_delay_days": _round(card.drift.earlier_delay),
        "lead_time_drift_days": _round(card.drift.drift),
        "spend": str(card.spend),
        "spend_share": None if card.spend_share is None else round(card.spend_share, 4),
        "price_variance_pct": None if card.price_variance_pct is None else str(card.price_variance_pct),
        "sole_source_items": len(card.sole_source_items),
        "open_value": str(card.open_value),
        "currency": card.currency,
        "breaches": card.breaches,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)

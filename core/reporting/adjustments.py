"""Stock adjustments by reason, warehouse and period, with their value at standard cost.

Reads the posted adjustments (one row per count, write-off or find), grouped in SQL, only for the
entities in the actor's scope, each in its entity's currency, with a sentence saying how it was computed.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.masterdata.models import LegalEntity, Warehouse
from core.masterdata.service import get_warehouse_in_scope
from core.money import round_money
from core.reporting.service import entities_in_scope, reporting_period
from core.stock.counts import reason_of
from core.stock.models import StockAdjustment


@dataclass(frozen=True)
class AdjustmentLine:
    """The adjustments of one reason at one warehouse in the period."""

    entity: str
    warehouse: str
    reason: str
    currency: str
    adjustments: int
    units_lost: int
    units_found: int
    value: Decimal  # net, at standard cost: negative when more was lost than found

    @property
    def net_units(self) -> int:
        return self.units_found - self.units_lost


@dataclass(frozen=True)
class AdjustmentReport:
    period_start: date
    period_end: date
    lines: list[AdjustmentLine]
    basis: str


def adjustment_report(
    session: Session,
    actor: Actor,
    *,
    since: date | None = None,
    until: date | None = None,
    entity: str | None = None,
    warehouse: str | None = None,
    reason: str | None = None,
) -> AdjustmentReport:
    """Counts, write-offs and finds posted in the period (default the last 90 days), by entity, warehouse and
    reason: how many, the units lost and found, and their net value at standard cost."""
    start, end = reporting_period(since, until)
    entity_ids = [e.id for e in entities_in_scope(session, actor, entity)]
    lost = case((StockAdjustment.quantity < 0, -StockAdjustment.quantity), else_=0)
    found = case((StockAdjustment.quantity > 0, StockAdjustment.quantity), else_=0)
    query = (
        select(
            LegalEntity.code,
            Warehouse.code,
            StockAdjustment.reason,
            StockAdjustment.currency,
            func.count(),
            func.sum(lost),
            func.sum(found),
            func.sum(StockAdjustment.value),
        )
        .join(Warehouse, Warehouse.id == StockAdjustment.warehouse_id)
        .join(LegalEntity, LegalEntity.id == StockAdjustment.entity_id)
        .where(
            StockAdjustment.entity_id.in_(entity_ids),
            StockAdjustment.posted_at >= datetime.combine(start, time.min),
            StockAdjustment.posted_at < datetime.combine(end + timedelta(days=1), time.min),
        )
        .group_by(LegalEntity.code, Warehouse.code, StockAdjustment.reason, StockAdjustment.currency)
        .order_by(LegalEntity.code, Warehouse.code, StockAdjustment.reason)
    )
    if warehouse:
        query = query.where(StockAdjustment.warehouse_id == get_warehouse_in_scope(session, actor, code=warehouse).id)
    if reason:
        query = query.where(StockAdjustment.reason == reason_of(reason, counted=True).value)
    lines = [
        AdjustmentLine(e, w, r, c, int(n), int(out or 0), int(into or 0), round_money(value))
        for e, w, r, c, n, out, into, value in session.execute(query)
    ]
    basis = (
        f"counts, write-offs and finds posted {start}..{end}; each valued at the item's standard cost in its "
        "entity's currency when it was posted; value is net (found minus lost)"
    )
    return AdjustmentReport(period_start=start, period_end=end, lines=lines, basis=basis)

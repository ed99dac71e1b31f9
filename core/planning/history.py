"""The demand history the analyses read: units ordered per item and warehouse, in weekly buckets.

Demand is what customers ordered (by order date, on the line's warehouse), not what shipped: a week
short of stock still shows what was wanted. Drafts and cancelled orders are not demand. Only orders
placed before `as_of` count, so a replay of the past sees what was known then.
"""

from collections.abc import Collection
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine

Key = tuple[int, int]  # (item_id, warehouse_id)
NOT_DEMAND = (OrderStatus.DRAFT.value, OrderStatus.CANCELLED.value)


def week_starts(as_of: date, weeks: int) -> list[date]:
    """The first day of each of the `weeks` whole weeks before `as_of`, oldest first (a week ends the day before)."""
    return [as_of - timedelta(days=7 * (weeks - i)) for i in range(weeks)]


def weekly_demand(
    session: Session,
    *,
    as_of: date,
    weeks: int,
    entity_ids: Collection[int] | None = None,
    keys: Collection[Key] | None = None,
) -> dict[Key, list[int]]:
    """Units ordered per (item, warehouse) in each of the `weeks` weeks before `as_of`, oldest first.

    Only keys with some demand in the window are returned; every series has `weeks` buckets."""
    start = as_of - timedelta(days=7 * weeks)
    day = SalesOrder.order_date
    query = (
        select(SalesOrderLine.item_id, SalesOrderLine.warehouse_id, day, func.sum(SalesOrderLine.quantity))
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .where(day >= start, day < as_of, SalesOrder.status.not_in(NOT_DEMAND))
        .group_by(SalesOrderLine.item_id, SalesOrderLine.warehouse_id, day)
    )
    if entity_ids is not None:
        query = query.where(SalesOrder.entity_id.in_(list(entity_ids)))
    wanted = None if keys is None else set(keys)
    if wanted is not None:
        query = query.where(SalesOrderLine.item_id.in_(sorted({item for item, _ in wanted})))
    series: dict[Key, list[int]] = {}
    for item_id, warehouse_id, ordered_on, units in session.execute(query):
        key = (int(item_id), int(warehouse_id))
        if wanted is not None and key not in wanted:
            continue
        bucket = (ordered_on - start).days // 7
        series.setdefault(key, [0] * weeks)[bucket] += int(units)
    return series

"""Counts and write-offs racing each other and sales on PostgreSQL: nothing written off twice, nothing oversold,
and the ledger still equals the balance."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.counts import count_stock, write_off_or_find
from core.stock.models import StockAdjustment
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World


@pytest.mark.postgres
def test_two_clerks_writing_off_the_same_units_at_once_write_them_off_once(pg_world: World) -> None:
    wes, root = pg_world.actor("wes"), pg_world.actor("root")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk: write_off_or_find(  # type: ignore[misc]
                s, clerk, sku="V-200", warehouse="ATL", quantity=8, reason="damage"
            )
            for clerk in (wes, root)
        ],
    )
    assert outcomes == {"ok": 1, "insufficient_stock": 1}
    assert pg_world.balance("V-200", "ATL").on_hand == 4
    assert pg_world.read(stock_disagreements) == []


@pytest.mark.postgres
def test_a_count_racing_sales_leaves_the_counted_units_and_never_oversells(pg_world: World) -> None:
    sam, wes = pg_world.actor("sam"), pg_world.actor("wes")

    def sell(s: Session) -> object:
        order = create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 3, warehouse="ATL")])
        return confirm_order(s, sam, order_number=order.id, allow_backorder=True)

    outcomes = all_at_once(
        pg_world, [*(sell for _ in range(4)), lambda s: count_stock(s, wes, sku="V-200", warehouse="ATL", counted=5)]
    )
    assert outcomes == {"ok": 5}
    count = pg_world.read(lambda s: s.scalars(select(StockAdjustment)).one())
    assert count.book_quantity + count.quantity == 5  # the book it compared with was the one it changed
    atl = pg_world.balance("V-200", "ATL")
    assert atl.on_hand == 5 and atl.reserved <= atl.on_hand and atl.reserved + atl.backordered == 12
    assert pg_world.read(stock_disagreements) == []

"""Substitutions racing each other on PostgreSQL: two orders reaching for the last units of the same substitute get
them once, and the ledger still equals the balance."""

import pytest

from core.sales.service import LineRequest
from core.sales.substitution import substitute_line
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World


@pytest.mark.postgres
def test_two_orders_substituting_the_last_units_at_once_get_them_once(pg_world: World) -> None:
    first = pg_world.place_order("ACME", LineRequest("V-200", 20, warehouse="DAL"), confirm=True)
    second = pg_world.place_order("BOLT", LineRequest("V-200", 20, warehouse="DAL"), confirm=True)
    sam, gus = pg_world.actor("sam"), pg_world.actor("gus")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, who=who, order=order: substitute_line(  # type: ignore[misc]
                s, who, order_number=order, line_no=1, sku="V-220"
            )
            for who, order in ((sam, first), (gus, second))
        ],
    )
    assert outcomes == {"ok": 1, "insufficient_stock": 1}  # V-220 has 30 at DAL: one order of 20 fits
    v220, v200 = pg_world.balance("V-220", "DAL"), pg_world.balance("V-200", "DAL")
    assert (v220.reserved, v220.backordered, v200.reserved) == (20, 0, 20)
    assert pg_world.read(stock_disagreements) == []

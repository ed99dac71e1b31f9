"""Stock adjustments and ATP queries on the small world."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core.errors import InsufficientStock, InvalidInput, NotFound, OutOfScope, PermissionDenied
from core.finance.service import customers_near_limit
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.models import LedgerEntry
from core.stock.reconciliation import stock_disagreements
from core.stock.service import adjust_stock, available_to_promise, balance_lock_statement
from tests.world import World

TODAY = date(2026, 11, 20)


def test_adjustment_posts_to_the_ledger_with_its_reason(world: World) -> None:
    wes = world.actor("wes")
    entry = world.run(
        lambda s: adjust_stock(s, wes, sku="V-200", warehouse="ATL", quantity=-2, reason="damaged in aisle 4")
    )
    assert (entry.movement, entry.quantity, entry.note, entry.user_id) == (
        "adjustment",
        -2,
        "damaged in aisle 4",
        wes.user_id,
    )
    assert world.balance("V-200", "ATL").on_hand == 10
    assert world.read(stock_disagreements) == []


def test_adjustment_cannot_write_off_reserved_or_missing_stock(world: World) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    number = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 10, warehouse="ATL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number))
    with pytest.raises(InsufficientStock, match="V-200 at ATL: need 3, available 2"):
        world.run(lambda s: adjust_stock(s, wes, sku="V-200", warehouse="ATL", quantity=-3, reason="count"))
    rows = world.read(lambda s: len(s.scalars(select(LedgerEntry).where(LedgerEntry.note == "count")).all()))
    assert rows == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"quantity": 0}, InvalidInput, "changes nothing"),
        ({"quantity": 5, "reason": "  "}, InvalidInput, "needs a reason"),
        ({"quantity": 5, "warehouse": "BHM"}, OutOfScope, "outside your scope"),
        ({"quantity": 5, "warehouse": "Dalas"}, NotFound, "did you mean"),
        ({"quantity": 5, "sku": "NOPE-1"}, NotFound, "unknown SKU"),
        ({"quantity": -5_000_000}, InvalidInput, "larger than"),
    ],
)
def test_bad_adjustments_are_refused(
    world: World, kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    wes = world.actor("wes")
    args: dict[str, object] = {"sku": "V-200", "warehouse": "DAL", "reason": "count"} | kwargs
    with pytest.raises(error, match=text):
        world.run(lambda s: adjust_stock(s, wes, **args))  # type: ignore[arg-type]
    assert world.balance("V-200", "DAL").on_hand == 100


def test_only_warehouse_roles_adjust_stock(world: World) -> None:
    sam = world.actor("sam")
    with pytest.raises(PermissionDenied):
        world.run(lambda s: adjust_stock(s, sam, sku="V-200", warehouse="DAL", quantity=1, reason="count"))


def test_atp_by_entity_covers_its_warehouses_and_respects_scope(world: World) -> None:
    mia, sam = world.actor("mia"), world.actor("sam")
    na = world.read(lambda s: available_to_promise(s, mia, sku="V-200", entity="NA"))
    assert [w.warehouse for w in na.warehouses] == ["ATL", "DAL"]
    assert na.total_available == 112
    everywhere = world.read(lambda s: available_to_promise(s, mia, sku="F-300"))
    assert {w.warehouse: w.available_now for w in everywhere.warehouses} == {"ATL": 0, "BHM": 50, "DAL": 0}
    with pytest.raises(OutOfScope):
        world.read(lambda s: available_to_promise(s, sam, sku="F-300", entity="UK"))
    with pytest.raises(InvalidInput, match="in the past"):
        world.read(lambda s: available_to_promise(s, sam, sku="V-200", on_date=TODAY - timedelta(days=1)))


def test_customers_near_their_limit_are_listed_most_exposed_first(world: World) -> None:
    sam = world.actor("sam")
    # BOLT: limit 1,000; 50 V-200 at the 20.00 list price is 1,000.00 of exposure (100%).
    number = world.run(
        lambda s: create_order(s, sam, customer="BOLT", lines=[LineRequest("V-200", 50, warehouse="DAL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number))
    near = world.read(lambda s: customers_near_limit(s, world.actor("mia"), threshold_pct=90))
    assert [(c.customer, c.exposure) for c in near] == [("BOLT", 1000)]
    assert world.read(lambda s: customers_near_limit(s, sam, threshold_pct=101)) == []


def test_locking_balances_searches_the_key_instead_of_scanning(sqlite_world: World) -> None:
    statement = balance_lock_statement([(1, 1), (2, 1), (3, 2)])
    with sqlite_world.db.engine.connect() as connection:
        sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SEARCH stock_balances USING INDEX" in plan
    assert "SCAN stock_balances" not in plan

"""Backorders under races on PostgreSQL: a receipt racing shipments of the same stock, a cancellation racing a
shipment of the same order. Nothing oversold, no unit both shipped and released, the ledger equals the balance."""

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.actor import Actor
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from core.sales.cancellation import cancel_open_rest
from core.sales.service import LineRequest, order_status
from core.shipping.service import ship_order
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World


def _line(world: World, number: str) -> tuple[str, int, int, int, int]:
    """(status, quantity, shipped, reserved, backordered) of the order's first line."""
    view = world.read(lambda s: order_status(s, world.actor("gus"), order_number=number))
    line = view.lines[0]
    return view.status, line.quantity, line.shipped, line.reserved, line.backordered


@pytest.mark.postgres
def test_a_receipt_racing_shipments_of_the_same_stock_oversells_nothing(pg_world: World) -> None:
    bea, wes, root = pg_world.actor("bea"), pg_world.actor("wes"), pg_world.actor("root")
    acme = pg_world.place_order("ACME", LineRequest("V-200", 12, warehouse="ATL"), confirm=True)
    bolt = pg_world.place_order("BOLT", LineRequest("V-200", 5, warehouse="ATL"), confirm=True, backorder=True)
    po = pg_world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", 10)]
            ).number
        )
    )

    def receive(s: Session) -> object:
        return receive_purchase_order(s, wes, po_number=po)

    def ship(number: str, clerk: Actor) -> Callable[[Session], object]:
        return lambda s: ship_order(s, clerk, order_number=number)

    outcomes = all_at_once(pg_world, [receive, ship(acme, wes), ship(bolt, root)])
    assert outcomes["ok"] >= 2 and sum(outcomes.values()) == 3
    assert set(outcomes) <= {"ok", "invalid_state"}  # BOLT ships only if the receipt reached it first
    assert _line(pg_world, acme)[2] == 12
    bolt_shipped = _line(pg_world, bolt)[2]
    assert bolt_shipped in (0, 5) and (bolt_shipped == 5) == (outcomes["ok"] == 3)
    atl = pg_world.balance("V-200", "ATL")
    assert atl.on_hand == 12 + 10 - 12 - bolt_shipped
    assert (atl.reserved, atl.backordered) == (5 - bolt_shipped, 0)
    assert pg_world.read(stock_disagreements) == []


@pytest.mark.postgres
@pytest.mark.parametrize("partial", [True, False])
def test_a_cancel_racing_a_shipment_of_the_same_order_ships_or_releases_each_unit_once(
    pg_world: World, partial: bool
) -> None:
    sam, wes = pg_world.actor("sam"), pg_world.actor("wes")
    acme = pg_world.place_order("ACME", LineRequest("V-200", 12, warehouse="ATL"), confirm=True)
    waiting = pg_world.place_order("BOLT", LineRequest("V-200", 5, warehouse="ATL"), confirm=True, backorder=True)
    quantities = {1: 5} if partial else None
    outcomes = all_at_once(
        pg_world,
        [
            lambda s: ship_order(s, wes, order_number=acme, quantities=quantities),
            lambda s: cancel_open_rest(s, sam, order_number=acme, reason="customer cancelled"),
        ],
    )
    status, quantity, shipped, reserved, backordered = _line(pg_world, acme)
    assert (reserved, backordered) == (0, 0)
    released = 12 - shipped
    if shipped == 0:  # the cancel came first; the shipment found a cancelled order
        assert outcomes == {"ok": 1, "invalid_state": 1} and status == "cancelled"
    elif partial:  # shipped 5, then the rest of 7 was cancelled
        assert outcomes == {"ok": 2} and (status, quantity, shipped) == ("invoiced", 5, 5)
    else:  # all shipped; nothing was left to cancel
        assert outcomes == {"ok": 1, "invalid_state": 1} and (status, shipped, released) == ("invoiced", 12, 0)
    atl = pg_world.balance("V-200", "ATL")
    assert atl.on_hand == 12 - shipped
    assert _line(pg_world, waiting)[3:] == (min(5, released), 5 - min(5, released))
    assert (atl.reserved, atl.backordered) == (min(5, released), 5 - min(5, released))
    assert pg_world.read(stock_disagreements) == []

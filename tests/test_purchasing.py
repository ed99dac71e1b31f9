"""Purchase orders on the small world: dated incoming supply, receipts, refusals."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.errors import InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.purchasing.service import (
    PurchaseLineRequest,
    cancel_purchase_order,
    create_purchase_order,
    get_purchase_order,
    receive_purchase_order,
)
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from tests.world import World

TODAY = date(2026, 11, 20)


def _po(world: World, *lines: PurchaseLineRequest, warehouse: str = "ATL", supplier: str = "VALVECO") -> str:
    bea = world.actor("bea")
    return world.run(
        lambda s: create_purchase_order(s, bea, supplier=supplier, warehouse=warehouse, lines=list(lines)).number
    )


def test_purchase_order_is_incoming_supply_from_its_expected_date(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 100))
    due = TODAY + timedelta(days=10)  # VALVECO's lead time
    sam = world.actor("sam")
    before = world.read(
        lambda s: available_to_promise(s, sam, sku="V-200", warehouse="ATL", on_date=due - timedelta(days=1))
    )
    on_due = world.read(lambda s: available_to_promise(s, sam, sku="V-200", warehouse="ATL", on_date=due))
    assert (before.total_available, on_due.total_available) == (12, 112)
    po = world.read(lambda s: get_purchase_order(s, sam, po_number=number))
    assert po.lines[0].unit_cost == Decimal("10.0000")  # standard cost when no price is given


def test_partial_then_full_receipt(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 100), PurchaseLineRequest("V-220", 10, Decimal("9.50")))
    wes = world.actor("wes")
    assert (
        world.run(lambda s: receive_purchase_order(s, wes, po_number=number, quantities={"V-200": 60}).status)
        == "partially_received"
    )
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (72, 40)
    with pytest.raises(InvalidInput, match="only 40 still open"):
        world.run(lambda s: receive_purchase_order(s, wes, po_number=number, quantities={"V-200": 41}))
    assert world.run(lambda s: receive_purchase_order(s, wes, po_number=number).status) == "received"
    assert (world.balance("V-200", "ATL").on_hand, world.balance("V-220", "ATL").on_hand) == (112, 10)
    with pytest.raises(InvalidState, match="nothing more can be received"):
        world.run(lambda s: receive_purchase_order(s, wes, po_number=number))
    assert world.read(stock_disagreements) == []


def test_cancelled_purchase_order_is_no_longer_incoming(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 100))
    world.run(lambda s: cancel_purchase_order(s, world.actor("bea"), po_number=number))
    assert world.balance("V-200", "ATL").incoming == 0
    with pytest.raises(InvalidState):
        world.run(lambda s: receive_purchase_order(s, world.actor("wes"), po_number=number))


def test_purchase_order_refusals(world: World) -> None:
    with pytest.raises(InvalidInput, match="supplier UKSUP supplies UK, but warehouse ATL belongs to NA"):
        _po(world, PurchaseLineRequest("V-200", 1), supplier="UKSUP")
    with pytest.raises(OutOfScope):
        _po(world, PurchaseLineRequest("F-300", 1), supplier="UKSUP", warehouse="BHM")
    with pytest.raises(NotFound, match="unknown supplier 'VALVCO'; did you mean VALVECO"):
        _po(world, PurchaseLineRequest("V-200", 1), supplier="VALVCO")
    with pytest.raises(InvalidInput, match="cannot be negative"):
        _po(world, PurchaseLineRequest("V-200", 1, Decimal(-1)))
    sam = world.actor("sam")
    with pytest.raises(PermissionDenied):
        world.run(
            lambda s: create_purchase_order(
                s, sam, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", 1)]
            )
        )
    assert world.balance("V-200", "ATL").incoming == 0

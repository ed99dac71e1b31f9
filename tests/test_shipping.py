"""Fulfilment on the small world: whole, partial and split shipments, travel details, milestones, refusals.

World stock: V-200 DAL 100 / ATL 12; V-220 DAL 30; P-100 DAL 5; F-300 BHM 50. wes ships for NA, uma for UK.
"""

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.drafts.kinds import ShipmentDraft
from core.errors import InsufficientStock, InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.finance.models import Invoice
from core.sales.service import LineRequest, cancel_order, order_status
from core.shipping.service import (
    ShipmentDetails,
    fulfilment_status,
    record_milestone,
    ship_order,
    shipment_status,
)
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World

UPS = ShipmentDetails(carrier="UPS", service_level="Ground", tracking_number="1Z999AA10123456784", packages=2)


def _ship(world: World, number: str, user: str = "wes", **kwargs: object) -> str:
    actor = world.actor(user)
    return world.run(lambda s: ", ".join(x.number for x in ship_order(s, actor, order_number=number, **kwargs)))  # type: ignore[arg-type]


def _invoices(world: World) -> list[Decimal]:
    return world.read(lambda s: list(s.scalars(select(Invoice.amount).order_by(Invoice.id))))


def _consistent(world: World) -> None:
    assert world.read(stock_disagreements) == []


def test_whole_order_ships_from_its_warehouse_with_carrier_tracking_and_is_invoiced(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), LineRequest("P-100", 2), confirm=True)
    shipment = _ship(world, number, details=UPS)
    view = world.read(lambda s: shipment_status(s, world.actor("sam"), shipment_number=shipment))
    assert (view.warehouse, view.carrier, view.service_level, view.tracking_number, view.packages) == (
        "DAL",
        "UPS",
        "Ground",
        "1Z999AA10123456784",
        2,
    )
    assert [(ln.line_no, ln.sku, ln.quantity) for ln in view.lines] == [(1, "V-200", 30), (2, "P-100", 2)]
    assert view.latest[0] == "shipped"
    assert view.invoice is not None
    assert _invoices(world) == [Decimal("720.00")]  # 30 x 18.00 + 2 x 90.00
    dal = world.balance("V-200", "DAL")
    assert (dal.on_hand, dal.reserved) == (70, 0)
    assert world.read(lambda s: order_status(s, world.actor("sam"), order_number=number)).status == "invoiced"
    _consistent(world)


def test_part_of_a_line_ships_and_the_rest_stays_reserved_and_open(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), LineRequest("P-100", 2), confirm=True)
    _ship(world, number, quantities={1: 12})
    status = world.read(lambda s: fulfilment_status(s, world.actor("sam"), order_number=number))
    assert status.order.status == "partially_shipped"
    assert [(ln.shipped, ln.reserved) for ln in status.order.lines] == [(12, 18), (0, 2)]
    assert status.open_units == 20
    assert (world.balance("V-200", "DAL").reserved, world.balance("P-100", "DAL").reserved) == (18, 2)
    _consistent(world)


def test_a_line_splits_across_two_warehouses_each_shipment_from_one(world: World) -> None:
    """40 ordered at ATL (12 in stock, 28 backordered): 12 ship from ATL, 28 from DAL's free stock."""
    number = world.place_order("ACME", LineRequest("V-200", 40, warehouse="ATL"), confirm=True, backorder=True)
    assert (world.balance("V-200", "ATL").reserved, world.balance("V-200", "ATL").backordered) == (12, 28)
    first = _ship(world, number, warehouse="ATL")
    second = _ship(world, number, warehouse="DAL", quantities={1: 28}, details=UPS)
    status = world.read(lambda s: fulfilment_status(s, world.actor("sam"), order_number=number))
    assert [(s.number, s.warehouse, s.lines[0].quantity) for s in status.shipments] == [
        (first, "ATL", 12),
        (second, "DAL", 28),
    ]
    assert status.order.status == "invoiced" and status.open_units == 0 and status.backordered_units == 0
    atl, dal = world.balance("V-200", "ATL"), world.balance("V-200", "DAL")
    assert (atl.on_hand, atl.reserved, atl.backordered) == (0, 0, 0)
    assert (dal.on_hand, dal.reserved) == (72, 0)
    assert _invoices(world) == [Decimal("216.00"), Decimal("504.00")]
    _consistent(world)


def test_shipping_from_another_warehouse_gives_back_the_home_reservation_to_waiting_backorders(world: World) -> None:
    mine = world.place_order("ACME", LineRequest("V-200", 10, warehouse="ATL"), confirm=True)
    waiting = world.place_order("BOLT", LineRequest("V-200", 5, warehouse="ATL"), confirm=True, backorder=True)
    assert world.balance("V-200", "ATL").backordered == 3  # 12 on hand: 10 for mine, 2 + 3 backordered for BOLT
    _ship(world, mine, warehouse="DAL", quantities={1: 10})
    line = world.read(lambda s: order_status(s, world.actor("sam"), order_number=waiting)).lines[0]
    assert (line.reserved, line.backordered) == (5, 0)
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.reserved, atl.backordered) == (12, 5, 0)
    _consistent(world)


def test_a_whole_order_over_two_warehouses_ships_once_from_each(world: World) -> None:
    number = world.place_order(
        "ACME", LineRequest("V-200", 5, warehouse="ATL"), LineRequest("V-220", 4, warehouse="DAL"), confirm=True
    )
    with pytest.raises(InvalidInput, match="a tracking number belongs to one shipment"):
        _ship(world, number, details=UPS)
    shipped = _ship(world, number, details=ShipmentDetails(carrier="UPS")).split(", ")
    status = world.read(lambda s: fulfilment_status(s, world.actor("sam"), order_number=number))
    assert [(s.number, s.warehouse, s.carrier, [ln.sku for ln in s.lines]) for s in status.shipments] == [
        (shipped[0], "DAL", "UPS", ["V-220"]),
        (shipped[1], "ATL", "UPS", ["V-200"]),
    ]
    assert _invoices(world) == [Decimal("88.00"), Decimal("90.00")]  # one invoice per shipment
    assert status.order.status == "invoiced"
    _consistent(world)


def test_over_shipping_is_refused_and_writes_nothing(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    _ship(world, number, quantities={1: 4})
    with pytest.raises(InvalidInput, match="only 6 reserved"):
        _ship(world, number, quantities={1: 7})
    with pytest.raises(InvalidInput, match="only 6 left to ship"):
        _ship(world, number, warehouse="ATL", quantities={1: 7})
    with pytest.raises(InvalidInput, match="no line 3"):
        _ship(world, number, quantities={3: 1})
    assert world.read(lambda s: s.scalar(select(func.count()).select_from(Invoice))) == 1
    assert (world.balance("V-200", "DAL").on_hand, world.balance("V-200", "ATL").on_hand) == (96, 12)
    _consistent(world)


def test_shipping_from_another_warehouse_beyond_its_free_stock_is_refused(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 20, warehouse="DAL"), confirm=True)
    with pytest.raises(InsufficientStock) as refused:
        _ship(world, number, warehouse="ATL", quantities={1: 13})
    assert refused.value.details["shortfalls"] == [
        {"sku": "V-200", "warehouse": "ATL", "requested": 13, "available": 12}
    ]
    assert world.balance("V-200", "DAL").reserved == 20  # the home claim was not given back
    _consistent(world)


@pytest.mark.parametrize("state", ["draft", "on_hold", "cancelled", "invoiced"])
def test_only_a_confirmed_order_ships(world: World, state: str) -> None:
    customer = "HOLDCO" if state == "on_hold" else "ACME"
    number = world.place_order(customer, LineRequest("V-200", 3, warehouse="DAL"), confirm=state != "draft")
    if state == "cancelled":
        world.run(lambda s: cancel_order(s, world.actor("sam"), order_number=number))
    if state == "invoiced":
        _ship(world, number)
    with pytest.raises(InvalidState, match="only a confirmed order ships") as refused:
        _ship(world, number, quantities={1: 1})
    if state == "on_hold":
        assert "credit hold" in refused.value.message
    _consistent(world)


def test_sales_may_not_ship_and_a_warehouse_user_may_not_ship_another_entitys_order(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    with pytest.raises(PermissionDenied, match="warehouse"):
        _ship(world, number, user="sam")
    with pytest.raises(OutOfScope):
        _ship(world, number, user="uma")  # UK warehouse
    uk_order = world.place_order("BRIT", LineRequest("F-300", 5), user="uma", confirm=True)
    with pytest.raises(OutOfScope):
        _ship(world, uk_order, user="wes")
    assert _ship(world, uk_order, user="uma").startswith("SH-")
    _consistent(world)


def test_unknown_or_foreign_warehouse_is_refused(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    with pytest.raises(NotFound):
        _ship(world, number, warehouse="NOWHERE")
    with pytest.raises(InvalidInput, match="does not ship SO-"):
        _ship(world, number, user="mia", warehouse="BHM")  # mia sees UK, but BHM does not serve NA's order
    with pytest.raises(OutOfScope):
        _ship(world, number, warehouse="BHM")  # wes does not see UK at all
    _consistent(world)


@pytest.mark.parametrize(
    ("details", "words"),
    [
        (ShipmentDetails(packages=0), "packages"),
        (ShipmentDetails(weight_kg=Decimal(-1)), "weight"),
        (ShipmentDetails(tracking_number="1Z" * 40), "tracking number"),
    ],
)
def test_impossible_travel_details_are_refused(world: World, details: ShipmentDetails, words: str) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    with pytest.raises(InvalidInput, match=words):
        _ship(world, number, details=details)


def test_milestones_are_recorded_in_order_once_each_and_delivered_later(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    now = clock.now()
    picked = now - timedelta(hours=3)
    shipment = _ship(world, number, details=ShipmentDetails(carrier="UPS", picked_at=picked))
    wes = world.actor("wes")
    with pytest.raises(InvalidInput, match="cannot be packed before"):
        world.run(
            lambda s: record_milestone(
                s, wes, shipment_number=shipment, milestone="packed", at=picked - timedelta(hours=1)
            )
        )
    with pytest.raises(InvalidInput, match="in the future"):
        world.run(
            lambda s: record_milestone(
                s, wes, shipment_number=shipment, milestone="delivered", at=now + timedelta(days=1)
            )
        )
    with pytest.raises(InvalidInput, match="unknown milestone"):
        world.run(lambda s: record_milestone(s, wes, shipment_number=shipment, milestone="lost"))
    with pytest.raises(PermissionDenied):
        world.run(lambda s: record_milestone(s, world.actor("sam"), shipment_number=shipment, milestone="delivered"))
    world.run(
        lambda s: record_milestone(s, wes, shipment_number=shipment, milestone="packed", at=picked + timedelta(hours=1))
    )
    world.run(lambda s: record_milestone(s, wes, shipment_number=shipment, milestone="delivered"))
    with pytest.raises(InvalidState, match="already delivered"):
        world.run(lambda s: record_milestone(s, wes, shipment_number=shipment, milestone="delivered"))
    view = world.read(lambda s: shipment_status(s, world.actor("sam"), shipment_number=shipment))
    assert [m for m, _ in view.milestones] == ["picked", "packed", "shipped", "delivered"]
    assert view.milestones[0][1] == picked
    assert view.latest[0] == "delivered"


def test_another_entitys_shipment_cannot_be_read_or_marked(world: World) -> None:
    uk_order = world.place_order("BRIT", LineRequest("F-300", 5), user="uma", confirm=True)
    shipment = _ship(world, uk_order, user="uma")
    wes = world.actor("wes")
    with pytest.raises(OutOfScope):
        world.read(lambda s: shipment_status(s, wes, shipment_number=shipment))
    with pytest.raises(OutOfScope):
        world.run(lambda s: record_milestone(s, wes, shipment_number=shipment, milestone="delivered"))
    with pytest.raises(OutOfScope):
        world.read(lambda s: fulfilment_status(s, wes, order_number=uk_order))


def test_shipped_on_an_earlier_day_records_that_day(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    yesterday = clock.today() - timedelta(days=1)
    shipment = _ship(world, number, shipped_on=yesterday)
    view = world.read(lambda s: shipment_status(s, world.actor("wes"), shipment_number=shipment))
    assert view.shipped_on == yesterday
    assert view.milestones == [("shipped", datetime.combine(yesterday, datetime.min.time()))]


@pytest.mark.postgres
def test_two_clerks_shipping_the_same_reserved_stock_at_once_ship_it_once(pg_world: World) -> None:
    number = pg_world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), confirm=True)
    wes = pg_world.actor("wes")
    outcomes = all_at_once(
        pg_world, [lambda s: ship_order(s, wes, order_number=number, quantities={1: 20}) for _ in range(4)]
    )
    assert outcomes == Counter({"ok": 1, "invalid_input": 3})
    dal = pg_world.balance("V-200", "DAL")
    assert (dal.on_hand, dal.reserved) == (80, 10)
    _consistent(pg_world)


@pytest.mark.postgres
def test_two_clerks_splitting_onto_the_same_free_stock_at_once_never_oversell_it(pg_world: World) -> None:
    """Two orders at DAL both ship 8 from ATL's 12 free units at the same instant: one of them is refused."""
    first = pg_world.place_order("ACME", LineRequest("V-200", 8, warehouse="DAL"), confirm=True)
    second = pg_world.place_order("BOLT", LineRequest("V-200", 8, warehouse="DAL"), confirm=True)
    wes = pg_world.actor("wes")

    def from_atl(order: str) -> Callable[[Session], object]:
        return lambda s: ship_order(s, wes, order_number=order, warehouse="ATL", quantities={1: 8})

    outcomes = all_at_once(pg_world, [from_atl(first), from_atl(second)])
    assert outcomes == Counter({"ok": 1, "insufficient_stock": 1})
    atl, dal = pg_world.balance("V-200", "ATL"), pg_world.balance("V-200", "DAL")
    assert (atl.on_hand, atl.reserved) == (4, 0)
    assert (dal.on_hand, dal.reserved) == (100, 8)  # the shipped order's home claim went back; the other's stays
    _consistent(pg_world)


@pytest.mark.parametrize(
    ("carrier", "service", "stored"),
    [
        ("UPS Ground", "", ("UPS", "Ground")),
        ("fedex 2Day", "", ("FedEx", "2Day")),
        ("Royal Mail - Tracked 24", "", ("Royal Mail", "Tracked 24")),
        ("UPS Ground", "Next Day Air", ("UPS Ground", "Next Day Air")),  # a service given: both kept as written
        ("UPSX Freight", "", ("UPSX Freight", "")),  # not a known carrier's name: kept
        ("DHL", "", ("DHL", "")),
    ],
)
def test_a_service_level_written_into_the_carrier_is_stored_as_the_service_level(
    world: World, carrier: str, service: str, stored: tuple[str, str]
) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    shipment = _ship(world, number, details=ShipmentDetails(carrier=carrier, service_level=service))
    view = world.read(lambda s: shipment_status(s, world.actor("sam"), shipment_number=shipment))
    assert (view.carrier, view.service_level) == stored


@pytest.mark.parametrize(
    ("carrier", "service", "payload"),
    [
        ("UPS Ground", None, ("UPS", "Ground")),
        ("UPS Ground", "Next Day Air", ("UPS Ground", "Next Day Air")),
        ("DHL", None, ("DHL", None)),
    ],
)
def test_a_shipment_drafts_payload_keeps_the_service_level_apart_as_the_shipment_will(
    carrier: str, service: str | None, payload: tuple[str, str | None]
) -> None:
    draft = ShipmentDraft(order_number="SO-1", carrier=carrier, service_level=service)
    assert (draft.carrier, draft.service_level) == payload  # the preview says what the confirmed shipment keeps

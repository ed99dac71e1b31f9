"""Receiving on the small world: purchase-order receipts with variances, transfers shipped and received by
each side, discrepancies as cases, and the counterparty's view of an intercompany transfer."""

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.exceptions.models import ExceptionCase
from core.purchasing.models import PurchaseOrderLine
from core.purchasing.service import (
    PurchaseLineRequest,
    cancel_purchase_order,
    create_purchase_order,
    get_purchase_order,
    receipt_variance,
    receive_purchase_order,
)
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ship_order
from core.stock.models import LedgerEntry
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from core.transfers.service import (
    TransferLineRequest,
    create_transfer,
    get_transfer,
    receive_transfer,
    ship_transfer,
    transfer_side,
)
from tests.concurrency import all_at_once
from tests.world import World

TODAY = date(2026, 11, 20)
DUE = TODAY + timedelta(days=10)  # VALVECO's lead time


def _po(world: World, *lines: PurchaseLineRequest) -> str:
    bea = world.actor("bea")
    return world.run(
        lambda s: create_purchase_order(s, bea, supplier="VALVECO", warehouse="ATL", lines=list(lines)).number
    )


def _receive(world: World, user: str, number: str, quantities: dict[str, int] | None = None, **flags: bool) -> str:
    actor = world.actor(user)
    return world.run(
        lambda s: receive_purchase_order(s, actor, po_number=number, quantities=quantities, **flags).status
    )


def _atp(world: World, on: date) -> tuple[int, int]:
    """(available at ATL today, available at ATL on `on`)."""
    report = world.read(lambda s: available_to_promise(s, world.actor("sam"), sku="V-200", warehouse="ATL", on_date=on))
    return report.warehouses[0].available_now, report.warehouses[0].available_on_date


def _cases(world: World) -> list[tuple[str, str, str]]:
    return world.read(lambda s: [(c.type, c.owner_role or "", c.detail) for c in s.scalars(select(ExceptionCase))])


def test_several_receipts_on_one_line_move_atp_from_the_due_date_to_today(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 50))
    assert _atp(world, DUE) == (12, 62)
    assert _receive(world, "wes", number, {"V-200": 20}) == "partially_received"
    assert _atp(world, DUE) == (32, 62)
    assert _receive(world, "bea", number, {"V-200": 20}) == "partially_received"  # buyers receive too
    assert _atp(world, TODAY) == (52, 52)
    assert _receive(world, "wes", number, {"V-200": 10}) == "received"
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (62, 0)
    receipts = world.read(
        lambda s: [e.quantity for e in s.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == "purchase_order"))]
    )
    assert receipts == [20, 20, 10]
    assert world.read(stock_disagreements) == []


def test_over_receipt_is_refused_unless_allowed_and_then_counts_above_the_order(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 50))
    with pytest.raises(InvalidInput, match="only 50 still open; receiving more is an over-receipt"):
        _receive(world, "wes", number, {"V-200": 55})
    assert world.balance("V-200", "ATL").on_hand == 12
    assert _receive(world, "wes", number, {"V-200": 55}, allow_over_receipt=True) == "received"
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (67, 0)
    variance = world.read(
        lambda s: receipt_variance(s, get_purchase_order(s, world.actor("wes"), po_number=number), closed=False)
    )
    assert (variance.over_pct, variance.under_pct) == (Decimal("10.0"), Decimal(0))
    assert variance.lines == ["V-200: 55 received of 50 ordered (+10.0%)"]
    assert world.read(stock_disagreements) == []


def test_closing_short_drops_the_rest_from_incoming_and_refuses_later_receipts(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 50), PurchaseLineRequest("V-220", 10))
    assert _receive(world, "wes", number, {"V-200": 40}, close_short=True) == "closed"
    assert (world.balance("V-200", "ATL").incoming, world.balance("V-220", "ATL").incoming) == (0, 0)
    assert _atp(world, DUE) == (52, 52)  # the 10 that will not come are no longer promised from the due date
    variance = world.read(
        lambda s: receipt_variance(s, get_purchase_order(s, world.actor("wes"), po_number=number), closed=True)
    )
    assert (variance.over_pct, variance.under_pct) == (Decimal(0), Decimal("100.0"))
    with pytest.raises(InvalidState, match="is closed; nothing more can be received"):
        _receive(world, "wes", number, {"V-200": 10})
    assert world.read(stock_disagreements) == []


def test_receipt_refusals(world: World) -> None:
    number = _po(world, PurchaseLineRequest("V-200", 50))
    with pytest.raises(PermissionDenied, match="sam may not receive"):
        _receive(world, "sam", number)
    with pytest.raises(OutOfScope):
        _receive(world, "uma", number)  # a UK warehouse user, an NA order
    with pytest.raises(NotFound):
        _receive(world, "wes", "PO-999999")
    with pytest.raises(NotFound, match="unknown SKU"):
        _receive(world, "wes", number, {"V-2OO-X": 1})
    with pytest.raises(InvalidInput, match="has no line for V-220"):
        _receive(world, "wes", number, {"V-220": 1})
    for quantity in (0, -5, 10_000_000):
        with pytest.raises(InvalidInput):
            _receive(world, "wes", number, {"V-200": quantity})
    with pytest.raises(InvalidInput, match="at least one SKU"):
        _receive(world, "wes", number, {})
    cancelled = _po(world, PurchaseLineRequest("V-200", 5))
    world.run(lambda s: cancel_purchase_order(s, world.actor("bea"), po_number=cancelled))
    with pytest.raises(InvalidState, match="is cancelled"):
        _receive(world, "wes", cancelled)
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (12, 50)
    assert world.read(stock_disagreements) == []


def _intercompany(world: World, quantity: int = 10) -> str:
    mia = world.actor("mia")
    return world.run(
        lambda s: (
            create_transfer(
                s, mia, from_warehouse="DAL", to_warehouse="BHM", lines=[TransferLineRequest("V-200", quantity)]
            ).number
        )
    )


def test_intercompany_transfer_is_shipped_by_the_sender_and_received_by_the_counterparty(world: World) -> None:
    number = _intercompany(world)
    with pytest.raises(OutOfScope, match="sending side"):
        world.run(lambda s: ship_transfer(s, world.actor("uma"), transfer_number=number))
    world.run(lambda s: ship_transfer(s, world.actor("wes"), transfer_number=number))
    bhm = world.balance("V-200", "BHM")
    assert (bhm.in_transit, bhm.incoming, bhm.on_hand) == (10, 10, 0)
    with pytest.raises(OutOfScope, match="receiving side"):
        world.run(lambda s: receive_transfer(s, world.actor("wes"), transfer_number=number))
    world.run(lambda s: receive_transfer(s, world.actor("uma"), transfer_number=number))
    bhm = world.balance("V-200", "BHM")
    assert (bhm.in_transit, bhm.incoming, bhm.on_hand) == (0, 0, 10)
    assert _cases(world) == []  # all arrived: no discrepancy
    assert world.read(stock_disagreements) == []


def test_short_and_damaged_units_leave_transit_as_a_loss_and_raise_a_case(world: World) -> None:
    number = _intercompany(world, 10)
    world.run(lambda s: ship_transfer(s, world.actor("wes"), transfer_number=number))
    uma = world.actor("uma")
    world.run(lambda s: receive_transfer(s, uma, transfer_number=number, received={"v-200": 9}, damaged={"V-200": 2}))
    bhm = world.balance("V-200", "BHM")
    assert (bhm.in_transit, bhm.incoming, bhm.on_hand) == (0, 0, 7)
    assert _cases(world) == [("transfer_discrepancy", "warehouse", "V-200: 10 shipped, 1 short, 2 damaged")]
    losses = world.read(
        lambda s: [
            (e.quantity, e.note) for e in s.scalars(select(LedgerEntry).where(LedgerEntry.movement == "transfer_loss"))
        ]
    )
    assert losses == [(-3, "1 short, 2 damaged")]
    assert world.read(stock_disagreements) == []


def test_impossible_transfer_receipts_are_refused_and_change_nothing(world: World) -> None:
    number = _intercompany(world, 10)
    with pytest.raises(InvalidState, match="only a transfer in transit"):
        world.run(lambda s: receive_transfer(s, world.actor("uma"), transfer_number=number))
    world.run(lambda s: ship_transfer(s, world.actor("wes"), transfer_number=number))
    uma = world.actor("uma")
    impossible: list[tuple[dict[str, int], dict[str, int]]] = [
        ({"V-200": 11}, {}),  # more than shipped
        ({"V-200": 5}, {"V-200": 6}),  # more damaged than arrived
        ({"V-200": -1}, {}),
        ({"F-300": 1}, {}),  # not on the transfer
    ]
    for received, damaged in impossible:

        def receive(s: Session, r: dict[str, int] = received, d: dict[str, int] = damaged) -> object:
            return receive_transfer(s, uma, transfer_number=number, received=r, damaged=d)

        with pytest.raises(InvalidInput):
            world.run(receive)
    with pytest.raises(PermissionDenied):
        world.run(lambda s: receive_transfer(s, world.actor("sam"), transfer_number=number))
    assert world.balance("V-200", "BHM").in_transit == 10
    assert _cases(world) == []
    assert world.read(stock_disagreements) == []


def test_either_side_sees_an_intercompany_transfer_with_its_own_figures(world: World) -> None:
    number = _intercompany(world, 10)
    wes, uma = world.actor("wes"), world.actor("uma")

    def side(actor_name: str) -> tuple[str, Decimal, list[Decimal]]:
        actor = world.actor(actor_name)

        def read(s: Session) -> tuple[str, Decimal, list[Decimal]]:
            view = transfer_side(get_transfer(s, actor, transfer_number=number), actor)
            return view.currency, view.value, list(view.unit_prices.values())

        return world.read(read)

    # 11.00 USD a unit to the sender (standard cost + 10%); 8.80 GBP to the receiver at 0.80
    assert side("wes") == ("USD", Decimal("110.00"), [Decimal("11.0000")])
    assert side("ulf") == ("GBP", Decimal("88.00"), [Decimal("8.8000")])
    atl = world.run(
        lambda s: (
            create_transfer(
                s, wes, from_warehouse="DAL", to_warehouse="ATL", lines=[TransferLineRequest("V-200", 1)]
            ).number
        )
    )
    with pytest.raises(OutOfScope):
        world.read(lambda s: get_transfer(s, uma, transfer_number=atl))


@pytest.mark.postgres
def test_a_receipt_racing_a_shipment_of_the_same_item_oversells_nothing(pg_world: World) -> None:
    world = pg_world
    sam, wes = world.actor("sam"), world.actor("wes")
    shipped_now = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 12, warehouse="ATL")]).id
    )
    waiting = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 20, warehouse="ATL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=shipped_now))
    world.run(lambda s: confirm_order(s, sam, order_number=waiting, allow_backorder=True))
    number = _po(world, PurchaseLineRequest("V-200", 50))
    outcomes = all_at_once(
        world,
        [
            lambda s: receive_purchase_order(s, wes, po_number=number),
            lambda s: ship_order(s, wes, order_number=shipped_now),
        ],
    )
    assert outcomes == Counter({"ok": 2})
    atl = world.balance("V-200", "ATL")
    # 12 on hand + 50 received - 12 shipped; the backorder of 20 is now reserved from the receipt
    assert (atl.on_hand, atl.reserved, atl.backordered, atl.incoming) == (50, 20, 0, 0)
    assert world.read(stock_disagreements) == []


def test_the_migrated_schema_still_refuses_a_line_of_nothing_or_a_negative_receipt(world: World) -> None:
    _po(world, PurchaseLineRequest("V-200", 5))
    changes: list[dict[str, int]] = [{"quantity": 0}, {"qty_received": -1}]
    for change in changes:

        def corrupt(s: Session, c: dict[str, int] = change) -> None:
            s.execute(update(PurchaseOrderLine).values(**c))

        with pytest.raises(IntegrityError):
            world.run(corrupt)


@pytest.mark.postgres
def test_two_receipts_racing_on_one_line_receive_no_more_than_is_open(pg_world: World) -> None:
    number = _po(pg_world, PurchaseLineRequest("V-200", 50))
    wes, bea = pg_world.actor("wes"), pg_world.actor("bea")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s: receive_purchase_order(s, wes, po_number=number, quantities={"V-200": 30}),
            lambda s: receive_purchase_order(s, bea, po_number=number, quantities={"V-200": 30}),
        ],
    )
    assert outcomes == Counter({"ok": 1, "invalid_input": 1})  # the second sees only 20 still open
    atl = pg_world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (42, 20)
    assert pg_world.read(stock_disagreements) == []

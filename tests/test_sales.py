"""Sales orders on the small world: pricing, reservations, backorders, shipping, invoicing, changes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import (
    CurrencyMismatch,
    InsufficientStock,
    InvalidInput,
    InvalidState,
    NotFound,
    OutOfScope,
    PermissionDenied,
)
from core.finance.models import Invoice
from core.masterdata.models import Customer, PriceList
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from core.sales.models import SalesOrder
from core.sales.service import (
    LineRequest,
    cancel_order,
    change_order_line,
    confirm_order,
    create_order,
    first_held_order,
    order_status,
)
from core.shipping.service import ship_order
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from tests.world import World

TODAY = date(2026, 11, 20)


def _confirm(world: World, number: str, allow_backorder: bool = False, user: str = "sam") -> str:
    actor = world.actor(user)
    return world.run(lambda s: confirm_order(s, actor, order_number=number, allow_backorder=allow_backorder).status)


def _order_count(world: World) -> int:
    return world.read(lambda s: s.scalar(select(func.count()).select_from(SalesOrder)))


def test_prices_resolve_contract_then_price_list_then_list_price(world: World) -> None:
    number = world.place_order(
        "ACME",
        LineRequest("V-200", 10),
        LineRequest("P-100", 1),
        LineRequest("V-220", 2, discount_pct=Decimal(10)),
    )
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=number))
    by_sku = {ln.sku: ln for ln in view.lines}
    assert (by_sku["V-200"].unit_price, by_sku["V-200"].price_source) == (Decimal("18.00"), "price_list")
    assert (by_sku["P-100"].unit_price, by_sku["P-100"].price_source) == (Decimal("90.00"), "contract")
    assert (by_sku["V-220"].unit_price, by_sku["V-220"].price_source) == (Decimal("22.00"), "list_price")
    assert by_sku["V-220"].net_price == Decimal("19.80")
    assert by_sku["V-200"].margin == Decimal("80.00")  # (18 - 10) x 10
    assert view.total == Decimal("180.00") + Decimal("90.00") + Decimal("39.60")


def test_uk_order_is_priced_in_pounds_from_the_usd_list_price(world: World) -> None:
    number = world.place_order("BRIT", LineRequest("F-300", 5), user="uma")
    view = world.read(lambda s: order_status(s, world.actor("uma"), order_number=number))
    assert view.currency == "GBP"
    assert view.lines[0].unit_price == Decimal("7.20")  # 9.00 USD x 0.80
    assert view.lines[0].warehouse == "BHM"


def test_a_line_without_warehouse_goes_where_the_stock_is(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 20))
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=number))
    assert view.lines[0].warehouse == "DAL"
    assert view.lines[0].promise_date == TODAY


def test_confirming_reserves_stock_and_lowers_atp(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 40, warehouse="DAL"))
    assert _confirm(world, number) == "confirmed"
    assert (world.balance("V-200", "DAL").on_hand, world.balance("V-200", "DAL").reserved) == (100, 40)
    report = world.read(lambda s: available_to_promise(s, world.actor("sam"), sku="V-200", warehouse="DAL"))
    assert report.total_available == 60
    assert world.read(stock_disagreements) == []


def test_confirming_more_than_available_is_refused_with_the_shortfall_and_writes_nothing(world: World) -> None:
    number = world.place_order(
        "ACME", LineRequest("V-220", 5, warehouse="DAL"), LineRequest("V-200", 13, warehouse="ATL")
    )
    with pytest.raises(InsufficientStock) as refused:
        _confirm(world, number)
    assert refused.value.details["shortfalls"] == [
        {"sku": "V-200", "warehouse": "ATL", "requested": 13, "available": 12}
    ]
    assert "short 1" in refused.value.message
    assert world.balance("V-220", "DAL").reserved == 0  # the first line's reservation was rolled back too
    assert world.read(lambda s: order_status(s, world.actor("sam"), order_number=number)).status == "draft"


def test_backorder_waits_and_is_filled_first_when_stock_arrives(world: World) -> None:
    first = world.place_order("ACME", LineRequest("V-200", 20, warehouse="ATL"))
    _confirm(world, first, allow_backorder=True)
    assert (world.balance("V-200", "ATL").reserved, world.balance("V-200", "ATL").backordered) == (12, 8)
    atp = world.read(lambda s: available_to_promise(s, world.actor("sam"), sku="V-200", warehouse="ATL"))
    assert atp.total_available == 0
    bea, wes = world.actor("bea"), world.actor("wes")
    po = world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", 30)]
            ).number
        )
    )
    due = TODAY + timedelta(days=10)
    atp = world.read(
        lambda s: available_to_promise(s, world.actor("sam"), sku="V-200", warehouse="ATL", on_date=due, quantity=22)
    )
    assert atp.warehouses[0].available_on_date == 22  # 12 - 12 - 8 + 30
    assert atp.warehouses[0].earliest_date_for_quantity == due
    world.run(lambda s: receive_purchase_order(s, wes, po_number=po))
    balance = world.balance("V-200", "ATL")
    assert (balance.on_hand, balance.reserved, balance.backordered, balance.incoming) == (42, 20, 0, 0)
    line = world.read(lambda s: order_status(s, world.actor("sam"), order_number=first)).lines[0]
    assert (line.reserved, line.backordered) == (20, 0)
    assert world.read(stock_disagreements) == []


def test_shipping_moves_stock_raises_an_invoice_and_closes_the_order(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), LineRequest("P-100", 2))
    _confirm(world, number)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=number, quantities={1: 10}))
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=number))
    assert view.status == "partially_shipped"
    assert [(ln.shipped, ln.reserved) for ln in view.lines] == [(10, 20), (0, 2)]
    world.run(lambda s: ship_order(s, wes, order_number=number))
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=number))
    assert view.status == "invoiced"
    assert len(view.shipments) == 2 and len(view.invoices) == 2
    amounts = world.read(lambda s: sorted(Decimal(a) for a in s.scalars(select(Invoice.amount))))
    assert amounts == [Decimal("180.00"), Decimal("540.00")]  # 10 x 18; 20 x 18 + 2 x 90
    balance = world.balance("V-200", "DAL")
    assert (balance.on_hand, balance.reserved) == (70, 0)
    assert world.read(stock_disagreements) == []


def test_shipping_more_than_reserved_is_refused(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 5, warehouse="DAL"))
    _confirm(world, number)
    wes = world.actor("wes")
    with pytest.raises(InvalidInput, match="only 5 reserved"):
        world.run(lambda s: ship_order(s, wes, order_number=number, quantities={1: 6}))
    with pytest.raises(InvalidInput, match="no line 2"):
        world.run(lambda s: ship_order(s, wes, order_number=number, quantities={2: 1}))
    assert world.balance("V-200", "DAL").on_hand == 100


def test_a_draft_order_does_not_ship(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 5))
    with pytest.raises(InvalidState, match="only a confirmed order ships"):
        world.run(lambda s: ship_order(s, world.actor("wes"), order_number=number))


def test_cancelling_returns_the_reservation(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 40, warehouse="DAL"))
    _confirm(world, number)
    sam = world.actor("sam")
    assert world.run(lambda s: cancel_order(s, sam, order_number=number).status) == "cancelled"
    assert world.balance("V-200", "DAL").reserved == 0
    with pytest.raises(InvalidState):
        world.run(lambda s: cancel_order(s, sam, order_number=number))


def test_cancel_gives_freed_stock_to_a_waiting_backorder(world: World) -> None:
    first = world.place_order("ACME", LineRequest("V-200", 12, warehouse="ATL"))
    _confirm(world, first)
    second = world.place_order("BOLT", LineRequest("V-200", 5, warehouse="ATL"))
    _confirm(world, second, allow_backorder=True)
    assert world.balance("V-200", "ATL").backordered == 5
    world.run(lambda s: cancel_order(s, world.actor("sam"), order_number=first))
    line = world.read(lambda s: order_status(s, world.actor("sam"), order_number=second)).lines[0]
    assert (line.reserved, line.backordered) == (5, 0)
    assert world.read(stock_disagreements) == []


def test_changing_quantity_and_warehouse_moves_the_reservation(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="ATL"))
    _confirm(world, number)
    sam = world.actor("sam")
    world.run(lambda s: change_order_line(s, sam, order_number=number, line_no=1, quantity=30, warehouse="DAL"))
    assert world.balance("V-200", "ATL").reserved == 0
    assert world.balance("V-200", "DAL").reserved == 30
    world.run(lambda s: change_order_line(s, sam, order_number=number, line_no=1, quantity=25))
    assert world.balance("V-200", "DAL").reserved == 25
    with pytest.raises(InsufficientStock):
        world.run(lambda s: change_order_line(s, sam, order_number=number, line_no=1, quantity=101))
    assert world.balance("V-200", "DAL").reserved == 25
    assert world.read(stock_disagreements) == []


def test_customer_on_credit_hold_puts_the_order_on_hold_with_the_reason(world: World) -> None:
    number = world.place_order("HOLDCO", LineRequest("V-200", 3))
    assert _confirm(world, number) == "on_hold"
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=number))
    assert view.hold_reason is not None and "90 days overdue" in view.hold_reason
    assert world.balance("V-200", "DAL").reserved == 0


def test_the_first_held_order_is_the_oldest_one_on_hold(world: World) -> None:
    assert world.read(first_held_order) is None
    held = world.place_order("HOLDCO", LineRequest("V-200", 3))
    _confirm(world, held)
    later = world.place_order("HOLDCO", LineRequest("V-200", 2))
    _confirm(world, later)
    assert world.read(first_held_order) == held


@pytest.mark.parametrize(
    ("line", "error", "text"),
    [
        (LineRequest("V-2000", 1), NotFound, "did you mean V-200"),
        (LineRequest("V-200", 0), InvalidInput, "at least 1"),
        (LineRequest("V-200", -4), InvalidInput, "at least 1"),
        (LineRequest("V-200", 50_000_000), InvalidInput, "larger than"),
        (LineRequest("V-200", 2.5), InvalidInput, "whole number"),  # type: ignore[arg-type]
        (LineRequest("V-200", 1, warehouse="BHM"), InvalidInput, "served from ATL, DAL"),
        (LineRequest("V-200", 1, discount_pct=Decimal(120)), InvalidInput, "between 0 and 100"),
    ],
)
def test_bad_order_lines_are_refused_and_nothing_is_written(
    world: World, line: LineRequest, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        world.place_order("ACME", line)
    assert _order_count(world) == 0


def test_sku_typed_without_punctuation_still_finds_the_item(world: World) -> None:
    number = world.place_order("ACME", LineRequest("v200", 1))
    assert world.read(lambda s: order_status(s, world.actor("sam"), order_number=number)).lines[0].sku == "V-200"


def test_orders_respect_entity_scope_and_roles(world: World) -> None:
    with pytest.raises(OutOfScope):
        world.place_order("BRIT", LineRequest("F-300", 1), user="sam")
    with pytest.raises(PermissionDenied, match="needs one of the roles"):
        world.place_order("ACME", LineRequest("V-200", 1), user="bea")
    uk_order = world.place_order("BRIT", LineRequest("F-300", 1), user="uma")
    with pytest.raises(OutOfScope):
        world.read(lambda s: order_status(s, world.actor("sam"), order_number=uk_order))
    with pytest.raises(NotFound, match="unknown customer 'ACMEE'; did you mean ACME"):
        world.place_order("ACMEE", LineRequest("V-200", 1))
    assert _order_count(world) == 1


def test_requested_date_in_the_past_is_refused(world: World) -> None:
    sam = world.actor("sam")
    with pytest.raises(InvalidInput, match="in the past"):
        world.run(
            lambda s: create_order(
                s, sam, customer="ACME", lines=[LineRequest("V-200", 1)], requested_date=TODAY - timedelta(days=1)
            )
        )


def test_customer_suggestions_never_name_another_entitys_customers(world: World) -> None:
    with pytest.raises(NotFound) as missed:
        world.place_order("Brit Pipe", LineRequest("V-200", 1))
    assert missed.value.details["suggestions"] == []  # only NA customers are candidates, none is close
    assert "Brit Pipes Ltd" not in missed.value.message
    with pytest.raises(NotFound) as missed_as_uma:
        world.place_order("Brit Pipe", LineRequest("F-300", 1), user="uma")
    assert "Brit Pipes Ltd" in missed_as_uma.value.details["suggestions"]


def test_a_price_list_in_the_wrong_currency_is_reported_not_ignored(world: World) -> None:
    def give_brit_the_usd_list(s: Session) -> None:
        brit = s.scalars(select(Customer).where(Customer.code == "BRIT")).one()
        brit.price_list_id = s.scalars(select(PriceList.id).where(PriceList.code == "NA-WHOLESALE")).one()

    world.run(give_brit_the_usd_list)
    with pytest.raises(CurrencyMismatch, match="price list NA-WHOLESALE is in USD, but BRIT buys in GBP"):
        world.place_order("BRIT", LineRequest("F-300", 1), user="uma")

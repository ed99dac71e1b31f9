"""Substitutions and expedited freight on orders: the core commands, their refusals and their gate, on the small
world (ACME buys V-200 at 18.00 from its price list; V-200 costs 10.00, its approved substitute V-220 costs 11.00
and lists at 22.00), on SQLite and PostgreSQL. Every scenario ends with the ledger equal to the balances."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import (
    CurrencyMismatch,
    ErpError,
    InsufficientStock,
    InvalidInput,
    InvalidState,
    NotASubstitute,
    NotFound,
    OutOfScope,
    PermissionDenied,
)
from core.finance.models import Invoice
from core.finance.service import margin_by_entity
from core.sales.expedite import charge_expedite
from core.sales.models import OrderCharge
from core.sales.service import LineRequest, order_status
from core.sales.substitution import substitute_line
from core.shipping.service import fulfilment_status, ship_order
from core.stock.models import Reservation
from core.stock.reconciliation import stock_disagreements
from tests.world import World


def _claim(world: World, order: str, line_no: int) -> tuple[int, int]:
    view = world.read(lambda s: order_status(s, world.actor("mia"), order_number=order))
    line = next(ln for ln in view.lines if ln.line_no == line_no)
    return line.reserved, line.backordered


def _ledger_matches(world: World) -> None:
    assert world.read(stock_disagreements) == []


def _substitute(world: World, order: str, user: str = "sam", **kwargs: object) -> object:
    actor = world.actor(user)
    args: dict[str, object] = {"line_no": 1, "sku": "V-220"} | kwargs
    return world.run(lambda s: substitute_line(s, actor, order_number=order, **args))  # type: ignore[arg-type]


# --- Substitution -------------------------------------------------------------------------------


def test_a_substitute_takes_the_line_and_its_reservation_at_the_agreed_price(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    _substitute(world, order)
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order))
    [line] = view.lines
    assert (line.sku, line.warehouse, line.reserved, line.unit_price, line.net_price) == (
        "V-220",
        "DAL",
        10,
        Decimal("18.00"),
        Decimal("18.00"),
    )
    assert line.margin == Decimal("70.00")  # (18 - 11) x 10: the cost is the substitute's
    assert (world.balance("V-200", "DAL").reserved, world.balance("V-220", "DAL").reserved) == (0, 10)
    _ledger_matches(world)


def test_a_substitute_priced_for_the_customer_keeps_the_lines_discount(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL", discount_pct=Decimal(10)), confirm=True)
    _substitute(world, order, keep_price=False)
    [line] = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order)).lines
    assert (line.unit_price, line.price_source, line.discount_pct, line.net_price) == (
        Decimal("22.00"),
        "list_price",
        Decimal(10),
        Decimal("19.80"),
    )
    _ledger_matches(world)


def test_the_released_item_goes_to_a_waiting_backorder(world: World) -> None:
    first = world.place_order("ACME", LineRequest("V-200", 20, warehouse="DAL"), confirm=True)
    second = world.place_order("BOLT", LineRequest("V-200", 85, warehouse="DAL"), confirm=True, backorder=True)
    assert _claim(world, second, 1) == (80, 5)
    _substitute(world, first)
    assert _claim(world, second, 1) == (85, 0)
    assert world.balance("V-200", "DAL").reserved == 85
    _ledger_matches(world)


def test_a_substitute_short_of_stock_is_refused_unless_backorders_are_allowed(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 40, warehouse="DAL"), confirm=True)
    with pytest.raises(InsufficientStock, match="V-220 at DAL: need 40, available 30"):
        _substitute(world, order)
    assert (world.balance("V-200", "DAL").reserved, world.balance("V-220", "DAL").reserved) == (40, 0)
    _substitute(world, order, allow_backorder=True)
    assert _claim(world, order, 1) == (30, 10)
    assert world.balance("V-200", "DAL").reserved == 0
    _ledger_matches(world)


def test_a_partly_shipped_line_is_split_the_open_units_take_the_substitute(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=order, quantities={1: 4}))
    _substitute(world, order)
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order))
    rows = [(ln.line_no, ln.sku, ln.quantity, ln.shipped, ln.reserved) for ln in view.lines]
    assert rows == [(1, "V-200", 4, 4, 0), (2, "V-220", 6, 0, 6)]
    assert view.status == "partially_shipped"
    assert (world.balance("V-200", "DAL").reserved, world.balance("V-220", "DAL").reserved) == (0, 6)
    world.run(lambda s: ship_order(s, wes, order_number=order))
    assert world.read(lambda s: order_status(s, world.actor("sam"), order_number=order)).status == "invoiced"
    _ledger_matches(world)


def test_a_draft_order_line_is_substituted_without_reserving(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"))
    _substitute(world, order)
    assert world.read(lambda s: s.scalars(select(Reservation)).all()) == []
    assert world.read(lambda s: order_status(s, world.actor("sam"), order_number=order)).lines[0].sku == "V-220"


def test_an_item_that_is_not_an_approved_substitute_is_refused_naming_those_that_are(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    with pytest.raises(NotASubstitute, match=r"P-100 is not an approved substitute for V-200; approved .* V-220") as e:
        _substitute(world, order, sku="P-100")
    assert e.value.as_dict()["suggestions"] == ["V-220"] and e.value.code == "not_a_substitute"
    other = world.place_order("ACME", LineRequest("V-220", 1, warehouse="DAL"), confirm=True)
    with pytest.raises(NotASubstitute, match="V-220 has no approved substitutes"):
        _substitute(world, other, sku="V-200")
    _ledger_matches(world)


@pytest.mark.parametrize(
    ("user", "kwargs", "error", "text"),
    [
        ("wes", {}, PermissionDenied, "may not sell"),
        ("uma", {}, OutOfScope, "outside your scope"),
        ("sam", {"sku": "NOPE-1"}, NotFound, "unknown SKU"),
        ("sam", {"sku": "V-200"}, InvalidInput, "already carries V-200"),
        ("sam", {"line_no": 7}, InvalidInput, "has no line 7"),
    ],
)
def test_bad_substitutions_are_refused_and_change_nothing(
    world: World, user: str, kwargs: dict[str, object], error: type[ErpError], text: str
) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    with pytest.raises(error, match=text):
        _substitute(world, order, user=user, **kwargs)
    assert (world.balance("V-200", "DAL").reserved, world.balance("V-220", "DAL").reserved) == (10, 0)
    _ledger_matches(world)


def test_a_line_shipped_in_full_or_a_cancelled_order_has_nothing_to_substitute(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=order))
    with pytest.raises(InvalidState, match="invoiced"):
        _substitute(world, order)
    _ledger_matches(world)


# --- Substitution through the gate ---------------------------------------------------------------


def _draft(world: World, user: str, kind: str, payload: dict[str, object], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirmed))


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def test_a_substitution_preview_shows_item_price_and_margin_before_and_after(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    payload = {"order_number": order, "line_no": 1, "sku": "v-220"}
    preview = _draft(world, "sam", "substitution", payload, confirmed=False)
    assert preview.status == "unconfirmed" and world.balance("V-220", "DAL").reserved == 0
    assert "Substitute V-220 for V-200" in preview.summary
    assert "USD 18.00 (margin 44.4%) → USD 18.00 (margin 38.9%)" in preview.summary
    assert f"{order} line 1: V-200 → V-220" in preview.diff
    assert f"{order}: margin 44.4% → 38.9%" in preview.diff
    assert "V-220 @ DAL: reserved 0 → 10, available 30 → 20" in preview.diff
    assert "V-200 @ DAL: reserved 10 → 0, available 90 → 100" in preview.diff
    draft = _draft(world, "sam", "substitution", payload)
    assert draft.status == "executed" and _rules(draft) == {"substitution.within_margin"}
    assert draft.facts["margin_after_pct"] == "38.9"
    assert world.balance("V-220", "DAL").reserved == 10
    _ledger_matches(world)


def test_a_substitution_below_the_margin_floor_waits_for_a_manager(world: World) -> None:
    thin = LineRequest("V-200", 10, warehouse="DAL", discount_pct=Decimal(35))  # 11.70 a unit: 14.5% on V-200
    order = world.place_order("ACME", thin, confirm=True)
    draft = _draft(world, "sam", "substitution", {"order_number": order, "line_no": 1, "sku": "V-220"})
    assert draft.status == "pending_approval" and _rules(draft) == {"substitution.margin_floor"}
    assert world.balance("V-220", "DAL").reserved == 0
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed" and world.balance("V-220", "DAL").reserved == 10
    _ledger_matches(world)


def test_a_substitution_below_cost_needs_a_manager_and_finance(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL", discount_pct=Decimal(40)), confirm=True)
    draft = _draft(world, "sam", "substitution", {"order_number": order, "line_no": 1, "sku": "V-220"})
    assert draft.status == "pending_approval"
    assert {"sales.below_cost", "substitution.margin_floor"} <= _rules(draft)


def test_a_backordered_substitute_waits_for_a_manager(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 40, warehouse="DAL"), confirm=True)
    payload = {"order_number": order, "line_no": 1, "sku": "V-220", "allow_backorder": True}
    draft = _draft(world, "sam", "substitution", payload)
    assert draft.status == "pending_approval" and "substitution.shortage" in _rules(draft)


# --- Expedite ---------------------------------------------------------------------------------


def _expedite(world: World, order: str, user: str = "sam", **kwargs: object) -> OrderCharge:
    actor = world.actor(user)
    args: dict[str, object] = {"amount": Decimal(20), "carrier": "UPS", "reason": "customer line down"} | kwargs
    return world.run(lambda s: charge_expedite(s, actor, order_number=order, **args))  # type: ignore[arg-type]


def test_an_absorbed_charge_lowers_the_orders_margin_and_shows_in_its_views(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    charge = _expedite(world, order)
    assert (charge.billed, Decimal(charge.amount), charge.currency) == (False, Decimal("20.00"), "USD")
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order))
    assert view.margin is not None
    assert (view.margin.revenue, view.margin.cost, view.margin.margin_pct) == (
        Decimal("180.00"),
        Decimal("120.00"),
        Decimal("33.3"),
    )
    [shown] = world.read(lambda s: fulfilment_status(s, world.actor("wes"), order_number=order)).charges
    assert (shown.kind, shown.amount, shown.carrier, shown.treatment) == (
        "expedite",
        Decimal("20.00"),
        "UPS",
        "absorbed",
    )
    _ledger_matches(world)


def test_absorbed_freight_is_cost_in_the_margin_report(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=order))
    since = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order)).order_date
    [before] = world.read(lambda s: margin_by_entity(s, world.actor("gus"), since=since))
    _expedite(world, order, user="wes")
    [after] = world.read(lambda s: margin_by_entity(s, world.actor("gus"), since=since))
    assert (before.revenue, before.cost, after.revenue, after.cost) == (
        Decimal("180.00"),
        Decimal("100.00"),
        Decimal("180.00"),
        Decimal("120.00"),
    )
    _ledger_matches(world)


def test_a_billed_charge_goes_on_the_next_shipment_invoice(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    charge = _expedite(world, order, amount=Decimal("25.50"), billed=True)
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=order, quantities={1: 4}))
    invoices = world.read(lambda s: s.scalars(select(Invoice).order_by(Invoice.id)).all())
    assert [(Decimal(i.amount), Decimal(i.cost)) for i in invoices] == [(Decimal("97.50"), Decimal("65.50"))]
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=order))
    second = world.read(lambda s: s.scalars(select(Invoice).order_by(Invoice.id.desc())).first())
    assert second is not None and Decimal(second.amount) == Decimal("108.00")  # billed once only
    view = world.read(lambda s: order_status(s, world.actor("sam"), order_number=order))
    assert view.charges[0].treatment == f"billed on INV-{invoices[0].id}" and charge.id
    assert view.margin is not None and view.margin.margin == Decimal("80.00")  # billed freight nets out
    _ledger_matches(world)


@pytest.mark.parametrize(
    ("user", "kwargs", "error", "text"),
    [
        ("fin", {}, PermissionDenied, "may not charge expedited freight"),
        ("wes", {"billed": True}, PermissionDenied, "may not sell"),
        ("uma", {}, OutOfScope, "outside your scope"),
        ("sam", {"amount": Decimal(-5)}, InvalidInput, "more than 0"),
        ("sam", {"amount": Decimal(0)}, InvalidInput, "more than 0"),
        ("sam", {"amount": Decimal("2000000")}, InvalidInput, "more than the 1,000,000"),
        ("sam", {"amount": "NaN"}, InvalidInput, "amount of money"),
        ("sam", {"carrier": " "}, InvalidInput, "carrier must have"),
        ("sam", {"reason": ""}, InvalidInput, "reason must have"),
        ("sam", {"currency": "GBP"}, CurrencyMismatch, "is in USD"),
        ("sam", {"shipment": "SH-999"}, NotFound, "SH-999"),
    ],
)
def test_bad_expedites_are_refused_and_charge_nothing(
    world: World, user: str, kwargs: dict[str, object], error: type[ErpError], text: str
) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    with pytest.raises(error, match=text):
        _expedite(world, order, user=user, **kwargs)
    assert world.read(lambda s: s.scalars(select(OrderCharge)).all()) == []
    _ledger_matches(world)


def test_expedite_refuses_another_orders_shipment_a_draft_order_and_billing_a_shipped_order(world: World) -> None:
    wes = world.actor("wes")
    shipped = world.place_order("ACME", LineRequest("V-200", 2, warehouse="DAL"), confirm=True)
    [shipment] = world.run(lambda s: [x.number for x in ship_order(s, wes, order_number=shipped)])
    other = world.place_order("ACME", LineRequest("V-200", 2, warehouse="DAL"), confirm=True)
    with pytest.raises(InvalidInput, match=f"{shipment} is not a shipment of {other}"):
        _expedite(world, other, shipment=shipment)
    with pytest.raises(InvalidState, match="no invoice is left"):
        _expedite(world, shipped, billed=True)
    draft_order = world.place_order("ACME", LineRequest("V-200", 2, warehouse="DAL"))
    with pytest.raises(InvalidState, match="is draft"):
        _expedite(world, draft_order)
    late = _expedite(world, shipped, shipment=shipment.lower())  # after shipping, absorbed: the carrier's bill
    assert late.shipment_id is not None


def test_a_small_expedite_executes_a_large_or_margin_breaking_one_waits_for_a_manager(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    base = {"order_number": order, "carrier": "FedEx", "reason": "rush for line-down"}
    preview = _draft(world, "sam", "expedite", {**base, "amount": "20"}, confirmed=False)
    assert preview.diff == [f"{order}: margin 44.4% → 33.3%"]
    assert "USD 20.00 via FedEx, absorbed" in preview.summary
    assert world.read(lambda s: s.scalars(select(OrderCharge)).all()) == []
    small = _draft(world, "sam", "expedite", {**base, "amount": "20"})
    assert small.status == "executed" and _rules(small) == {"expedite.within_limits"}
    assert small.facts["margin_after_pct"] == "33.3" and Decimal(small.amount) == Decimal("20.00")
    thin = _draft(world, "sam", "expedite", {**base, "amount": "50"})  # margin 60 - 50 = 10 of 180: 5.6%
    assert thin.status == "pending_approval" and _rules(thin) == {"expedite.margin_floor"}
    big = world.place_order("ACME", LineRequest("X-900", 2, warehouse="DAL"), confirm=True)
    large = _draft(world, "wes", "expedite", {**base, "order_number": big, "amount": "900"})
    assert large.status == "pending_approval" and _rules(large) == {"expedite.value"}
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=large.number))
    assert done.status == "executed"
    _ledger_matches(world)


def test_finance_cannot_draft_an_expedite(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    with pytest.raises(PermissionDenied):
        _draft(world, "fin", "expedite", {"order_number": order, "amount": "20", "carrier": "UPS", "reason": "rush"})

"""Backorders by priority, cancelling an order's open rest, and re-allocating reserved stock; on the small world
(V-200: DAL 100, ATL 12; ACME is tier A, BOLT tier C, BRIT a UK customer), on SQLite and PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import ErpError, InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.numbering import SALES_ORDER
from core.sales.cancellation import cancel_open_rest
from core.sales.models import SalesOrder
from core.sales.reallocation import reallocate_stock
from core.sales.service import LineRequest, order_status
from core.shipping.service import ship_order
from core.stock.counts import count_stock, write_off_or_find
from core.stock.models import DemandSource, Reservation
from core.stock.priority import backorder_queue, priority
from core.stock.reconciliation import stock_disagreements
from core.transfers.service import TransferLineRequest, create_transfer
from tests.world import World

ATL = "ATL"


def _order(world: World, customer: str, quantity: int, *, sku: str = "V-200", warehouse: str = ATL) -> str:
    return world.place_order(customer, LineRequest(sku, quantity, warehouse=warehouse), confirm=True, backorder=True)


def _claims(world: World, number: str) -> list[tuple[int, int]]:
    """(reserved, backordered) of each line of the order, by line number."""
    view = world.read(lambda s: order_status(s, world.actor("gus"), order_number=number))
    return [(line.reserved, line.backordered) for line in view.lines]


def _find(world: World, quantity: int, warehouse: str = ATL) -> None:
    wes = world.actor("wes")
    world.run(lambda s: write_off_or_find(s, wes, sku="V-200", warehouse=warehouse, quantity=quantity, reason="found"))


def _balanced(world: World) -> None:
    assert world.read(stock_disagreements) == []


# --- Priority -----------------------------------------------------------------------------------


def test_the_ranking_puts_customers_first_then_tier_then_age() -> None:
    day = date(2026, 1, 10)
    older = day - timedelta(days=3)
    ranks = {
        "transfer, oldest": priority(None, older - timedelta(days=30), 1, customer=False),
        "C, old": priority("C", older, 2, customer=True),
        "A, new": priority("A", day, 9, customer=True),
        "A, old": priority("a", older, 8, customer=True),
        "B, new": priority("B", day, 3, customer=True),
        "unknown tier": priority("VIP?", older, 4, customer=True),
    }
    order = sorted(ranks, key=ranks.__getitem__)
    assert order == ["A, old", "A, new", "B, new", "C, old", "unknown tier", "transfer, oldest"]


def test_a_tier_a_backorder_placed_later_gets_freed_stock_before_an_older_tier_c_one(world: World) -> None:
    _order(world, "BOLT", 12)  # takes all 12 at ATL
    older_c = _order(world, "BOLT", 5)
    later_a = _order(world, "ACME", 5)
    assert _claims(world, older_c) == [(0, 5)] and _claims(world, later_a) == [(0, 5)]
    _find(world, 6)
    assert _claims(world, later_a) == [(5, 0)]
    assert _claims(world, older_c) == [(1, 4)]
    _balanced(world)


def test_equal_tiers_are_served_by_order_date_then_by_claim(world: World) -> None:
    _order(world, "ACME", 12)
    first = _order(world, "ACME", 4)
    second = _order(world, "ACME", 4)
    _find(world, 4)
    assert (_claims(world, first), _claims(world, second)) == ([(4, 0)], [(0, 4)])  # same day: the older claim

    def backdate(s: Session) -> None:
        s.get(SalesOrder, SALES_ORDER.parse(second)).order_date -= timedelta(days=2)  # type: ignore[union-attr]

    third = _order(world, "ACME", 3)
    world.run(backdate)
    _find(world, 3)
    assert _claims(world, second) == [(3, 1)]  # its order date is older now, so it comes before the third
    assert _claims(world, third) == [(0, 3)]
    _balanced(world)


def test_customers_orders_come_before_a_waiting_transfer(world: World) -> None:
    wes = world.actor("wes")
    world.run(
        lambda s: create_transfer(
            s, wes, from_warehouse=ATL, to_warehouse="DAL", lines=[TransferLineRequest("V-200", 5)]
        )
    )
    order = _order(world, "BOLT", 7)
    world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse=ATL, counted=0))
    assert _claims(world, order) == [(0, 7)]
    _find(world, 8)
    assert _claims(world, order) == [(7, 0)]
    transfer_claim = world.read(
        lambda s: s.scalars(
            select(Reservation).where(Reservation.source_type == DemandSource.TRANSFER_LINE.value)
        ).one()
    )
    assert (transfer_claim.quantity, transfer_claim.backordered) == (1, 4)
    _balanced(world)


def test_a_count_short_of_the_reserved_takes_from_the_lowest_ranked_claim_first(world: World) -> None:
    wes = world.actor("wes")
    tier_c = _order(world, "BOLT", 6)
    tier_a = _order(world, "ACME", 6)
    world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse=ATL, counted=8))
    assert (_claims(world, tier_a), _claims(world, tier_c)) == ([(6, 0)], [(2, 4)])
    _balanced(world)


def test_the_backorder_queue_lists_waiting_claims_in_priority_order_in_scope(world: World) -> None:
    _order(world, "BOLT", 12)
    c = _order(world, "BOLT", 5)
    a = _order(world, "ACME", 2)
    _order(world, "ACME", 40, sku="V-220", warehouse="DAL")  # 30 there: 10 wait
    queue = world.read(lambda s: backorder_queue(s, world.actor("sam")))
    rows = [(b.position, b.sku, b.warehouse, b.document, b.customer, b.tier, b.backordered) for b in queue]
    assert rows == [
        (1, "V-200", ATL, f"{a} line 1", "ACME", "A", 2),
        (1, "V-220", "DAL", rows[1][3], "ACME", "A", 10),
        (2, "V-200", ATL, f"{c} line 1", "BOLT", "C", 5),
    ]
    assert world.read(lambda s: backorder_queue(s, world.actor("sam"), warehouse="dal"))[0].sku == "V-220"
    assert world.read(lambda s: backorder_queue(s, world.actor("ulf"))) == []  # UK sees none of NA's


# --- Cancel -------------------------------------------------------------------------------------


def test_cancelling_a_line_releases_its_units_to_the_best_waiting_backorder(world: World) -> None:
    sam = world.actor("sam")
    order = world.place_order(
        "BOLT", LineRequest("V-200", 12, warehouse=ATL), LineRequest("V-220", 3, warehouse="DAL"), confirm=True
    )
    waiting_c = _order(world, "BOLT", 3)
    waiting_a = _order(world, "ACME", 4)
    done = world.run(lambda s: cancel_open_rest(s, sam, order_number=order, line_no=1, reason="customer changed mind"))
    assert [(ln.line_no, ln.units, ln.released, ln.dropped) for ln in done.lines] == [(1, 12, 12, 0)]
    assert [(f.claimant.document, f.units) for f in done.fills] == [
        (f"{waiting_a} line 1", 4),
        (f"{waiting_c} line 1", 3),
    ]
    view = world.read(lambda s: order_status(s, sam, order_number=order))
    assert view.status == "confirmed" and [ln.line_no for ln in view.lines] == [2]
    balance = world.balance("V-200", ATL)
    assert (balance.on_hand, balance.reserved, balance.backordered) == (12, 7, 0)
    _balanced(world)


def test_cancelling_a_partly_shipped_orders_rest_keeps_what_shipped_and_invoices_it(world: World) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    order = world.place_order(
        "ACME", LineRequest("V-200", 10, warehouse=ATL), LineRequest("V-220", 3, warehouse="DAL"), confirm=True
    )
    world.run(lambda s: ship_order(s, wes, order_number=order, quantities={1: 4}))
    waiting = _order(world, "BOLT", 5)
    done = world.run(lambda s: cancel_open_rest(s, sam, order_number=order, reason="rest no longer needed"))
    assert (done.status_before, done.order.status, done.units) == ("partially_shipped", "invoiced", 9)
    view = world.read(lambda s: order_status(s, sam, order_number=order))
    assert [(ln.line_no, ln.quantity, ln.shipped, ln.reserved) for ln in view.lines] == [(1, 4, 4, 0)]
    assert _claims(world, waiting) == [(5, 0)]  # 6 freed at ATL; BOLT waited for 5
    assert world.balance("V-220", "DAL").reserved == 0
    _balanced(world)


def test_cancelling_an_unshipped_order_cancels_it_and_keeps_its_lines(world: World) -> None:
    sam = world.actor("sam")
    order = _order(world, "ACME", 8)
    done = world.run(lambda s: cancel_open_rest(s, sam, order_number=order, reason="duplicate order"))
    assert done.order.status == "cancelled" and len(done.order.lines) == 1
    assert world.balance("V-200", ATL).reserved == 0
    _balanced(world)


def test_a_draft_order_line_is_cancelled_without_touching_stock(world: World) -> None:
    sam = world.actor("sam")
    order = world.place_order("ACME", LineRequest("V-200", 2, warehouse=ATL), LineRequest("V-220", 2, warehouse="DAL"))
    done = world.run(lambda s: cancel_open_rest(s, sam, order_number=order, line_no=2, reason="not wanted"))
    assert done.order.status == "draft" and [ln.line_no for ln in done.order.lines] == [1]
    assert world.balance("V-220", "DAL").reserved == 0


@pytest.mark.parametrize(
    ("user", "kwargs", "error", "text"),
    [
        ("wes", {}, PermissionDenied, "may not sell"),
        ("uma", {}, OutOfScope, "outside your scope"),
        ("sam", {"line_no": 7}, InvalidInput, "has no line 7"),
        ("sam", {"line_no": 1, "shipped": True}, InvalidState, "shipped in full"),
        ("sam", {"reason": " "}, InvalidInput, "say why"),
        ("sam", {"cancelled": True}, InvalidState, "nothing on it can be cancelled"),
        ("sam", {"order_number": "SO-999999"}, NotFound, "SO-999999"),
    ],
)
def test_bad_cancellations_are_refused_and_change_nothing(
    world: World, user: str, kwargs: dict[str, object], error: type[ErpError], text: str
) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    kwargs = dict(kwargs)
    order = world.place_order(
        "ACME", LineRequest("V-200", 5, warehouse=ATL), LineRequest("V-220", 2, warehouse="DAL"), confirm=True
    )
    if kwargs.pop("shipped", False):
        world.run(lambda s: ship_order(s, wes, order_number=order, quantities={1: 5}))
    if kwargs.pop("cancelled", False):
        world.run(lambda s: cancel_open_rest(s, sam, order_number=order, reason="first time"))
    before = world.balance("V-200", ATL).reserved
    actor = world.actor(user)
    args: dict[str, object] = {"order_number": order, "reason": "not needed"} | kwargs
    with pytest.raises(error, match=text):
        world.run(lambda s: cancel_open_rest(s, actor, **args))  # type: ignore[arg-type]
    assert world.balance("V-200", ATL).reserved == before
    _balanced(world)


# --- Re-allocate --------------------------------------------------------------------------------


def test_reallocating_moves_reserved_units_to_the_other_orders_backorder(world: World) -> None:
    gus = world.actor("gus")
    giver = _order(world, "BOLT", 10)
    taker = _order(world, "ACME", 5)
    assert _claims(world, taker) == [(2, 3)]
    moved = world.run(lambda s: reallocate_stock(s, gus, from_order=giver, to_order=taker))
    assert (moved.units, moved.sku, moved.warehouse, moved.value) == (3, "V-200", ATL, Decimal("60.00"))
    assert (_claims(world, giver), _claims(world, taker)) == ([(7, 3)], [(5, 0)])
    balance = world.balance("V-200", ATL)
    assert (balance.on_hand, balance.reserved, balance.backordered) == (12, 12, 3)
    _balanced(world)


@pytest.mark.parametrize(
    ("user", "kwargs", "error", "text"),
    [
        ("wes", {}, PermissionDenied, "may not sell"),
        ("sam", {"quantity": 11}, InvalidInput, "only 10 reserved"),
        ("sam", {"quantity": 5}, InvalidInput, "waits for only 4"),
        ("sam", {"from_line": 1, "to_line": 2}, InvalidInput, "share no item at the same warehouse"),
        ("sam", {"to_order": "other"}, InvalidInput, "not waiting for stock"),
        ("sam", {"to_order": "self"}, InvalidInput, "both the source and the target"),
        ("sam", {"to_order": "uk"}, OutOfScope, "outside your scope"),
        ("mia", {"to_order": "uk"}, InvalidInput, "different entities"),
        ("sam", {"from_line": 2, "shipped": True}, InvalidState, "shipped in full"),
    ],
)
def test_bad_reallocations_are_refused_and_change_nothing(
    world: World, user: str, kwargs: dict[str, object], error: type[ErpError], text: str
) -> None:
    wes, kwargs = world.actor("wes"), dict(kwargs)
    other = world.place_order("ACME", LineRequest("V-200", 1, warehouse=ATL), confirm=True)  # reserved, not waiting
    giver = world.place_order(
        "BOLT", LineRequest("V-200", 10, warehouse=ATL), LineRequest("V-220", 1, warehouse="DAL"), confirm=True
    )
    taker = world.place_order(
        "ACME",
        LineRequest("V-200", 5, warehouse=ATL),
        LineRequest("V-220", 1, warehouse="DAL"),
        confirm=True,
        backorder=True,
    )
    uk = world.place_order("BRIT", LineRequest("F-300", 1), user="uma", confirm=True)
    if kwargs.pop("shipped", False):
        world.run(lambda s: ship_order(s, wes, order_number=giver, quantities={2: 1}))
    to_order = {"other": other, "self": giver, "uk": uk}.get(str(kwargs.pop("to_order", "")), taker)
    args: dict[str, object] = {"from_order": giver, "to_order": to_order} | kwargs
    before = _claims(world, giver)
    actor = world.actor(user)
    with pytest.raises(error, match=text):
        world.run(lambda s: reallocate_stock(s, actor, **args))  # type: ignore[arg-type]
    assert _claims(world, giver) == before and before[0] == (10, 0)
    assert _claims(world, taker) == [(1, 4), (1, 0)]
    _balanced(world)


# --- The gate -----------------------------------------------------------------------------------


def _draft(world: World, user: str, kind: str, payload: dict[str, object], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirmed))


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def test_a_small_cancel_previews_the_units_released_and_who_gets_them_then_executes(world: World) -> None:
    order = _order(world, "BOLT", 12)
    waiting = _order(world, "ACME", 3)
    payload = {"order_number": order, "line_no": 1, "reason": "customer cancelled"}
    preview = _draft(world, "sam", "order_cancel", payload, confirmed=False)
    assert preview.status == "unconfirmed" and _claims(world, waiting) == [(0, 3)]
    assert f"{order}: status confirmed → cancelled" in preview.diff
    assert f"{order} line 1: 12 reserved units released" in preview.diff
    assert f"{waiting} line 1 (ACME, tier A) gets 3 backordered units" in preview.diff
    assert "V-200 @ ATL: reserved 12 → 3, backordered 3 → 0, available 0 → 9" in preview.diff
    draft = _draft(world, "sam", "order_cancel", payload)
    assert draft.status == "executed" and _rules(draft) == {"order_cancel.self_service"}
    assert Decimal(draft.amount) == Decimal("240.00") and _claims(world, waiting) == [(3, 0)]
    _balanced(world)


def test_a_large_cancel_waits_for_a_manager(world: World) -> None:
    order = world.place_order("ACME", LineRequest("X-900", 2, warehouse="DAL"), confirm=True)
    draft = _draft(world, "sam", "order_cancel", {"order_number": order, "reason": "project stopped"})
    assert draft.status == "pending_approval" and _rules(draft) == {"order_cancel.manager"}
    assert world.balance("X-900", "DAL").reserved == 2
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed" and world.balance("X-900", "DAL").reserved == 0
    _balanced(world)


def test_sales_asks_a_manager_to_reallocate_and_a_manager_does_it_alone(world: World) -> None:
    giver = _order(world, "BOLT", 10)
    taker = _order(world, "ACME", 5)
    payload = {"order_number": giver, "to_order": taker, "quantity": 2, "reason": "ACME line down"}
    asked = _draft(world, "sam", "reallocation", payload)
    assert asked.status == "pending_approval" and _rules(asked) == {"reallocation.approval"}
    assert _claims(world, taker) == [(2, 3)]
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=asked.number))
    assert done.status == "executed" and _claims(world, taker) == [(4, 1)]
    by_manager = _draft(world, "nia", "reallocation", payload | {"quantity": 1})
    assert by_manager.status == "executed" and _rules(by_manager) == {"reallocation.manager"}
    assert (_claims(world, giver), _claims(world, taker)) == ([(7, 3)], [(5, 0)])
    _balanced(world)


def test_a_warehouse_user_cannot_draft_a_cancel_or_a_reallocation(world: World) -> None:
    order = _order(world, "ACME", 2)
    with pytest.raises(PermissionDenied):
        _draft(world, "wes", "order_cancel", {"order_number": order, "reason": "not mine to cancel"})
    with pytest.raises(PermissionDenied):
        _draft(world, "wes", "reallocation", {"order_number": order, "to_order": order})

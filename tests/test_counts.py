"""Cycle counts and adjustments: posted with a reason at standard cost, gated by the policy, reported; on the
small world (V-200 costs USD 10, X-900 USD 4,000, F-300 USD 4 = GBP 3.20), on SQLite and PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import ErpError, InsufficientStock, InvalidInput, NotFound, OutOfScope, PermissionDenied
from core.exceptions.models import ExceptionCase
from core.reporting import adjustment_report
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.counts import count_stock, record_adjustment, write_off_or_find
from core.stock.models import LedgerEntry, Reservation, StockAdjustment
from core.stock.reconciliation import stock_disagreements
from tests.world import World


def _adjustments(world: World) -> int:
    return world.read(lambda s: int(s.scalar(select(func.count()).select_from(StockAdjustment)) or 0))


def _ledger_of(world: World, adjustment_id: int) -> list[tuple[str, int, str]]:
    def query(s: Session) -> list[tuple[str, int, str]]:
        rows = s.scalars(
            select(LedgerEntry).where(LedgerEntry.ref_type == "adjustment", LedgerEntry.ref_id == adjustment_id)
        )
        return [(r.movement, r.quantity, r.note) for r in rows]

    return world.read(query)


def test_a_count_below_the_book_posts_the_difference_at_standard_cost(world: World) -> None:
    wes = world.actor("wes")
    adj = world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse="DAL", counted=93, note="aisle 4"))
    assert (adj.number, adj.reason, adj.book_quantity, adj.quantity, adj.currency) == (
        f"ADJ-{adj.id}",
        "correction",
        100,
        -7,
        "USD",
    )
    assert Decimal(adj.value) == Decimal("-70.00")
    assert _ledger_of(world, adj.id) == [("adjustment", -7, "correction: aisle 4")]
    assert world.balance("V-200", "DAL").on_hand == 93
    assert world.read(stock_disagreements) == []


def test_a_count_that_matches_the_book_is_recorded_and_moves_nothing(world: World) -> None:
    wes = world.actor("wes")
    adj = world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse="ATL", counted=12))
    assert (adj.quantity, Decimal(adj.value)) == (0, Decimal(0))
    assert _ledger_of(world, adj.id) == []
    assert world.balance("V-200", "ATL").on_hand == 12


def test_write_off_and_find_move_stock_in_the_direction_of_their_reason(world: World) -> None:
    wes = world.actor("wes")
    lost = world.run(lambda s: write_off_or_find(s, wes, sku="V-200", warehouse="ATL", quantity=3, reason="damage"))
    found = world.run(lambda s: write_off_or_find(s, wes, sku="V-200", warehouse="ATL", quantity=5, reason="Found"))
    assert (lost.quantity, Decimal(lost.value), found.quantity, Decimal(found.value)) == (
        -3,
        Decimal("-30.00"),
        5,
        Decimal("50.00"),
    )
    assert world.balance("V-200", "ATL").on_hand == 14
    assert world.read(stock_disagreements) == []


def test_an_adjustment_is_valued_in_the_warehouse_entity_currency(world: World) -> None:
    uma = world.actor("uma")
    adj = world.run(lambda s: count_stock(s, uma, sku="F-300", warehouse="BHM", counted=45, reason="shrinkage"))
    assert (adj.currency, Decimal(adj.unit_cost), Decimal(adj.value)) == ("GBP", Decimal("3.2"), Decimal("-16.00"))


def test_a_count_below_what_is_reserved_turns_the_shortfall_into_backorders(world: World) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    number = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 10, warehouse="ATL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number))
    adj = world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse="ATL", counted=4))
    balance = world.balance("V-200", "ATL")
    assert (adj.backordered, balance.on_hand, balance.reserved, balance.backordered) == (6, 4, 4, 6)
    claim = world.read(lambda s: s.scalars(select(Reservation)).one())
    assert (claim.quantity, claim.backordered) == (4, 6)
    assert world.read(stock_disagreements) == []


def test_finding_stock_fills_waiting_backorders(world: World) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    number = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 15, warehouse="ATL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number, allow_backorder=True))
    world.run(lambda s: write_off_or_find(s, wes, sku="V-200", warehouse="ATL", quantity=3, reason="found"))
    balance = world.balance("V-200", "ATL")
    assert (balance.on_hand, balance.reserved, balance.backordered) == (15, 15, 0)
    assert world.read(stock_disagreements) == []


@pytest.mark.parametrize(
    ("user", "kwargs", "error", "text"),
    [
        ("sam", {"counted": 90}, PermissionDenied, "may not move stock"),
        ("wes", {"counted": 90, "warehouse": "BHM"}, OutOfScope, "outside your scope"),
        ("wes", {"counted": 90, "sku": "NOPE-1"}, NotFound, "unknown SKU"),
        ("wes", {"counted": -1}, InvalidInput, "cannot be negative"),
        ("wes", {"counted": 2_000_000}, InvalidInput, "larger than"),
        ("wes", {"counted": 110, "reason": "damage"}, InvalidInput, "damage can only lower stock"),
        ("wes", {"counted": 90, "reason": "found"}, InvalidInput, "found can only raise stock"),
        ("wes", {"counted": 90, "reason": "theft"}, InvalidInput, "unknown reason"),
        ("wes", {"quantity": 101, "reason": "shrinkage"}, InsufficientStock, "need 101, available 100"),
        ("wes", {"quantity": 5, "reason": "correction"}, InvalidInput, "a correction is a count"),
        ("wes", {"quantity": 5}, InvalidInput, "say why"),
        ("wes", {"quantity": 0, "reason": "damage"}, InvalidInput, "at least 1"),
        ("wes", {"counted": 90, "quantity": 5, "reason": "damage"}, InvalidInput, "either the counted"),
        ("wes", {}, InvalidInput, "either the counted"),
    ],
)
def test_bad_counts_and_adjustments_are_refused_and_change_nothing(
    world: World, user: str, kwargs: dict[str, object], error: type[ErpError], text: str
) -> None:
    actor = world.actor(user)
    args: dict[str, object] = {"sku": "V-200", "warehouse": "DAL", "reason": None} | kwargs
    with pytest.raises(error, match=text):
        world.run(lambda s: record_adjustment(s, actor, **args))  # type: ignore[arg-type]
    assert world.balance("V-200", "DAL").on_hand == 100
    assert _adjustments(world) == 0


# --- The gate -------------------------------------------------------------------------------


def _draft(world: World, user: str, payload: dict[str, object], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind="stock_adjustment", payload=payload, confirmed=confirmed))


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def test_a_small_count_executes_on_the_requesters_confirmation(world: World) -> None:
    preview = _draft(world, "wes", {"sku": "v-200", "warehouse": "dal", "counted": 95}, confirmed=False)
    assert preview.status == "unconfirmed" and world.balance("V-200", "DAL").on_hand == 100
    assert preview.diff == ["V-200 @ DAL: on hand 100 → 95, available 100 → 95"]
    draft = _draft(world, "wes", {"sku": "V-200", "warehouse": "DAL", "counted": 95})
    assert draft.status == "executed" and draft.result_ref is not None and draft.result_ref.startswith("ADJ-")
    assert _rules(draft) == {"stock_adjustment.within_limits"}
    assert "counted 95 against 100 on the books: -5 units (correction), USD -50.00" in draft.summary
    assert world.balance("V-200", "DAL").on_hand == 95


def test_a_write_off_above_the_value_threshold_waits_for_a_manager(world: World) -> None:
    draft = _draft(world, "wes", {"sku": "X-900", "warehouse": "DAL", "quantity": 2, "reason": "damage"})
    assert draft.status == "pending_approval" and _rules(draft) == {"stock_adjustment.value"}
    assert Decimal(draft.amount) == Decimal("8000.00")
    assert world.balance("X-900", "DAL").on_hand == 10
    with pytest.raises(PermissionDenied):
        world.run(lambda s: approve(s, Person(world.actor("wes"), "web"), draft_number=draft.number))
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed" and world.balance("X-900", "DAL").on_hand == 8
    assert world.read(stock_disagreements) == []


def test_a_count_of_many_units_waits_for_a_manager(world: World) -> None:
    draft = _draft(world, "wes", {"sku": "V-200", "warehouse": "DAL", "counted": 70, "reason": "shrinkage"})
    assert draft.status == "pending_approval" and _rules(draft) == {"stock_adjustment.quantity"}


def test_a_count_that_leaves_orders_short_says_so_and_waits_for_a_manager(world: World) -> None:
    sam = world.actor("sam")
    number = world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 10, warehouse="ATL")]).id
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number))
    draft = _draft(world, "wes", {"sku": "V-200", "warehouse": "ATL", "counted": 8})
    assert draft.status == "pending_approval" and _rules(draft) == {"stock_adjustment.shortage"}
    assert "2 units reserved for orders are not on the shelf and become backorders" in draft.summary
    assert draft.diff == ["V-200 @ ATL: on hand 12 → 8, reserved 10 → 8, backordered 0 → 2, available 2 → 0"]
    assert world.balance("V-200", "ATL").on_hand == 12
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed" and world.balance("V-200", "ATL").backordered == 2
    shortages = world.read(
        lambda s: s.scalars(select(ExceptionCase.type).where(ExceptionCase.type == "shortage")).all()
    )
    assert shortages == ["shortage"]  # the order left short is a case for someone to work
    assert world.read(stock_disagreements) == []


def test_sales_cannot_draft_a_count(world: World) -> None:
    with pytest.raises(PermissionDenied):
        _draft(world, "sam", {"sku": "V-200", "warehouse": "DAL", "counted": 95})


# --- The report -------------------------------------------------------------------------------


def test_the_report_sums_adjustments_by_warehouse_and_reason_in_scope(world: World) -> None:
    wes, uma, mia = world.actor("wes"), world.actor("uma"), world.actor("mia")
    world.run(lambda s: write_off_or_find(s, wes, sku="V-200", warehouse="DAL", quantity=3, reason="damage"))
    world.run(lambda s: write_off_or_find(s, wes, sku="V-220", warehouse="DAL", quantity=1, reason="damage"))
    world.run(lambda s: count_stock(s, wes, sku="V-200", warehouse="ATL", counted=14))
    world.run(lambda s: count_stock(s, uma, sku="F-300", warehouse="BHM", counted=40, reason="shrinkage"))
    report = world.read(lambda s: adjustment_report(s, mia))
    rows = [
        (x.entity, x.warehouse, x.reason, x.adjustments, x.units_lost, x.units_found, x.value) for x in report.lines
    ]
    assert rows == [
        ("NA", "ATL", "correction", 1, 0, 2, Decimal("20.00")),
        ("NA", "DAL", "damage", 2, 4, 0, Decimal("-41.00")),
        ("UK", "BHM", "shrinkage", 1, 10, 0, Decimal("-32.00")),
    ]
    mine = world.read(lambda s: adjustment_report(s, wes, reason="damage"))
    assert [(x.warehouse, x.reason) for x in mine.lines] == [("DAL", "damage")]
    with pytest.raises(OutOfScope):
        world.read(lambda s: adjustment_report(s, wes, warehouse="BHM"))
    earlier = clock.today() - timedelta(days=200)
    old = world.read(lambda s: adjustment_report(s, mia, since=earlier, until=earlier + timedelta(days=10)))
    assert old.lines == []

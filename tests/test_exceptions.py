"""The exception queue on the small world: each detection rule, idempotence, routing, the lifecycle, scope."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.exceptions import (
    CaseStatus,
    ExceptionCase,
    ExceptionType,
    RoutingFileError,
    assign_case,
    check_routing,
    comment_case,
    detect_exceptions,
    find_case,
    get_case,
    load_routing,
    page_cases,
    raise_case,
    reopen_case,
    resolve_case,
    shortage_suggestions,
)
from core.masterdata.models import LegalEntity, User
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.sales.service import LineRequest
from tests.concurrency import all_at_once
from tests.world import World

TODAY = date(2026, 11, 20)


# --- Making situations -------------------------------------------------------------------------


def _po(world: World, supplier: str, warehouse: str, sku: str, quantity: int, days: int, user: str = "bea") -> str:
    actor = world.actor(user)
    return world.run(
        lambda s: (
            create_purchase_order(
                s,
                actor,
                supplier=supplier,
                warehouse=warehouse,
                lines=[PurchaseLineRequest(sku, quantity)],
                expected_date=TODAY + timedelta(days=days),
            ).number
        )
    )


def _atl_backorder(world: World, requested_days: int = 2) -> tuple[str, str]:
    """A PO of 30 V-200 into ATL in 10 days, then ACME orders 20 there (12 on hand): 8 backordered."""
    po = _po(world, "VALVECO", "ATL", "V-200", 30, days=10)
    order = world.place_order(
        "ACME",
        LineRequest("V-200", 20, warehouse="ATL"),
        requested=TODAY + timedelta(days=requested_days),
        confirm=True,
        backorder=True,
    )
    return order, po


def _detect(world: World, entity_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Run a detection pass; the cases it raised, as plain data."""
    return world.run(lambda s: [_plain(c) for c in detect_exceptions(s, entity_ids=entity_ids)])


def _plain(case: ExceptionCase) -> dict[str, Any]:
    return {
        "number": case.number,
        "id": case.id,
        "type": case.type,
        "severity": case.severity,
        "title": case.title,
        "related": case.related,
        "suggestions": case.suggestions,
        "owner_role": case.owner_role,
        "owner_user_id": case.owner_user_id,
        "status": case.status,
        "sla": case.sla_due_at - case.created_at,
        "rule": case.routing_rule_id,
        "reason": case.routing_reason,
    }


def _case(world: World, number: str, user: str = "root") -> dict[str, Any]:
    actor = world.actor(user)

    def query(s: Session) -> dict[str, Any]:
        case = get_case(s, actor, case_number=number)
        plain = _plain(case)
        plain["events"] = [(e.kind, _username(s, e.actor_user_id), e.text) for e in case.events]
        return plain

    return world.read(query)


def _username(session: Session, user_id: int | None) -> str | None:
    return session.get(User, user_id).username if user_id else None  # type: ignore[union-attr]


def _entity_id(world: World, code: str) -> int:
    return world.read(lambda s: s.scalars(select(LegalEntity.id).where(LegalEntity.code == code)).one())


def _case_count(world: World) -> int:
    return world.read(lambda s: s.scalars(select(func.count()).select_from(ExceptionCase)).one())


def _as(world: World, user: str, command: Callable[..., Any], **kwargs: Any) -> Any:
    actor = world.actor(user)
    return world.run(lambda s: command(s, actor, **kwargs))


def _by_kind(suggestions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for suggestion in suggestions:
        kinds.setdefault(suggestion["kind"], []).append(suggestion)
    return kinds


# --- Detection rules ------------------------------------------------------------------------------


def test_a_backordered_line_raises_a_shortage_case_with_stock_elsewhere_a_transfer_a_substitute_and_the_po(
    world: World,
) -> None:
    order, po = _atl_backorder(world)
    [case] = _detect(world)
    assert case["type"] == "shortage" and case["severity"] == "high"  # wanted within 3 days
    assert case["title"] == f"{order} line 1: 8 V-200 short at ATL for ACME"
    assert case["related"] | {"sales_order_line": 0} == {
        "sales_order": order,
        "sales_order_line": 0,
        "line_no": 1,
        "customer": "ACME",
        "sku": "V-200",
        "warehouse": "ATL",
        "open_quantity": 20,
        "reserved": 12,
        "backordered": 8,
        "short": 8,
        "requested_date": "2026-11-22",
        "promise_date": "2026-11-30",
    }
    kinds = _by_kind(case["suggestions"])
    assert [(s["warehouse"], s["available_now"]) for s in kinds["other_warehouse"]] == [("DAL", 100)]
    assert kinds["transfer"] == [
        {
            "kind": "transfer",
            "text": "transfer 8 V-200 from DAL to ATL: covers the shortage; arrives about 2026-11-22, in time",
            "from_warehouse": "DAL",
            "to_warehouse": "ATL",
            "sku": "V-200",
            "quantity": 8,
            "covers": True,
            "expected_date": "2026-11-22",
            "in_time": True,
        }
    ]
    [substitute] = kinds["substitute"]
    assert (substitute["sku"], substitute["free_by_warehouse"]) == ("V-220", {"DAL": 30})
    [next_po] = kinds["next_po"]
    assert (next_po["purchase_order"], next_po["quantity"], next_po["due_date"], next_po["in_time"]) == (
        po,
        30,
        "2026-11-30",
        False,
    )
    assert "after the requested 2026-11-22" in next_po["text"]
    line_id = case["related"]["sales_order_line"]
    assert world.read(lambda s: shortage_suggestions(s, order_line_id=line_id)) == case["suggestions"]


def test_a_fully_reserved_line_or_a_later_requested_date_is_not_high(world: World) -> None:
    world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)  # fully reserved: no case
    order = world.place_order(
        "ACME",
        LineRequest("P-100", 9, warehouse="DAL"),
        requested=TODAY + timedelta(days=10),
        confirm=True,
        backorder=True,
    )
    [case] = _detect(world)
    assert (case["related"]["sales_order"], case["severity"], case["related"]["short"]) == (order, "medium", 4)
    assert _by_kind(case["suggestions"]).keys() == set()  # nothing else anywhere: no stock, no substitute, no PO


def test_a_customer_on_credit_hold_with_held_orders_raises_one_credit_case(world: World) -> None:
    first = world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    [case] = _detect(world)
    assert (case["type"], case["owner_role"], case["severity"]) == ("credit_hold", "finance", "high")
    assert case["title"] == "HOLDCO on credit hold: 1 order(s) worth USD 40.00 held"  # money as people read it
    assert case["related"] == {
        "customer": "HOLDCO",
        "sales_orders": [first],
        "held_value": "40.00",
        "currency": "USD",
        "hold_reason": "invoices 90 days overdue",
    }
    [status] = case["suggestions"]
    assert (status["kind"], status["credit_limit"], status["exposure"], status["exposure_if_released"]) == (
        "credit_status",
        "5000.00",
        "0.00",
        "40.00",
    )
    world.place_order("HOLDCO", LineRequest("V-220", 1), confirm=True)
    assert _detect(world) == []  # one case per customer, however many orders wait


def test_lines_below_cost_or_over_the_discount_limit_raise_price_cases(world: World) -> None:
    discounted = world.place_order("ACME", LineRequest("V-220", 2, discount_pct=Decimal(25)))
    loss = world.place_order("BOLT", LineRequest("P-100", 1, discount_pct=Decimal(60)), confirm=True)
    world.place_order("ACME", LineRequest("V-200", 2, discount_pct=Decimal(20)))  # at the limit: fine
    cases = {c["related"]["sales_order"]: c for c in _detect(world)}
    assert cases.keys() == {discounted, loss}
    assert (cases[discounted]["severity"], cases[loss]["severity"]) == ("medium", "high")
    assert cases[loss]["title"] == (
        f"{loss} line 1: P-100 for BOLT: net price 40.00 USD is below cost 50.00; discount 60% is above 20%"
    )
    floor, limit = cases[loss]["suggestions"]
    assert (floor["kind"], floor["min_net_price"], floor["max_discount_pct"]) == ("price_floor", "50.0000", "50.0")
    assert (limit["kind"], limit["net_price"]) == ("discount_limit", "80.00")
    assert [s["kind"] for s in cases[discounted]["suggestions"]] == ["discount_limit"]
    assert cases[loss]["owner_role"] == "manager"


def test_a_purchase_order_past_its_date_raises_a_late_supplier_case(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, _ = _atl_backorder(world)
    waited_for = _po(world, "VALVECO", "ATL", "V-200", 10, days=3)
    quiet = _po(world, "UKSUP", "BHM", "F-300", 40, days=2, user="root")
    _po(world, "VALVECO", "DAL", "P-100", 5, days=9)  # not yet late
    monkeypatch.setenv("ERP_TODAY", "2026-11-25")
    cases = {c["related"]["purchase_order"]: c for c in _detect(world) if c["type"] == "late_supplier"}
    assert cases.keys() == {waited_for, quiet}
    assert (cases[waited_for]["severity"], cases[quiet]["severity"]) == ("high", "medium")
    assert cases[waited_for]["title"] == f"{waited_for} from VALVECO is 2 day(s) late into ATL"
    assert cases[waited_for]["related"]["open_lines"] == [{"sku": "V-200", "open_quantity": 10}]
    [waiting] = cases[waited_for]["suggestions"]
    assert (waiting["kind"], waiting["sales_orders"], waiting["backordered"]) == ("waiting_orders", [order], 8)
    assert cases[quiet]["suggestions"] == []
    assert (cases[quiet]["owner_role"], cases[quiet]["rule"]) == ("buyer", "late_supplier")


# --- Idempotence ----------------------------------------------------------------------------------


def test_detection_raises_each_case_once_and_never_again_after_it_is_resolved(world: World) -> None:
    _atl_backorder(world)
    world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    first = _detect(world)
    assert sorted(c["type"] for c in first) == ["credit_hold", "shortage"]
    assert _detect(world) == []
    shortage = next(c for c in first if c["type"] == "shortage")
    _as(world, "wes", resolve_case, case_number=shortage["number"], resolution="moved 8 from DAL")
    _as(world, "mia", resolve_case, case_number=first[1]["number"], resolution="not ours", dismiss=True)
    assert _detect(world) == []
    assert _case_count(world) == 2


def test_detection_can_be_limited_to_entities(world: World) -> None:
    _atl_backorder(world)
    world.place_order("BRIT", LineRequest("F-300", 5, discount_pct=Decimal(30)), user="uma")
    uk, na = _entity_id(world, "UK"), _entity_id(world, "NA")
    assert [c["type"] for c in _detect(world, [uk])] == ["price_deviation"]
    assert [c["type"] for c in _detect(world, [na])] == ["shortage"]
    assert _detect(world) == []


def test_raise_case_is_idempotent_on_its_key_and_routes_overdue_approvals(world: World) -> None:
    na = _entity_id(world, "NA")

    def overdue(s: Session) -> tuple[dict[str, Any], bool]:
        case, created = raise_case(
            s,
            type=ExceptionType.APPROVAL_OVERDUE,
            entity_id=na,
            dedup_key="approval_overdue:draft:7",
            severity="high",
            title="DR-7 waits for approval since 2026-11-18",
            detail="A transfer draft needs a manager's approval.",
            related={"draft": "DR-7"},
        )
        return _plain(case), created

    case, created = world.run(overdue)
    again, created_again = world.run(overdue)
    assert (created, created_again, again["id"]) == (True, False, case["id"])
    found = world.read(lambda s: find_case(s, dedup_key="approval_overdue:draft:7"))
    assert found is not None and found.number == case["number"]
    assert world.read(lambda s: find_case(s, dedup_key="approval_overdue:draft:8")) is None
    assert (case["owner_role"], case["sla"], case["status"]) == ("manager", timedelta(hours=4), "open")
    assert case["reason"] == "approval_overdue in NA → role manager (rule approval_overdue, matched on type), SLA 4h"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "approval_late"}, "unknown case type 'approval_late'"),
        ({"severity": "urgent"}, "unknown severity 'urgent'"),
        ({"related": {"amount": Decimal(1)}}, "related must be plain JSON data"),
        ({"entity_id": 999}, "no legal entity with id 999"),
        ({"dedup_key": "  "}, "dedup_key must not be empty"),
    ],
)
def test_raise_case_refuses_bad_input(world: World, change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "type": "approval_overdue",
        "entity_id": _entity_id(world, "NA"),
        "dedup_key": "approval_overdue:draft:1",
        "severity": "low",
        "title": "t",
        "detail": "d",
        "related": {},
    } | change
    with pytest.raises(InvalidInput, match=message):
        world.run(lambda s: raise_case(s, **arguments))
    assert _case_count(world) == 0


@pytest.mark.postgres
def test_concurrent_detection_passes_raise_each_case_once(pg_world: World) -> None:
    _atl_backorder(pg_world)
    pg_world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    pg_world.place_order("BOLT", LineRequest("P-100", 1, discount_pct=Decimal(60)))
    outcomes = all_at_once(pg_world, [lambda s: detect_exceptions(s) for _ in range(6)])
    assert outcomes == {"ok": 6}
    keys = pg_world.read(lambda s: list(s.scalars(select(ExceptionCase.dedup_key))))
    assert len(keys) == len(set(keys)) == 3


# --- Routing --------------------------------------------------------------------------------------


def test_a_new_case_is_routed_by_the_most_specific_rule_with_its_reason_and_sla(world: World) -> None:
    _atl_backorder(world)
    [case] = _detect(world)
    assert (case["owner_role"], case["owner_user_id"], case["status"]) == ("warehouse", None, "open")
    assert case["rule"] == "shortage.na"
    assert case["sla"] == timedelta(hours=8)
    assert case["reason"] == "shortage in NA → role warehouse (rule shortage.na, matched on type and entity), SLA 8h"
    events = _case(world, case["number"])["events"]
    assert [(kind, who) for kind, who, _ in events] == [("raised", None), ("routed", None)]
    assert events[1][2] == case["reason"]


CUSTOM_ROUTING = """\
version: 1
rules:
  - id: shortage.na.wes
    type: shortage
    entity: NA
    owner_user: wes
    owner_role: warehouse
    sla_hours: 2
  - id: price.uk.uma
    type: price_deviation
    entity: NA
    owner_user: uma
    sla_hours: 1
  - id: price
    type: price_deviation
    owner_role: sales
    sla_hours: 12
  - id: na
    entity: NA
    owner_role: manager
    sla_hours: 30
  - id: everything
    owner_role: admin
    sla_hours: 72
"""


def test_rules_from_a_custom_file_assign_users_fall_back_and_say_why(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(CUSTOM_ROUTING)
    monkeypatch.setenv("ERP_ROUTING_FILE", str(routing))
    _atl_backorder(world)
    world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    world.place_order("BOLT", LineRequest("P-100", 1, discount_pct=Decimal(60)))
    world.place_order("BRIT", LineRequest("F-300", 5, discount_pct=Decimal(30)), user="uma")
    cases = {(c["type"], c["related"].get("customer")): c for c in _detect(world)}
    wes = world.actor("wes").user_id
    shortage = cases[("shortage", "ACME")]
    assert (shortage["owner_user_id"], shortage["owner_role"], shortage["status"]) == (wes, "warehouse", "assigned")
    assert shortage["reason"] == (
        "shortage in NA → user wes, role warehouse (rule shortage.na.wes, matched on type and entity), SLA 2h"
    )
    assert shortage["sla"] == timedelta(hours=2)
    bolt = cases[("price_deviation", "BOLT")]
    assert (bolt["rule"], bolt["owner_role"], bolt["owner_user_id"]) == ("price", "sales", None)
    assert bolt["reason"] == (
        "price_deviation in NA → role sales (rule price, matched on type), SLA 12h; "
        "rule price.uk.uma (line 9) passed over: user uma cannot see NA"
    )
    assert cases[("credit_hold", "HOLDCO")]["rule"] == "na"  # entity beats catch-all
    assert cases[("price_deviation", "BRIT")]["rule"] == "price"
    with pytest.raises(RoutingFileError) as refused:
        world.read(lambda s: check_routing(s, load_routing()))
    assert refused.value.details["problems"] == [
        {"line": 9, "problem": "rule price.uk.uma: user uma cannot see entity NA"}
    ]


def test_check_routing_names_unknown_entities_and_users_with_lines(world: World, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "version: 1\nrules:\n"
        "  - id: a\n    entity: XX\n    owner_role: manager\n    sla_hours: 1\n"
        "  - id: b\n    owner_user: ghost\n    sla_hours: 1\n"
    )
    with pytest.raises(RoutingFileError) as refused:
        world.read(lambda s: check_routing(s, load_routing(routing)))
    assert refused.value.details["problems"] == [
        {"line": 3, "problem": "rule a: unknown entity 'XX'; entities are NA, UK"},
        {"line": 7, "problem": "rule b: 'ghost' is not an active user"},
    ]
    world.read(lambda s: check_routing(s, load_routing()))  # the default file is fine


# --- Lifecycle ------------------------------------------------------------------------------------


def test_a_case_is_commented_assigned_resolved_and_reopened_with_every_step_on_its_timeline(world: World) -> None:
    _atl_backorder(world)
    [raised] = _detect(world)
    number = raised["number"]
    event = _as(world, "sam", comment_case, case_number=number, text="customer asks for Monday at the latest")
    assert event.kind == "commented"
    _as(world, "wes", assign_case, case_number=number, assignee="bea")
    _as(world, "wes", assign_case, case_number=number, assignee="bea")  # already so: no second event
    _as(world, "bea", resolve_case, case_number=number, resolution="expedited the PO to Monday")
    _as(world, "mia", reopen_case, case_number=number, reason="supplier slipped again")
    _as(world, "mia", resolve_case, case_number=number, resolution="ACME accepted V-220", dismiss=True)
    case = _case(world, number)
    assert case["status"] == "dismissed"
    assert case["owner_user_id"] == world.actor("bea").user_id
    assert [(kind, who) for kind, who, _ in case["events"]] == [
        ("raised", None),
        ("routed", None),
        ("commented", "sam"),
        ("assigned", "wes"),
        ("resolved", "bea"),
        ("reopened", "mia"),
        ("dismissed", "mia"),
    ]
    assert [text for _, _, text in case["events"][2:]] == [
        "customer asks for Monday at the latest",
        "assigned to bea",
        "expedited the PO to Monday",
        "supplier slipped again",
        "ACME accepted V-220",
    ]


def test_only_the_routed_role_a_manager_or_the_assignee_may_handle_a_case(world: World) -> None:
    _atl_backorder(world)
    [case] = _detect(world)
    number = case["number"]
    with pytest.raises(PermissionDenied, match="sam may not resolve EX-1: that takes role warehouse, manager or admin"):
        _as(world, "sam", resolve_case, case_number=number, resolution="done")
    with pytest.raises(PermissionDenied, match="bea may not assign"):
        _as(world, "bea", assign_case, case_number=number, assignee="bea")
    _as(world, "mia", assign_case, case_number=number, assignee="sam")  # a manager may; sam is now the assignee
    _as(world, "sam", resolve_case, case_number=number, resolution="customer took a partial delivery")
    with pytest.raises(InvalidState, match="EX-1 is already resolved and cannot be resolved; reopen it first"):
        _as(world, "wes", resolve_case, case_number=number, resolution="again")
    with pytest.raises(InvalidState, match="cannot be assigned"):
        _as(world, "wes", assign_case, case_number=number, assignee="wes")
    _as(world, "root", reopen_case, case_number="EX-1", reason="the partial delivery fell through")
    with pytest.raises(InvalidState, match="EX-1 is assigned; only a resolved or dismissed case can be reopened"):
        _as(world, "root", reopen_case, case_number="EX-1", reason="again")


def test_assigning_needs_a_known_user_who_can_see_the_entity(world: World) -> None:
    _atl_backorder(world)
    [case] = _detect(world)
    with pytest.raises(NotFound, match="unknown user 'wess'; did you mean wes"):
        _as(world, "wes", assign_case, case_number=case["number"], assignee="wess")
    with pytest.raises(OutOfScope) as refused:
        _as(world, "wes", assign_case, case_number=case["number"], assignee="uma")
    lead, people = refused.value.message.split("; assign it to one of ")
    assert lead == "uma cannot see NA, where EX-1 belongs"
    assert people.split(", ")[0] == "wes" and "uma" not in people  # the case's role (warehouse) first
    with pytest.raises(InvalidInput, match="the resolution must not be empty"):
        _as(world, "wes", resolve_case, case_number=case["number"], resolution="  ")
    with pytest.raises(InvalidInput, match="a comment must not be empty"):
        _as(world, "wes", comment_case, case_number=case["number"], text="")


# --- Scope and listing ----------------------------------------------------------------------------


def test_cases_of_another_entity_are_out_of_scope(world: World) -> None:
    _atl_backorder(world)
    [case] = _detect(world)
    commands: list[tuple[Callable[..., Any], dict[str, str]]] = [
        (get_case, {}),
        (comment_case, {"text": "hello"}),
        (assign_case, {"assignee": "uma"}),
        (resolve_case, {"resolution": "fixed"}),
    ]
    for command, arguments in commands:
        with pytest.raises(OutOfScope, match="exception case EX-1 belongs to a legal entity outside your scope"):
            _as(world, "uma", command, case_number=case["number"], **arguments)
    uma = world.actor("uma")
    assert world.read(lambda s: page_cases(s, uma).cases) == []
    with pytest.raises(OutOfScope):
        world.read(lambda s: page_cases(s, uma, entity="NA"))
    with pytest.raises(NotFound, match="unknown exception case 'EX-99'"):
        _as(world, "root", get_case, case_number="EX-99")
    with pytest.raises(NotFound, match="EX-<number>"):
        _as(world, "root", get_case, case_number="case one")


def test_list_cases_filters_by_type_entity_owner_and_status(world: World) -> None:
    _atl_backorder(world)
    world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    world.place_order("BRIT", LineRequest("F-300", 5, discount_pct=Decimal(30)), user="uma")
    raised = {c["type"]: c["number"] for c in _detect(world)}
    _as(world, "wes", assign_case, case_number=raised["shortage"], assignee="wes")
    mia = world.actor("mia")

    def numbers(**filters: Any) -> list[str]:
        return world.read(lambda s: [c.number for c in page_cases(s, mia, **filters).cases])

    assert numbers() == [raised["shortage"], raised["credit_hold"], raised["price_deviation"]]  # soonest due first
    assert numbers(type="credit_hold") == [raised["credit_hold"]]
    assert numbers(entity="uk") == [raised["price_deviation"]]
    assert numbers(owner="wes") == [raised["shortage"]]
    assert numbers(status=CaseStatus.OPEN) == [raised["credit_hold"], raised["price_deviation"]]
    assert numbers(status="assigned", limit=1) == [raised["shortage"]]
    sam = world.actor("sam")
    assert world.read(lambda s: [c.number for c in page_cases(s, sam).cases]) == [
        raised["shortage"],
        raised["credit_hold"],
    ]
    page = world.read(lambda s: page_cases(s, mia, limit=1))
    assert page.total == 3 and [c.number for c in page.cases] == [raised["shortage"]]
    _as(world, "wes", resolve_case, case_number=raised["shortage"], resolution="moved stock from DAL")
    assert numbers(active_only=True) == [raised["credit_hold"], raised["price_deviation"]]
    assert numbers() == [raised["shortage"], raised["credit_hold"], raised["price_deviation"]]
    assert numbers(status="resolved", active_only=True) == [raised["shortage"]]  # an explicit status wins
    with pytest.raises(InvalidInput, match="unknown case status 'closed'"):
        numbers(status="closed")
    with pytest.raises(InvalidInput, match="unknown case type"):
        numbers(type="fraud")
    with pytest.raises(NotFound, match="unknown user 'nobody'"):
        numbers(owner="nobody")


def test_updated_at_follows_the_last_change(world: World) -> None:
    _atl_backorder(world)
    [case] = _detect(world)
    before = world.read(lambda s: s.get(ExceptionCase, case["id"]).updated_at)  # type: ignore[union-attr]
    _as(world, "sam", comment_case, case_number=case["number"], text="noted")
    after = world.read(lambda s: s.get(ExceptionCase, case["id"]).updated_at)  # type: ignore[union-attr]
    assert isinstance(after, datetime) and after >= before
    assert after.date() == TODAY


def test_shortage_suggestions_for_an_unknown_line_is_refused(world: World) -> None:
    with pytest.raises(NotFound, match="unknown sales order line '424242'"):
        world.read(lambda s: shortage_suggestions(s, order_line_id=424242))

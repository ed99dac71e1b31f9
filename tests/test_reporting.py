"""KPIs: exact figures on the small world, scope and period refusals, and a few statements on the demo company."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Person
from core.db import Database
from core.drafts.service import RequestContext, approve, draft_action, reject
from core.errors import InvalidInput, NotFound, OutOfScope
from core.exceptions import detect_exceptions, raise_case, resolve_case
from core.masterdata.models import LegalEntity
from core.masterdata.service import load_actor
from core.reporting import EntityKpis, approval_stats, entity_kpis, exception_aging
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ship_order
from core.transfers.service import TransferLineRequest, create_transfer, receive_transfer, ship_transfer
from tests.world import World

NA_STOCK_AT_COST = Decimal("41700.00")  # V-200 112 x 10, V-220 30 x 11, P-100 5 x 50, X-900 10 x 4,000 (USD)
UK_STOCK_AT_COST = Decimal("160.00")  # F-300 50 x 4 USD, at 0.80 GBP per USD


def _day(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    """Make `day` the business date (the time of day stays the real one)."""
    monkeypatch.setenv("ERP_TODAY", day.isoformat())


def _ship(world: World, number: str, quantities: dict[int, int] | None = None) -> None:
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=number, quantities=quantities))


def _sales_history(world: World, monkeypatch: pytest.MonkeyPatch) -> date:
    """NA's orders over the last ten days (prices: ACME V-200 18, P-100 90; list V-200 20, V-220 22)."""
    today = clock.today()
    _day(monkeypatch, today - timedelta(days=10))
    a = world.place_order(
        "ACME",
        LineRequest("V-200", 10, "DAL"),
        LineRequest("P-100", 2, "DAL"),
        requested=today - timedelta(days=9),
        confirm=True,
    )
    b = world.place_order("BOLT", LineRequest("V-220", 20, "DAL"), requested=today - timedelta(days=5), confirm=True)
    e = world.place_order(
        "BOLT",
        LineRequest("V-200", 5, "ATL"),
        LineRequest("V-220", 1, "DAL"),
        requested=today - timedelta(days=8),
        confirm=True,
    )
    _day(monkeypatch, today - timedelta(days=9))
    _ship(world, a)  # both lines whole, on the requested day
    _day(monkeypatch, today - timedelta(days=7))
    _ship(world, e)  # both lines whole, a day late
    _day(monkeypatch, today - timedelta(days=6))
    _ship(world, b, {1: 5})  # 5 of 20, on time
    _day(monkeypatch, today)
    # still open: 4 x 18, and 8 x 90 with 5 of them short
    world.place_order("ACME", LineRequest("V-200", 4, "DAL"), requested=today + timedelta(days=5), confirm=True)
    world.place_order("ACME", LineRequest("P-100", 8, "DAL"), requested=today, confirm=True, backorder=True)
    return today


def _kpis(world: World, username: str, **kwargs: Any) -> list[EntityKpis]:
    actor = world.actor(username)
    return world.read(lambda s: entity_kpis(s, actor, **kwargs))


def test_kpis_count_first_shipments_open_orders_and_stock_at_cost_exactly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = _sales_history(world, monkeypatch)
    na = _kpis(world, "sam")[0]
    assert (na.entity, na.currency, na.period_start, na.period_end) == ("NA", "USD", today - timedelta(days=89), today)
    # First shipments in the period: A1, A2, E1, E2 whole; B1 partial. On time: A1, A2, B1; E late.
    assert (na.fill_rate_pct, na.on_time_pct) == (Decimal("80.0"), Decimal("60.0"))
    # Open: B1 15 x 22 + 4 x 18 + 8 x 90; the P-100 order found 3 in stock and waits for 5.
    assert (na.backlog_value, na.backlog_lines, na.backordered_units) == (Decimal("1122.00"), 3, 5)
    # V-200 97 x 10 + V-220 24 x 11 + P-100 3 x 50 + X-900 10 x 4,000: shipped stock has left, reserved has not.
    assert na.inventory_value == Decimal("41384.00")
    # Invoices: A 360 (cost 200), E 122 (cost 61), B 110 (cost 55).
    assert (na.revenue, na.margin_pct) == (Decimal("592.00"), Decimal("46.6"))
    assert na.inventory_turns == (Decimal(316) * 365 / 90 / Decimal("41384")).quantize(Decimal("0.01"))
    assert "4 of the 5 order lines" in na.basis["fill_rate_pct"]
    assert "3 of the 5 order lines" in na.basis["on_time_pct"]
    assert set(na.basis) == {f.name for f in fields(EntityKpis)} - {
        "entity",
        "currency",
        "period_start",
        "period_end",
        "basis",
    }


def test_a_line_whose_first_shipment_came_before_the_period_is_left_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = _sales_history(world, monkeypatch)
    na = _kpis(world, "sam", since=today - timedelta(days=8))[0]
    # A shipped before the period; left: E1, E2 (whole, late) and B1 (partial, on time).
    assert (na.fill_rate_pct, na.on_time_pct) == (Decimal("66.7"), Decimal("33.3"))
    assert (na.revenue, na.margin_pct) == (Decimal("232.00"), Decimal("50.0"))
    assert na.inventory_turns == Decimal("0.11")  # 116 x 365 / 9 days / 41,384
    assert f"{today - timedelta(days=8)}..{today}" in na.basis["fill_rate_pct"]


def test_an_empty_period_gives_no_rates_rather_than_a_division_by_zero(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = _sales_history(world, monkeypatch)
    quiet = today - timedelta(days=30)
    na, uk = _kpis(world, "mia", since=quiet, until=quiet)
    assert (na.fill_rate_pct, na.on_time_pct, na.margin_pct, na.revenue) == (None, None, None, Decimal("0.00"))
    assert na.inventory_turns == Decimal("0.00")  # stock on hand, nothing shipped
    assert (na.backlog_value, na.inventory_value) == (Decimal("1122.00"), Decimal("41384.00"))  # as of today
    assert "no rate" in na.basis["fill_rate_pct"]
    assert (uk.entity, uk.fill_rate_pct, uk.backlog_lines, uk.inventory_value) == ("UK", None, 0, UK_STOCK_AT_COST)


def test_inventory_is_valued_in_each_entitys_currency_and_follows_a_transfer(world: World) -> None:
    mia = world.actor("mia")
    number = world.run(
        lambda s: (
            create_transfer(
                s, mia, from_warehouse="DAL", to_warehouse="BHM", lines=[TransferLineRequest("V-200", 10)]
            ).id
        )
    )
    world.run(lambda s: ship_transfer(s, mia, transfer_number=number))
    na, uk = _kpis(world, "mia")
    assert (na.inventory_value, uk.inventory_value) == (NA_STOCK_AT_COST - 100, UK_STOCK_AT_COST)  # on the road
    world.run(lambda s: receive_transfer(s, mia, transfer_number=number))
    uma = world.actor("uma")
    order = world.run(
        lambda s: create_order(s, uma, customer="BRIT", lines=[LineRequest("F-300", 10, "BHM")]).id  # 7.20 GBP each
    )
    world.run(lambda s: confirm_order(s, uma, order_number=order))
    world.run(lambda s: ship_order(s, uma, order_number=order))
    (uk,) = _kpis(world, "mia", entity="uk")
    assert (uk.currency, uk.inventory_value) == ("GBP", Decimal("208.00"))  # 160 + 10 x 10 x 0.8 - 10 x 4 x 0.8
    assert (uk.revenue, uk.margin_pct, uk.fill_rate_pct, uk.on_time_pct) == (
        Decimal("72.00"),
        Decimal("55.6"),
        Decimal("100.0"),
        Decimal("100.0"),
    )
    assert "USD→GBP 0.8" in uk.basis["inventory_value"]


def test_a_user_sees_only_the_entities_in_scope(world: World) -> None:
    assert [k.entity for k in _kpis(world, "sam")] == ["NA"]
    assert [k.entity for k in _kpis(world, "uma")] == ["UK"]
    assert [k.entity for k in _kpis(world, "root")] == ["NA", "UK"]
    assert [k.entity for k in _kpis(world, "root", entity=" na ")] == ["NA"]
    sam = world.actor("sam")
    assert [a.entity for a in world.read(lambda s: exception_aging(s, sam))] == ["NA"]
    assert [a.entity for a in world.read(lambda s: approval_stats(s, sam))] == ["NA"]
    with pytest.raises(OutOfScope, match="entity UK"):
        world.read(lambda s: entity_kpis(s, sam, entity="UK"))
    with pytest.raises(OutOfScope, match="entity UK"):
        world.read(lambda s: exception_aging(s, sam, entity="UK"))
    with pytest.raises(OutOfScope, match="entity UK"):
        world.read(lambda s: approval_stats(s, sam, entity="UK"))
    with pytest.raises(NotFound, match=r"unknown legal entity 'EU'; did you mean NA\?") as refused:
        _kpis(world, "sam", entity="EU")
    assert refused.value.details["suggestions"] == ["NA"]  # only codes the user may see


def test_periods_that_are_backwards_or_not_over_yet_are_refused(world: World) -> None:
    today = clock.today()
    with pytest.raises(InvalidInput, match=r"starts \(.*\) after it ends"):
        _kpis(world, "sam", since=today - timedelta(days=1), until=today - timedelta(days=2))
    with pytest.raises(InvalidInput, match="after today"):
        _kpis(world, "sam", until=today + timedelta(days=1))
    with pytest.raises(InvalidInput, match="after it ends"):
        _kpis(world, "sam", since=today + timedelta(days=1))
    sam = world.actor("sam")
    with pytest.raises(InvalidInput, match="after it ends"):
        world.read(lambda s: approval_stats(s, sam, since=today + timedelta(days=1)))


def _raise(world: World, kind: str, entity: str, key: str) -> int:
    def command(s: Session) -> int:
        entity_id = s.scalars(select(LegalEntity.id).where(LegalEntity.code == entity)).one()
        case, _ = raise_case(
            s, type=kind, entity_id=entity_id, dedup_key=key, severity="medium", title=key, detail="", related={}
        )
        return case.id

    return world.run(command)


def test_exception_aging_counts_open_cases_by_type_age_and_sla(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    today = clock.today()
    _day(monkeypatch, today - timedelta(days=10))
    _raise(world, "shortage", "NA", "old-shortage")  # SLA 8 hours
    _day(monkeypatch, today - timedelta(days=5))
    closed = _raise(world, "shortage", "NA", "fixed-shortage")
    world.run(lambda s: resolve_case(s, world.actor("root"), case_number=closed, resolution="stock moved"))
    _day(monkeypatch, today - timedelta(days=2))
    _raise(world, "credit_hold", "NA", "held")  # SLA 24 hours
    _day(monkeypatch, today)
    _raise(world, "price_deviation", "NA", "priced")  # SLA 24 hours, raised just now
    mia = world.actor("mia")
    na, uk = world.read(lambda s: exception_aging(s, mia))
    assert (na.open_cases, na.by_type) == (3, {"credit_hold": 1, "price_deviation": 1, "shortage": 1})
    assert (na.oldest_days, na.overdue_sla, na.median_age_hours) == (10, 2, Decimal("48.0"))
    assert (uk.open_cases, uk.by_type, uk.oldest_days, uk.overdue_sla, uk.median_age_hours) == (0, {}, None, 0, None)


def _draft(world: World, payload: Mapping[str, object], call: str) -> int:
    ctx = RequestContext(world.actor("sam"), channel="assistant", conversation_id="kpi", tool_call_id=call)
    return world.run(lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=dict(payload)).id)


def test_approval_cycle_runs_from_draft_to_decision_over_drafts_people_decided(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    chiller = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}  # needs a manager
    gus = Person(world.actor("gus"), channel="web")
    today = clock.today()
    _day(monkeypatch, today - timedelta(days=3))
    first, second = _draft(world, chiller, "call-1"), _draft(world, chiller, "call-2")
    _day(monkeypatch, today - timedelta(days=2))
    world.run(lambda s: approve(s, gus, draft_number=first))  # 24 hours
    _day(monkeypatch, today - timedelta(days=1))
    world.run(lambda s: reject(s, gus, draft_number=second, comment="one is enough"))  # 48 hours
    _day(monkeypatch, today)
    third = _draft(world, chiller, "call-3")
    world.run(lambda s: approve(s, gus, draft_number=third))  # minutes at most
    _draft(world, chiller, "call-4")  # waiting
    small = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1}]}
    _draft(world, small, "call-5")  # policy let it run at once: not counted
    mia = world.actor("mia")
    na, uk = world.read(lambda s: approval_stats(s, mia))
    assert (na.decided, na.pending, na.approved_pct) == (3, 1, Decimal("66.7"))
    assert (na.median_cycle_hours, na.p90_cycle_hours) == (Decimal("24.0"), Decimal("43.2"))  # of 0, 24, 48
    assert (uk.decided, uk.pending, uk.median_cycle_hours, uk.approved_pct) == (0, 0, None, None)
    (recent,) = world.read(lambda s: approval_stats(s, mia, since=today - timedelta(days=1), entity="NA"))
    assert (recent.decided, recent.approved_pct, recent.median_cycle_hours) == (2, Decimal("50.0"), Decimal("24.0"))


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _counted_kpis(db: Database, actor: Actor) -> tuple[list[EntityKpis], int]:
    with _statements(db.engine) as sent:
        kpis = db.read(lambda s: entity_kpis(s, actor))
    return kpis, len(sent)


def test_demo_kpis_are_sane_and_take_the_same_few_statements_as_on_the_small_world(
    world: World, demo_db: Database
) -> None:
    admin = demo_db.read(lambda s: load_actor(s, username="admin"))
    kpis, statements = _counted_kpis(demo_db, admin)
    assert [k.entity for k in kpis] == ["NA", "SEA", "UK"]
    assert [k.currency for k in kpis] == ["USD", "SGD", "GBP"]
    for k in kpis:
        assert k.fill_rate_pct is not None and Decimal(0) <= k.fill_rate_pct <= 100
        assert k.on_time_pct is not None and Decimal(0) <= k.on_time_pct <= 100
        assert k.inventory_turns is not None and k.inventory_turns > 0
        assert k.inventory_value > 0 and k.revenue > 0 and k.backlog_lines > 0
        assert k.margin_pct is not None and Decimal(0) < k.margin_pct < 100
    _, small = _counted_kpis(world.db, world.actor("root"))
    assert statements == small <= 7  # one per figure group, whatever the data size (SQLite adds its BEGIN)
    maria = demo_db.read(lambda s: load_actor(s, username="maria"))
    assert demo_db.read(lambda s: entity_kpis(s, maria)) == [kpis[0]]  # NA's manager: the same NA figures, only NA

    demo_db.run(lambda s: detect_exceptions(s))
    with _statements(demo_db.engine) as sent:
        aging = demo_db.read(lambda s: exception_aging(s, admin))
    assert len(sent) <= 4 and sum(a.open_cases for a in aging) > 0
    assert all(a.median_age_hours is not None for a in aging if a.open_cases)

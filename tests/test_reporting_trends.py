"""KPIs over time: weekly figures on a small hand-built fortnight worked out by hand, the group in one currency,
buckets, scope and refusals."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.service import RequestContext, draft_action, reject
from core.errors import InvalidInput, MissingRate, OutOfScope
from core.exceptions import raise_case, resolve_case
from core.masterdata.models import LegalEntity
from core.reporting.trends import Granularity, Period, buckets, findings_by_age, kpi_trends
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from tests.world import World

# The world's opening stock is posted on the template's day (2026-11-20); this fortnight comes after it.
TODAY = date(2026, 12, 4)  # a Friday
SINCE = date(2026, 11, 21)  # a Saturday: the first week is cut to Sat-Sun
CHILLER = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}  # needs a manager


def _on(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setenv("ERP_TODAY", day.isoformat())


def _raise(world: World, kind: str, entity: str, key: str) -> int:
    def command(s: Session) -> int:
        entity_id = s.scalars(select(LegalEntity.id).where(LegalEntity.code == entity)).one()
        case, _ = raise_case(
            s, type=kind, entity_id=entity_id, dedup_key=key, severity="medium", title=key, detail="", related={}
        )
        return case.id

    return world.run(command)


def _rejected_draft(world: World, monkeypatch: pytest.MonkeyPatch, drafted: date, decided: date, call: str) -> None:
    _on(monkeypatch, drafted)
    ctx = RequestContext(world.actor("sam"), channel="assistant", conversation_id="trend", tool_call_id=call)
    number = world.run(lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=dict(CHILLER)).id)
    _on(monkeypatch, decided)
    gus = Person(world.actor("gus"), channel="web")
    world.run(lambda s: reject(s, gus, draft_number=number, comment="not now"))


def _fortnight(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """NA sells, ships, raises and rejects over two weeks; UK takes one order and has one case today."""
    _on(monkeypatch, date(2026, 11, 21))
    x = _raise(world, "shortage", "NA", "x")  # open throughout
    _rejected_draft(world, monkeypatch, date(2026, 11, 24), date(2026, 11, 25), "d1")  # 24 hours
    _on(monkeypatch, date(2026, 11, 24))
    a = world.place_order("ACME", LineRequest("V-200", 10, "DAL"), requested=date(2026, 11, 24), confirm=True)
    _on(monkeypatch, date(2026, 11, 25))
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=a))  # whole: 10 x 18, cost 10 x 10
    _on(monkeypatch, date(2026, 11, 26))
    b = world.place_order("BOLT", LineRequest("V-220", 20, "DAL"), requested=date(2026, 11, 30), confirm=True)
    _on(monkeypatch, date(2026, 11, 27))
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=b, quantities={1: 5}))  # 5 x 22, cost 5 x 11
    _on(monkeypatch, date(2026, 11, 28))
    y = _raise(world, "credit_hold", "NA", "y")
    _rejected_draft(world, monkeypatch, date(2026, 11, 30), date(2026, 12, 2), "d2")  # 48 hours
    _on(monkeypatch, date(2026, 12, 1))
    world.run(lambda s: resolve_case(s, world.actor("root"), case_number=y, resolution="paid"))
    world.place_order("ACME", LineRequest("V-200", 4, "DAL"), requested=date(2026, 12, 8), confirm=True)  # 4 x 18
    world.place_order("BRIT", LineRequest("F-300", 10, "BHM"), user="uma", confirm=True)  # 10 x 7.20 GBP
    _rejected_draft(world, monkeypatch, TODAY, TODAY, "d3")  # minutes
    _raise(world, "price_deviation", "UK", "z")  # raised today
    assert x


def test_weekly_kpis_follow_the_fortnight_as_worked_out_by_hand(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _fortnight(world, monkeypatch)
    mia = world.actor("mia")
    trends = world.read(lambda s: kpi_trends(s, mia, since=SINCE))
    assert trends.periods == [
        Period(date(2026, 11, 21), date(2026, 11, 22)),
        Period(date(2026, 11, 23), date(2026, 11, 29)),
        Period(date(2026, 11, 30), TODAY),
    ]
    na, uk = trends.entities
    assert (na.entity, uk.entity, trends.group.entity, trends.currency) == ("NA", "UK", "group", "USD")
    first, second, third = na.points
    assert [p.fill_rate_pct for p in na.points] == [None, Decimal("50.0"), None]  # A whole, B 5 of 20
    assert (second.lines_shipped, second.lines_filled) == (2, 1)
    # Open: nothing; B 15 x 22 once A has shipped (A invoiced counts no more); then C 4 x 18 too.
    assert [p.backlog_value for p in na.points] == [Decimal("0.00"), Decimal("330.00"), Decimal("402.00")]
    # Opening 41,700 at standard cost; A took 10 x 10, B 5 x 11.
    assert [p.inventory_value for p in na.points] == [Decimal("41700.00"), Decimal("41545.00"), Decimal("41545.00")]
    assert (second.revenue, second.cost_of_goods, second.margin, second.margin_pct) == (
        Decimal("290.00"),
        Decimal("155.00"),
        Decimal("135.00"),
        Decimal("46.6"),
    )
    assert [p.inventory_turns for p in na.points] == [Decimal("0.00"), Decimal("0.19"), Decimal("0.00")]  # 155x365/7
    assert (first.margin_pct, third.margin_pct) == (None, None)
    # x: 2 days old at the end of week 1, 9 at the end of week 2; y: 2 days old then, resolved before week 3 ended.
    assert first.open_cases == {"under 1 day": 0, "1-3 days": 1, "3-7 days": 0, "over 7 days": 0}
    assert second.open_cases == {"under 1 day": 0, "1-3 days": 1, "3-7 days": 0, "over 7 days": 1}
    assert third.open_cases == {"under 1 day": 0, "1-3 days": 0, "3-7 days": 0, "over 7 days": 1}
    assert [(p.approvals_decided, p.median_cycle_hours) for p in na.points] == [
        (0, None),
        (1, Decimal("24.0")),
        (2, Decimal("24.0")),  # 48 and 0 hours
    ]
    assert [p.backlog_value for p in uk.points] == [Decimal("0.00"), Decimal("0.00"), Decimal("90.00")]  # 72 GBP
    assert uk.points[-1].inventory_value == Decimal("200.00")  # F-300 50 x 4 USD
    group = trends.group.points
    assert [p.backlog_value for p in group] == [Decimal("0.00"), Decimal("330.00"), Decimal("492.00")]
    assert [p.inventory_value for p in group] == [Decimal("41900.00"), Decimal("41745.00"), Decimal("41745.00")]
    assert group[1].inventory_turns == Decimal("0.19")  # 155 x 365 / 7 / 41,745 = 0.194
    assert group[2].open_cases == {"under 1 day": 1, "1-3 days": 0, "3-7 days": 0, "over 7 days": 1}
    assert {r.pair for r in trends.rates} == {"GBP→USD", "USD→USD"}


def test_the_group_translates_into_the_currency_asked_and_scope_narrows_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fortnight(world, monkeypatch)
    mia, sam = world.actor("mia"), world.actor("sam")
    in_pounds = world.read(lambda s: kpi_trends(s, mia, since=SINCE, currency="gbp"))
    na, uk = in_pounds.entities
    assert (na.points[-1].backlog_value, uk.points[-1].backlog_value) == (Decimal("321.60"), Decimal("72.00"))
    assert in_pounds.group.points[-1].backlog_value == Decimal("393.60")  # 402 x 0.80 + 72
    assert uk.points[-1].inventory_value == Decimal("160.00")  # 200 USD x 0.80
    only_na = world.read(lambda s: kpi_trends(s, sam, since=SINCE))
    assert [s.entity for s in only_na.entities] == ["NA"]
    assert only_na.group.points == only_na.entities[0].points  # the group is what sam may see, nothing of UK
    with pytest.raises(OutOfScope, match="entity UK"):
        world.read(lambda s: kpi_trends(s, sam, entity="UK"))


def test_findings_now_are_counted_by_type_and_age(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _fortnight(world, monkeypatch)
    found = world.read(lambda s: findings_by_age(s, world.actor("mia")))
    assert [(f.entity, f.type, f.total) for f in found] == [("NA", "shortage", 1), ("UK", "price_deviation", 1)]
    assert found[0].by_band["over 7 days"] == 1 and found[1].by_band["under 1 day"] == 1
    assert [f.entity for f in world.read(lambda s: findings_by_age(s, world.actor("uma")))] == ["UK"]


def test_monthly_trends_add_up_the_weeks(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _fortnight(world, monkeypatch)
    monthly = world.read(
        lambda s: kpi_trends(s, world.actor("mia"), since=date(2026, 11, 1), granularity="month", entity="na")
    )
    november, december = monthly.entities[0].points
    assert (november.revenue, november.lines_shipped, november.fill_rate_pct) == (Decimal("290.00"), 2, Decimal("50.0"))
    assert (december.end, december.backlog_value, december.approvals_decided) == (TODAY, Decimal("402.00"), 2)


def test_buckets_are_monday_weeks_and_calendar_months_cut_to_the_period() -> None:
    weeks = buckets(date(2026, 11, 4), date(2026, 11, 17), Granularity.WEEK)  # a Wednesday to a Tuesday
    assert [(p.start, p.end, p.days) for p in weeks] == [
        (date(2026, 11, 4), date(2026, 11, 8), 5),
        (date(2026, 11, 9), date(2026, 11, 15), 7),
        (date(2026, 11, 16), date(2026, 11, 17), 2),
    ]
    months = buckets(date(2025, 12, 15), date(2026, 2, 10), Granularity.MONTH)
    assert [(p.start, p.end) for p in months] == [
        (date(2025, 12, 15), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 10)),
    ]


def test_by_default_the_last_twelve_weeks_or_months_are_shown_whole(world: World) -> None:
    root = world.actor("root")  # today is Friday 2026-11-20
    weekly = world.read(lambda s: kpi_trends(s, root))
    assert (len(weekly.periods), weekly.period_start, weekly.periods[0].days) == (12, date(2026, 8, 31), 7)
    assert weekly.periods[-1] == Period(date(2026, 11, 16), date(2026, 11, 20))
    monthly = world.read(lambda s: kpi_trends(s, root, granularity="month"))
    assert (len(monthly.periods), monthly.period_start) == (12, date(2025, 12, 1))


def test_too_many_buckets_or_an_unknown_grain_are_refused(world: World) -> None:
    root = world.actor("root")
    with pytest.raises(InvalidInput, match="at most 60"):
        world.read(lambda s: kpi_trends(s, root, since=date(2024, 1, 1)))
    with pytest.raises(InvalidInput, match="at most 60"):
        world.read(lambda s: kpi_trends(s, root, since=date.min, until=date(2026, 1, 1)))
    sam = world.actor("sam")  # NA only: dollars, no rate needed
    early = world.read(lambda s: kpi_trends(s, sam, until=date(1, 1, 9), granularity="month"))
    assert early.periods == [Period(date.min, date(1, 1, 9))]  # the calendar's first days: no overflow
    with pytest.raises(MissingRate, match="GBP to USD on or before 0001-01-07"):
        world.read(lambda s: kpi_trends(s, root, until=date(1, 1, 9)))  # the first week ends on the 7th
    with pytest.raises(InvalidInput, match="use 'week' or 'month'"):
        world.read(lambda s: kpi_trends(s, root, granularity="day"))

"""Demand planning: each forecasting method on hand-worked series, the class cut-offs, the estimate's choice,
accuracy on a hand-built holdout, and demand anomalies (pure, and as findings synced on both databases)."""

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.exceptions.findings import sync_findings
from core.exceptions.models import ExceptionType
from core.masterdata.models import Customer, Item, Warehouse
from core.planning.accuracy import AccuracyParams, accuracy_of, forecast_accuracy
from core.planning.anomalies import AnomalyParams, anomalous_weeks, find_demand_anomalies, score_week
from core.planning.config import DEFAULT_PLANNING_FILE, PlanningFileError, parse_planning
from core.planning.demand import demand_estimates, estimate, history_window
from core.planning.forecast import (
    DemandClass,
    DemandParams,
    classify,
    croston,
    forecast,
    holt,
    sba,
    ses,
    tsb,
)
from core.sales.models import OrderStatus, PriceSource, SalesOrder, SalesOrderLine
from tests.world import World

P = DemandParams()


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


# --- classification -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "expected", "adi", "cv2"),
    [
        ([4, 4, 4, 4], DemandClass.SMOOTH, 1.0, 0.0),
        ([1, 7, 1, 7], DemandClass.ERRATIC, 1.0, 9 / 16),  # sizes mean 4, sd 3
        ([0, 1, 0, 5], DemandClass.INTERMITTENT, 2.0, 4 / 9),  # mean 3, sd 2: CV² 0.444 < 0.49
        ([0, 1, 0, 7], DemandClass.LUMPY, 2.0, 9 / 16),  # mean 4, sd 3: CV² 0.5625 >= 0.49
        ([0, 0, 0, 0], DemandClass.NONE, math.inf, 0.0),
    ],
)
def test_a_series_is_classed_by_its_adi_and_the_cv2_of_its_sizes(
    series: list[int], expected: DemandClass, adi: float, cv2: float
) -> None:
    found = classify(series, P)
    assert found.demand_class is expected and found.adi == adi and found.cv2 == pytest.approx(cv2)


def test_the_adi_cutoff_is_inclusive_for_intermittent() -> None:
    # 33 weeks with demand in 44: ADI 1.333 >= 1.32 intermittent; 34 in 44: ADI 1.294 smooth
    assert classify([1] * 33 + [0] * 11, P).demand_class is DemandClass.INTERMITTENT
    assert classify([1] * 34 + [0] * 10, P).demand_class is DemandClass.SMOOTH
    assert classify([0, 1, 0, 1], DemandParams(adi_cutoff=2.01)).demand_class is DemandClass.SMOOTH


# --- the methods, worked by hand ------------------------------------------------------------------------


def test_croston_smooths_sizes_and_intervals_at_each_demand() -> None:
    # first demand 3 at week 2: size 3, interval 3 (weeks since the start) -> 1 a week.
    # week 6 brings 6 after 4 weeks: size 3 + 0.1 x 3 = 3.3, interval 3 + 0.1 x 1 = 3.1 -> 3.3 / 3.1
    fit = croston(arr(0, 0, 3, 0, 0, 0, 6, 0, 0, 0), 2, 0.1)
    assert fit.forecast == pytest.approx([3.3 / 3.1] * 2)
    assert np.isnan(fit.errors[:3]).all()
    assert fit.errors[3:] == pytest.approx([-1, -1, -1, 5, -3.3 / 3.1, -3.3 / 3.1, -3.3 / 3.1])


def test_sba_is_croston_times_one_minus_half_alpha() -> None:
    y = arr(0, 0, 3, 0, 0, 0, 6, 0, 0, 0)
    assert sba(y, 1, 0.1).forecast[0] == pytest.approx(0.95 * 3.3 / 3.1)
    assert sba(y, 1, 0.1).errors[3] == pytest.approx(-0.95)


def test_tsb_decays_the_probability_through_empty_weeks() -> None:
    # first demand 2 at week 1: size 2, probability 1/2. Week 2 empty: forecast 1, error -1, p -> 0.25.
    # week 3 brings 2: forecast 0.5, error 1.5, p -> 0.625; size stays 2 -> forecast 1.25
    fit = tsb(arr(0, 2, 0, 2), 3, 0.5, 0.5)
    assert fit.errors[2:] == pytest.approx([-1, 1.5]) and fit.forecast == pytest.approx([1.25] * 3)
    faded = tsb(arr(0, 2, 0, 2, 0, 0, 0, 0), 1, 0.5, 0.5).forecast[0]
    assert faded == pytest.approx(1.25 * 0.5**4 * 0 + 2 * 0.625 * 0.5**4)  # p halves each empty week


def test_simple_smoothing_from_the_first_week() -> None:
    fit = ses(arr(2, 4, 4), 2, 0.5)  # level 2; +0.5 x 2 = 3; +0.5 x 1 = 3.5
    assert fit.forecast == pytest.approx([3.5, 3.5]) and fit.errors[1:] == pytest.approx([2, 1])
    assert fit.rmse == pytest.approx(math.sqrt(2.5))


def test_holt_follows_a_straight_line_exactly() -> None:
    fit = holt(arr(1, 2, 3, 4, 5), 3, 0.5, 0.5, 1.0)
    assert fit.forecast == pytest.approx([6, 7, 8]) and fit.errors[2:] == pytest.approx([0, 0, 0])
    damped = holt(arr(1, 2, 3, 4, 5), 3, 0.5, 0.5, 0.5).forecast  # each week adds half the week before's step
    assert damped[2] - damped[1] == pytest.approx(0.5 * (damped[1] - damped[0])) and damped[1] > damped[0]


# --- the estimate's choice -----------------------------------------------------------------------------


def test_the_estimate_uses_its_class_method_and_reports_its_rmse_as_error_sd() -> None:
    smooth = [10, 12, 11, 9, 10, 11, 12, 10, 9, 11, 10, 12]
    made = forecast(smooth, 13, P)
    e = estimate(1, 2, smooth)
    assert e.method in ("ses", "holt") and e.method == made.method
    assert e.error_sd == pytest.approx(made.fit.rmse)  # over all its one-step errors
    assert made.rmse_by_method[e.method] == min(made.rmse_by_method.values())
    slow = [0, 0, 3, 0, 0, 0, 6, 0, 0, 2, 0, 0, 4, 0, 0, 0]
    assert estimate(1, 2, slow).method in ("sba", "tsb", "croston")
    assert estimate(1, 2, slow, params=DemandParams(candidates={"intermittent": ["croston"]})).method == "croston"
    none = estimate(1, 2, [0] * 20)
    assert (none.method, none.mean_weekly, none.error_sd, len(none.forecast)) == ("none", 0.0, 0.0, 13)
    assert estimate(1, 2, [0, 0, 5] + [0] * 10).method == "level"  # one week with demand: nothing to smooth


def test_a_yearly_season_is_used_only_with_two_years_of_history() -> None:
    week = np.arange(104)
    yearly = np.round(20 + 10 * np.sin(2 * np.pi * week / 52)).astype(int).tolist()
    two_years = forecast(yearly, 13, P)
    assert two_years.method.endswith("+season")
    expected = 20 + 10 * np.sin(2 * np.pi * np.arange(104, 117) / 52)
    assert np.abs(two_years.fit.forecast - expected).max() < 3  # the season carried forward
    one_year = forecast(yearly[-52:], 13, P)
    assert not one_year.method.endswith("+season")
    flat = forecast([20 + (i % 3) for i in range(104)], 13, P)  # two years, no season in them
    assert not flat.method.endswith("+season")


# --- accuracy -------------------------------------------------------------------------------------------


def test_accuracy_per_class_weights_by_cost_and_leaves_zero_weeks_out_of_mape() -> None:
    # min_history_weeks above the series length: every forecast is the mean of the weeks before.
    # key (1, 1): forecast mean(2, 2, 2, 2) = 2 against 4 -> |e| 2, cost 10: 20 of 40 sold value, bias -20.
    # key (2, 1): forecast 1 against 0 -> |e| 1, cost 1: a zero week (no MAPE), bias +1.
    history = {(1, 1): [2, 2, 2, 2, 4], (2, 1): [1, 1, 1, 1, 0]}
    report = accuracy_of(
        history,
        {(1, 1): 10.0, (2, 1): 1.0},
        params=AccuracyParams(holdout_weeks=1),
        demand=DemandParams(min_history_weeks=100),
    )
    overall = report.overall
    assert (overall.weeks, overall.zero_weeks) == (2, 1)
    assert overall.wape == pytest.approx(21 / 40) and overall.bias == pytest.approx(-19 / 40)
    assert overall.mape == pytest.approx(0.5)
    a, c = report.by_class  # values 120 and 4: (1, 1) is A, (2, 1) is C
    assert a.group == "A" and [a.wape, a.bias, a.mape] == pytest.approx([0.5, -0.5, 0.5])
    assert (c.group, c.wape, c.mape, c.zero_weeks) == ("C", None, None, 1)
    assert [m.group for m in report.by_method] == ["level"]


# --- anomalies, pure ------------------------------------------------------------------------------------

STEADY = [10, 11, 9, 10, 12, 10, 9, 11, 10, 10, 11, 9, 10, 10, 11, 9, 10, 11, 10, 9]
AP = AnomalyParams()


def test_a_planted_spike_is_found_and_the_clean_series_raises_nothing() -> None:
    assert anomalous_weeks(STEADY, P, AP) == []
    spiked = [*STEADY[:-2], 40, STEADY[-1]]
    found = anomalous_weeks(spiked, P, AP)
    assert [w.week for w in found] == [len(STEADY) - 2]  # and the week after it is judged without it
    assert found[0].score >= AP.threshold and found[0].actual == 40 and found[0].expected == pytest.approx(10, abs=1)


def test_a_drop_is_found_in_a_steady_series_but_an_empty_week_of_a_slow_mover_is_normal() -> None:
    dropped = [*STEADY[:-1], 0]
    found = anomalous_weeks(dropped, P, AP)
    assert [(w.week, w.score < 0) for w in found] == [(len(STEADY) - 1, True)]
    slow = [0, 0, 4, 0, 0, 5, 0, 0, 4, 0, 0, 6, 0, 0, 5, 0, 0, 4, 0, 0]
    assert anomalous_weeks(slow, P, AP) == []
    assert not score_week(slow, len(slow) - 1, P, AP).judged
    big_order = [*slow[:-1], 40]  # the size of a slow mover's order is what is judged
    assert [w.week for w in anomalous_weeks(big_order, P, AP)] == [len(slow) - 1]


def test_a_short_history_is_not_judged() -> None:
    assert anomalous_weeks([10, 10, 10, 10, 10, 50], P, AP) == []


# --- anomalies as findings, on both databases -------------------------------------------------------------

AS_OF = date(2026, 11, 20)


def _weekly_orders(world: World, spike_week: int) -> int:
    """V-220 from DAL: ACME orders 10-12 units every week of the last 52; BOLT adds 40 in `spike_week`. BOLT's id."""

    def command(s: Session) -> int:
        def customer(code: str) -> Customer:
            return s.scalars(select(Customer).where(Customer.code == code)).one()

        item = s.scalars(select(Item).where(Item.sku == "V-220")).one()
        dal = s.scalars(select(Warehouse).where(Warehouse.code == "DAL")).one()
        start = AS_OF - timedelta(days=7 * 52)

        def order(who: Customer, day: date, quantity: int) -> SalesOrder:
            placed = SalesOrder(
                entity_id=who.entity_id,
                customer_id=who.id,
                currency="USD",
                status=OrderStatus.CONFIRMED.value,
                order_date=day,
                requested_date=day,
                created_at=datetime(2026, 1, 1),
            )
            placed.lines.append(
                SalesOrderLine(
                    line_no=1,
                    item_id=item.id,
                    warehouse_id=dal.id,
                    quantity=quantity,
                    unit_price=Decimal(1),
                    price_source=PriceSource.LIST_PRICE.value,
                    net_price=Decimal(1),
                    unit_cost=Decimal(1),
                )
            )
            s.add(placed)
            return placed

        for week in range(52):
            order(customer("ACME"), start + timedelta(days=7 * week + 1), 10 + week % 3)
        spike = order(customer("BOLT"), start + timedelta(days=7 * spike_week + 2), 40)
        s.flush()
        return spike.id

    return world.run(command)


def test_a_demand_spike_becomes_one_finding_that_a_rerun_keeps_and_that_closes_when_it_no_longer_holds(
    world: World,
) -> None:
    spike_id = _weekly_orders(world, spike_week=50)
    findings = world.read(lambda s: find_demand_anomalies(s, as_of=AS_OF))
    assert len(findings) == 1
    found = findings[0]
    week_start = AS_OF - timedelta(days=14)
    assert found.type is ExceptionType.DEMAND_ANOMALY and found.key.endswith(f":week:{week_start.isoformat()}")
    assert found.key.startswith("demand_anomaly:item:")
    e = found.evidence
    assert (e["sku"], e["warehouse"], e["direction"], e["actual"]) == ("V-220", "DAL", "spike", 40 + 10 + 50 % 3)
    assert e["expected"] == pytest.approx(11, abs=1.5) and e["score"] >= 3.5
    assert e["orders"][0] == {"number": f"SO-{spike_id}", "customer": "BOLT", "quantity": 40}
    assert [o["customer"] for o in e["orders"]] == ["BOLT", "ACME"] and f"SO-{spike_id} (BOLT, 40)" in found.detail

    first = world.run(lambda s: sync_findings(s, ExceptionType.DEMAND_ANOMALY, findings))
    assert first.counts() == {"raised": 1, "refreshed": 0, "closed": 0, "kept": 0}
    again = world.run(lambda s: sync_findings(s, ExceptionType.DEMAND_ANOMALY, find_demand_anomalies(s, as_of=AS_OF)))
    assert again.counts() == {"raised": 0, "refreshed": 0, "closed": 0, "kept": 1}

    def cancel(s: Session) -> None:
        spike = s.get(SalesOrder, spike_id)
        assert spike is not None
        spike.status = OrderStatus.CANCELLED.value  # cancelled orders are not demand: the spike is gone

    world.run(cancel)
    gone = world.run(lambda s: sync_findings(s, ExceptionType.DEMAND_ANOMALY, find_demand_anomalies(s, as_of=AS_OF)))
    assert gone.counts() == {"raised": 0, "refreshed": 0, "closed": 1, "kept": 0}
    assert gone.closed[0].condition_key == found.key


def test_accuracy_and_estimates_read_the_history_on_both_databases(world: World) -> None:
    _weekly_orders(world, spike_week=30)
    report = world.read(lambda s: forecast_accuracy(s, as_of=AS_OF))
    assert report.overall.weeks == 13 and report.overall.zero_weeks == 0 and report.overall.wape is not None
    assert [a.group for a in report.by_class] == ["A"]
    estimates = world.read(lambda s: demand_estimates(s, as_of=AS_OF))
    (only,) = estimates.values()
    assert only.method in ("ses", "holt") and only.mean_weekly == pytest.approx(11, abs=1.5) and only.error_sd > 0
    # the first order is 51 weeks and 6 days back: 51 whole weeks of history, not the planning file's 104 of zeros
    assert world.read(lambda s: history_window(s, as_of=AS_OF, wanted=104)) == only.history_weeks == 51
    (asked,) = world.read(lambda s: demand_estimates(s, as_of=AS_OF, history_weeks=20)).values()
    assert asked.history_weeks == 20


def test_a_planning_file_with_a_bad_demand_parameter_is_refused_with_its_name() -> None:
    bad = parse_planning(b"version: 1\ndemand:\n  alpha: 2\nanomalies:\n  threshold: -1\n", "bad.yaml")
    with pytest.raises(PlanningFileError, match=r"demand\.alpha"):
        bad.section("demand", DemandParams)
    with pytest.raises(PlanningFileError, match=r"anomalies\.threshold"):
        bad.section("anomalies", AnomalyParams)
    shipped = parse_planning(DEFAULT_PLANNING_FILE.read_bytes())
    assert shipped.section("demand", DemandParams) == DemandParams()  # the file states the defaults
    assert shipped.section("anomalies", AnomalyParams) == AnomalyParams()
    assert shipped.section("accuracy", AccuracyParams) == AccuracyParams()

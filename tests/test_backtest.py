"""The replenishment backtest's replay (evals/planning): hand-built worlds worked out by hand, and a tiny demo run."""

import dataclasses
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from core import clock, schema
from core.db import Database
from core.demo import DemoConfig, load_demo
from core.demo.company import months_before
from core.demo.generator import MIN_CUSTOMERS, MIN_ITEMS
from core.planning.history import weekly_demand
from evals.planning.backtest import Setup, demo_world, policies, run
from evals.planning.plot import nice_ticks
from evals.planning.policies import EngineSettings, demo_plan, engine_plan
from evals.planning.report import interpolate
from evals.planning.simulation import Plan, Policy, Target, simulate
from evals.planning.world import Key, Sale, SupplierRecord, WeeklyHistory, World, load_world, weekly_history

A, B = (1, 10), (2, 11)  # item 1 at warehouse 10, item 2 at warehouse 11 (one entity)
SUPPLIER = SupplierRecord(5, 7, 0, tuple((d, d + 7) for d in range(0, 60, 7)))  # Mondays, always 7 days


def weekdays(first: int, last: int) -> list[int]:
    return [d for d in range(first, last + 1) if d % 7 < 5]  # day 0 is a Monday


def two_item_world(**changes: object) -> World:
    """Two replay weeks (days 7-20) after one week of history: A sells 2 a weekday, B 1 a weekday."""
    sales = [Sale(d, A, 2, d + 3) for d in weekdays(0, 18)] + [Sale(d, B, 1, d + 3) for d in weekdays(0, 18)]
    world = World(
        start_weekday=0,
        first_day=7,
        end_day=21,
        sales=tuple(sorted(sales, key=lambda s: s.day)),
        unit_cost={1: 5.0, 2: 2.0},
        supplier_of={A: 5, B: 5},
        suppliers={5: SUPPLIER},
        entity_of={10: 1, 11: 1, 12: 2},
        opening={A: 6, B: 100},
    )
    return dataclasses.replace(world, **changes)  # type: ignore[arg-type]


def fixed(targets: Mapping[Key, Target]) -> Policy:
    def plan(_world: World, _history: WeeklyHistory, _week: int) -> Mapping[Key, Target]:
        return targets

    return Policy("fixed", plan)


def test_constant_demand_fill_rate_and_inventory_come_out_as_worked_by_hand() -> None:
    # A: 6 on hand, 2 sold a weekday, ordered up to 100 each Monday, 7 days to arrive.
    #   Mon 7 sells 2 (4 left) and orders 96; Tue 8, Wed 9 sell 2 each (0 left); Thu 10, Fri 11 short 2 each.
    #   Mon 14: 96 arrive, the 4 owed ship (day 11's by its promise, day 10's late), 2 sell, 90 left; orders 10 more
    #   (arriving day 21, after the end). Then 88, 86, 84, 82 to Friday, 82 over the weekend.
    # B: 100 on hand, 1 a weekday, never reorders.
    outcome = simulate(two_item_world(), fixed({A: Target(100, 100), B: Target(0, 0)}))
    assert outcome.units_ordered == 20 + 10
    assert outcome.units_filled == 16 + 10
    assert outcome.fill_rate == pytest.approx(26 / 30)
    assert outcome.lines_filled == 8 + 10
    assert outcome.units_on_time == 18 + 10
    assert outcome.stockout_days == 4  # A ends days 10, 11, 12 and 13 owing
    a_stock = [4, 2, 0, 0, 0, 0, 0, 90, 88, 86, 84, 82, 82, 82]
    b_stock = [99, 98, 97, 96, 95, 95, 95, 94, 93, 92, 91, 90, 90, 90]
    assert outcome.average_inventory == pytest.approx((5 * sum(a_stock) + 2 * sum(b_stock)) / 14)
    assert outcome.cogs == pytest.approx(5 * 20 + 2 * 10)
    assert (outcome.purchase_orders, outcome.po_lines, outcome.units_bought) == (2, 2, 106)
    assert outcome.fill_by_class["A"] == pytest.approx(16 / 20)  # A sells 100 of 120 by value: class A


def test_a_sibling_with_surplus_sends_a_transfer_instead_of_a_purchase_order() -> None:
    # Item 1 is short at warehouse 10 (nothing on hand, 5 wanted on Tuesday); warehouse 11 (same entity) holds 50
    # and keeps 5; warehouse 12 is another entity's and is never asked. The Monday transfer of 20 lands Wednesday.
    sibling, other_entity = (1, 11), (1, 12)
    world = two_item_world(
        sales=(Sale(8, A, 5, 8),),
        opening={sibling: 50, other_entity: 500},
        supplier_of={A: 5, sibling: 5, other_entity: 5},
    )
    targets = {A: Target(10, 20), sibling: Target(0, 5), other_entity: Target(0, 0)}
    outcome = simulate(world, dataclasses.replace(fixed(targets), rebalances=True))
    assert (outcome.transfers, outcome.transfer_lines, outcome.units_moved) == (1, 1, 20)
    assert outcome.purchase_orders == 0  # the transfer on its way lifts A above its reorder point
    assert (outcome.units_filled, outcome.units_on_time) == (0, 0)  # short on day 8, shipped day 9, promised day 8
    assert outcome.stockout_days == 1
    assert outcome.average_inventory == pytest.approx(5 * (550 - 5 * 12 / 14))  # in transit still counts


def test_without_rebalancing_the_same_shortage_waits_for_the_supplier() -> None:
    world = two_item_world(sales=(Sale(8, A, 5, 8),), opening={(1, 11): 50}, supplier_of={A: 5, (1, 11): 5})
    outcome = simulate(world, fixed({A: Target(10, 20), (1, 11): Target(0, 5)}))
    assert (outcome.transfers, outcome.purchase_orders, outcome.units_bought) == (0, 1, 20)
    assert outcome.stockout_days == 6  # owed from day 8 until the order lands on day 14


@pytest.mark.parametrize(("rush_below", "moved", "bought"), [(4, 0, 16), (5, 6, 10)])
def test_an_urgent_transfer_only_tops_a_key_up_to_its_reorder_point_when_it_is_below_the_line(
    rush_below: float, moved: int, bought: int
) -> None:
    # A holds 4 (reorder at 10, up to 20); its sibling holds 50 and keeps 5. With the line at 4, A is not below
    # it: no transfer, and Monday's order brings it to 20 (16). At 5 it is: 6 come from the sibling (to 10,
    # its reorder point), and the order buys the other 10.
    sibling = (1, 11)
    world = two_item_world(sales=(Sale(8, A, 5, 8),), opening={A: 4, sibling: 50}, supplier_of={A: 5, sibling: 5})
    targets = {A: Target(10, 20, rush_below=rush_below, rush_to=10), sibling: Target(0, 5)}
    outcome = simulate(world, dataclasses.replace(fixed(targets), rebalances=True))
    assert (outcome.units_moved, outcome.units_bought) == (moved, bought)


def test_every_policy_sees_the_same_demand() -> None:
    world = two_item_world()
    replayed = [s for s in world.sales if s.day >= world.first_day]
    outcomes = [simulate(world, p) for p in policies()]
    assert {(o.units_ordered, o.lines) for o in outcomes} == {(sum(s.units for s in replayed), len(replayed))}


@pytest.mark.parametrize("plan", [engine_plan(EngineSettings()), demo_plan()], ids=["engine", "demo rule"])
def test_a_plan_reads_only_the_weeks_before_its_own(plan: Plan) -> None:
    world = two_item_world(end_day=35)
    later = dataclasses.replace(
        world, sales=tuple(dataclasses.replace(s, units=s.units * 9 if s.day >= 14 else s.units) for s in world.sales)
    )
    assert plan(world, weekly_history(world), 2) == plan(later, weekly_history(later), 2)
    assert plan(world, weekly_history(world), 3) != plan(later, weekly_history(later), 3)


def test_a_supplier_gives_the_lead_time_it_really_gave_that_day_else_the_nearest() -> None:
    supplier = SupplierRecord(1, 10, 0, ((0, 9), (7, 20), (21, 31)))
    assert [supplier.lead_time_on(d) for d in (7, 8, 14, 15, 40)] == [13, 13, 13, 10, 10]
    assert supplier.known_lead_time(20) == (10.0, 0.0)  # one delivery known: the promise
    assert supplier.known_lead_time(21) == pytest.approx((11.0, 8**0.5))


def test_the_replay_buckets_weeks_as_the_planning_history_does(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'demo.db'}")
    schema.upgrade(db.engine)
    load_demo(db, DemoConfig(items=MIN_ITEMS, customers=MIN_CUSTOMERS, history_months=3))
    end = clock.today()
    start = months_before(end, 3)
    with db.session() as session:
        world = load_world(session, start=start, end=end, warmup_weeks=6)
        history = weekly_history(world)
        for week in (6, 9):
            expected = weekly_demand(session, as_of=start + timedelta(days=7 * week), weeks=week)
            got = {k: s[:week] for k, s in history.units.items() if any(s[:week])}
            assert got == expected
    db.dispose()
    assert world.opening and world.suppliers and world.supplier_of


def test_a_tiny_demo_replays_end_to_end_quickly(tmp_path: Path) -> None:
    began = time.perf_counter()
    world = demo_world(Setup(items=MIN_ITEMS, customers=MIN_CUSTOMERS, months=4, warmup_weeks=8), tmp_path)
    results = run(world, policies()[:3])
    assert time.perf_counter() - began < 20  # measured at about 7 s on a busy two-core machine
    for outcome, _ in results:
        assert outcome.units_ordered > 0 and 0 < outcome.fill_rate <= 1
        assert outcome.average_inventory > 0 and outcome.purchase_orders > 0
    assert len({o.units_ordered for o, _ in results}) == 1


def test_a_curve_is_read_linearly_between_its_points_and_not_beyond_them() -> None:
    curve = [(300.0, 0.9), (100.0, 0.8), (200.0, 0.84)]
    assert interpolate(curve, 150.0) == pytest.approx(0.82)
    assert interpolate(curve, 250.0) == pytest.approx(0.87)
    assert interpolate(curve, 99.0) is None and interpolate(curve, 301.0) is None


def test_the_plot_axis_ticks_cover_the_data() -> None:
    assert nice_ticks(0.801, 0.9558) == pytest.approx([0.8, 0.85, 0.9, 0.95, 1.0])
    assert nice_ticks(822_000, 1_305_000) == [800_000, 900_000, 1_000_000, 1_100_000, 1_200_000, 1_300_000, 1_400_000]

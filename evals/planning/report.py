"""The backtest's results page: how it was run, the table, the plot, and the curves read at the baselines."""

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from evals.planning.plot import Point
from evals.planning.simulation import Outcome


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """y at `x` on the piecewise-linear curve through `points`, None outside their range."""
    ordered = sorted(points)
    for (x0, y0), (x1, y1) in pairwise(ordered):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def readings(curves: Mapping[str, Sequence[Point]], baselines: Sequence[Point]) -> list[str]:
    """For each baseline and curve: the curve's fill rate at the baseline's inventory, and its inventory at the
    baseline's fill rate."""
    lines = []
    for base in baselines:
        for name, curve in curves.items():
            fill = interpolate([(p.inventory, p.fill_rate) for p in curve], base.inventory)
            stock = interpolate([(p.fill_rate, p.inventory) for p in curve], base.fill_rate)
            at_stock = (
                f"{fill:.2%} ({(fill - base.fill_rate) * 100:+.2f} points)" if fill is not None else "off the curve"
            )
            at_fill = f"{stock:,.0f} ({stock / base.inventory - 1:+.1%})" if stock is not None else "off the curve"
            lines.append(
                f"- against **{base.label}** ({base.fill_rate:.2%} at {base.inventory:,.0f}), **{name}**: "
                f"fill rate at the same inventory {at_stock}; inventory for the same fill rate {at_fill}"
            )
    return lines


def dominance(results: Sequence[tuple[Outcome, float]], baselines: Sequence[str]) -> list[str]:
    """For each baseline, the engine runs at least as good on both counts: fill rate and inventory."""
    lines = []
    for name in baselines:
        base = next(o for o, _ in results if o.policy == name)
        better = [
            f"{o.policy} ({o.fill_rate:.2%}, {o.average_inventory:,.0f})"
            for o, _ in results
            if o.policy.startswith("engine")
            and o.fill_rate >= base.fill_rate
            and o.average_inventory <= base.average_inventory
        ]
        lines.append(
            f"- **{name}** ({base.fill_rate:.2%} at {base.average_inventory:,.0f}): "
            + ("; ".join(better) if better else "no engine run fills as many units with no more inventory")
        )
    return lines


def results_table(results: Sequence[tuple[Outcome, float]]) -> str:
    head = (
        "| policy | fill rate (units) | A | B | C | lines filled | on time by promise | stock-out key-days "
        "| avg inventory | turns | POs | PO lines | transfers | transfer lines | s |\n" + "|---" * 15 + "|\n"
    )
    rows = []
    for o, seconds in results:
        by_class = " | ".join(f"{o.fill_by_class.get(c, 1.0):.1%}" for c in "ABC")
        rows.append(
            f"| {o.policy} | **{o.fill_rate:.2%}** | {by_class} | {o.line_fill_rate:.2%} | {o.on_time_rate:.2%} "
            f"| {o.stockout_days:,} | **{o.average_inventory:,.0f}** | {o.turns:.2f} | {o.purchase_orders:,} "
            f"| {o.po_lines:,} | {o.transfers:,} | {o.transfer_lines:,} | {seconds:.1f} |"
        )
    return head + "\n".join(rows) + "\n"


METHOD = """\
## How it was run

- **The world.** The demo company is generated into a temporary SQLite database and read back once: every
  order line (by order date, on its warehouse, with its promise date), each supplier's purchase orders with the
  day of their first receipt, the stock on hand at the first replayed day (the ledger up to then) and what was
  on its way then (open purchase orders and transfers in transit). The first {warmup} weeks are history only.
- **Each week** (from the end of the warm-up) a policy sets a reorder point and an order-up-to level per item x
  warehouse from the weeks before it only (a test checks that changing later weeks does not change a week's plan).
  Each weekday, in order: arrivals are put away and serve backorders first; the day's order lines take what is on
  the shelf, the rest waits as a backorder; each supplier reviewing that day (its fixed weekday, as the demo's
  buyers) gets one purchase order per warehouse for its keys at or below their reorder point, up to the
  order-up-to level. Proposals are taken as approved.
- **Lead times are the suppliers' real ones**: a purchase order placed on a day arrives after the lead time that
  supplier actually gave the demo's purchase order placed that day (the nearest such order otherwise), so both
  policies meet the same delays. The engine plans with the mean and spread of the lead times received so far;
  the demo's rule with the promised lead time, as the demo does.
- **The engine**: `core.planning.demand.estimate` (the series classified by ADI and CV², forecast by its class's
  method with the lowest one-step error: SES or damped Holt, Croston, SBA or TSB; that error as the spread) on up
  to 52 weeks known then; `core.planning.replenishment.reorder_levels` with review 7 days and the
  demo's own cycle (A 30, B 45, C 60 days of demand), the service level per ABC class (classes by sales value of
  the known weeks, `core.planning.abc`). Rebalancing, once a week before ordering: a key at or below its reorder
  point is topped up to its order-up-to level from a warehouse of the same entity holding more than its own
  order-up-to level (2 days in transit); intercompany transfers are not tried.
  *Fix 1, sources protected*: a source also keeps its mean over the 52 weeks times (lead time + review + cycle).
  *Fix 2, urgent transfers*: only a key whose position is below its demand over the supplier's lead time (it runs
  out before a purchase order could land) gets a transfer, and only up to its reorder point.
- **The baseline** is `core.demo.stock`'s rule at its expected safety days: reorder point = rate x (promised lead
  time + 7 review days + 10/7/5 safety days for A/B/C) + one average order line; order quantity = the larger of
  30/45/60 days of demand and two average lines. *demo rule* takes its rate and line size from the weeks known
  then (a fair, causal baseline); *hindsight rate* from the whole history, as the demo itself does (it knows the
  future average). Its ABC classes are by sales value as for the engine (the demo's catalogue classes are not in
  the database). Neither expedites; the demo's random transfer plans are not replayed.
- **Measures** over the replayed days: *fill rate* = units shipped from the shelf on the day they were ordered /
  units ordered (per ABC class too); *lines filled* = lines shipped complete that day; *on time by promise* =
  units shipped by their line's promise date; *stock-out key-days* = item x warehouse days ending with a backorder
  waiting; *average inventory* = the mean over days of on-hand plus inter-warehouse transit at standard cost
  (items' `standard_cost`, one currency for all entities); *turns* = cost of units shipped per year / average
  inventory; *POs* = (supplier, warehouse, day) orders; *transfers* = (source, target, day) moves.
"""


def results_page(
    data: Mapping[str, Any], results: Sequence[tuple[Outcome, float]], notes: Sequence[str], better: Sequence[str]
) -> str:
    setup, world = data["setup"], data["world"]
    head = (
        f"# Replenishment backtest\n\nRun on {data['run_on']}: the demo company with {setup['items']:,} items, "
        f"{setup['customers']} customers, {setup['months']} months of history (seed {setup['seed']}); "
        f"{world['keys']:,} item x warehouse keys ({world['keys_without_supplier']} without a known supplier, "
        f"never reordered by either policy), {world['replayed_days']} days replayed after a "
        f"{setup['warmup_weeks']}-week warm-up: {world['order_lines']:,} order lines, "
        f"{world['units_ordered']:,} units. Generating and reading the demo took "
        f"{data['generate_and_load_seconds']:.0f} s; each replay's seconds are in the table. "
        f"Every run's average inventory includes {world['idle_value']:,.0f} of stock nothing is ever ordered from "
        "(the demo's obsolete items), which no policy touches.\n\n"
        "`python -m evals.planning.backtest` (`make backtest`); every figure is also in backtest.json.\n"
    )
    plot = "## Fill rate against inventory\n\n![fill rate against average inventory value](backtest.png)\n\n"
    return "\n".join(
        [
            head,
            METHOD.format(warmup=setup["warmup_weeks"]),
            "## Results\n",
            results_table(results),
            plot + "Engine runs at least as good as a baseline on both counts (fill rate and inventory):\n",
            "\n".join(better) + "\n",
            "The curves read at the baselines (linear between the service levels run):\n",
            "\n".join(notes) + "\n",
            "What the figures mean, read by hand for the committed run (seed 7, the defaults): "
            "[backtest-findings.md](backtest-findings.md).\n",
        ]
    )

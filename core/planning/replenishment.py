"""Replenishment: safety stock, reorder point and order-up-to level per item and warehouse.

`reorder_levels` is the pure rule every caller shares (the live proposals and the backtest):

    lead-time demand  = d x L                      d: units per week, L: lead time + review period, in weeks
    safety stock      = z x sqrt(L x sd_d^2 + d^2 x sd_L^2)
    reorder point     = lead-time demand + safety stock
    order-up-to level = reorder point + d x cycle weeks

with z the standard normal quantile of the service level, sd_d the standard deviation of a week's
forecast error and sd_L that of the lead time in weeks.

The module also holds the section of the planning file the replenishment analysis reads, the rounding of a
need to a supplier's packs and minimum, and the projected stock-out date. The analysis itself, over the
database, is `core.planning.replenishment_plan` (`find_replenishment`, `sync_replenishment`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.planning.config import planning_section

DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class Levels:
    """The stock levels of one item in one warehouse, with the figures they come from."""

    lead_time_demand: float
    safety_stock: float
    reorder_point: float
    order_up_to: float
    z: float


def service_z(service_level: float) -> float:
    """The standard normal quantile of a cycle service level in (0, 1), e.g. 1.645 for 0.95."""
    if not 0.5 <= service_level < 1:
        raise ValueError(f"a service level must be at least 0.5 and below 1, not {service_level}")
    return NormalDist().inv_cdf(service_level)


def reorder_levels(
    *,
    mean_weekly: float,
    error_sd: float,
    lead_time_days: float,
    lead_time_sd_days: float,
    service_level: float,
    review_days: float = 0.0,
    cycle_weeks: float = 0.0,
) -> Levels:
    """The levels for demand of `mean_weekly` units (forecast error `error_sd`) over a lead time of
    `lead_time_days` (spread `lead_time_sd_days`), reviewed every `review_days`, ordering `cycle_weeks` of demand."""
    if min(mean_weekly, error_sd, lead_time_days, lead_time_sd_days, review_days, cycle_weeks) < 0:
        raise ValueError("demand, its error, lead times, the review period and the cycle cannot be negative")
    z = service_z(service_level)
    weeks = (lead_time_days + review_days) / DAYS_PER_WEEK
    sd_weeks = lead_time_sd_days / DAYS_PER_WEEK
    demand = mean_weekly * weeks
    safety = z * math.sqrt(weeks * error_sd**2 + mean_weekly**2 * sd_weeks**2)
    reorder = demand + safety
    return Levels(demand, safety, reorder, reorder + mean_weekly * cycle_weeks, z)


# --- The planning file's `replenishment:` section -------------------------------------------------------

GRADES = ("A", "B", "C")


class ReplenishmentSettings(BaseModel):
    """The `replenishment:` section of the planning file (see default_planning.yaml for what each means)."""

    model_config = ConfigDict(extra="forbid")

    service_levels: dict[str, float] = Field(default_factory=lambda: {"A": 0.999, "B": 0.999, "C": 0.999})
    cycle_weeks: dict[str, float] = Field(default_factory=lambda: {"A": 4.3, "B": 6.4, "C": 8.6})
    review_days: float = Field(7.0, ge=0, le=90)
    lead_time_window_days: int = Field(365, ge=7, le=3650)
    min_receipts: int = Field(3, ge=2, le=1000)
    lead_time_spread: float = Field(0.2, ge=0, le=2)
    default_lead_time_days: int = Field(14, ge=0, le=365)
    landed_cost_pct: float = Field(0.0, ge=0, le=500)
    intercompany_cost_pct: float = Field(0.0, ge=0, le=500)
    stockout_horizon_days: int = Field(365, ge=1, le=3650)
    # When stock is moved from another warehouse instead of bought (evals/results/backtest.md measured it):
    # "urgent" only to an item that runs out within its lead time, up to its reorder point; "always" whenever an
    # item is due, up to its order-up-to level; "never". An item with no supplier may always be moved.
    transfers: Literal["urgent", "always", "never"] = "never"

    @field_validator("service_levels")
    @classmethod
    def _service_levels(cls, levels: dict[str, float]) -> dict[str, float]:
        _classes_named(levels)
        for grade in GRADES:
            service_z(levels[grade])
        return levels

    @field_validator("cycle_weeks")
    @classmethod
    def _cycles(cls, cycles: dict[str, float]) -> dict[str, float]:
        _classes_named(cycles)
        for grade in GRADES:
            if not 0 <= cycles[grade] <= 104:
                raise ValueError(f"the cycle of class {grade} must be between 0 and 104 weeks")
        return cycles


def _classes_named(by_class: dict[str, float]) -> None:
    if set(by_class) != set(GRADES):
        raise ValueError(f"give one figure for each class A, B and C, not for {', '.join(sorted(by_class)) or 'none'}")


def replenishment_settings() -> ReplenishmentSettings:
    """The replenishment parameters of the planning file in force."""
    return planning_section("replenishment", ReplenishmentSettings)


# --- Quantities and dates -------------------------------------------------------------------------------


def order_quantity(need: float, *, moq: int = 1, pack_size: int = 1) -> int:
    """Units to order for a need: at least the need and the minimum order quantity, in whole packs (0: no need)."""
    if moq < 1 or pack_size < 1:
        raise ValueError(f"a minimum order quantity and a pack size are at least 1, not {moq} and {pack_size}")
    if need <= 0:
        return 0
    units = max(math.ceil(need - 1e-9), moq)
    return math.ceil(units / pack_size) * pack_size


def stockout_date(
    *, as_of: date, free_now: float, daily: float, supply: Sequence[tuple[date, int]], horizon_days: int
) -> date | None:
    """The first day whose demand the stock cannot meet in full, projected from `free_now` (on hand less what is
    promised; negative when backorders wait), `daily` demand and the dated supply arriving (overdue supply counts
    today); None if stock lasts beyond the horizon."""
    level, day = free_now, 0
    for due, quantity in sorted(supply):
        arrives = max(0, (due - as_of).days)
        out = _runs_out(level, daily, day)
        if out is not None and out < arrives:
            return _within(as_of, out, horizon_days)
        level += quantity - daily * (arrives - day)
        day = arrives
    out = _runs_out(level, daily, day)
    return None if out is None else _within(as_of, out, horizon_days)


def _runs_out(level: float, daily: float, day: int) -> int | None:
    """The day (from as_of) a level held at the start of `day` falls short, or None if demand never empties it."""
    if level < 0:
        return day
    if daily <= 0:
        return None
    return day + math.floor(level / daily + 1e-9)


def _within(as_of: date, days: int, horizon_days: int) -> date | None:
    return as_of + timedelta(days=days) if days <= horizon_days else None

"""KPIs for the model, each figure with the sentence that says how it was computed."""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.reporting import AdjustmentLine, adjustment_report, approval_stats, entity_kpis, exception_aging
from tools import facts as fact
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs


class KpiArgs(ToolArgs):
    entity: str | None = Field(None, description="one legal entity code, e.g. NA; omit for all you can see")
    since: date | None = Field(None, description="period start (YYYY-MM-DD); default 90 days ago")
    until: date | None = Field(None, description="period end (YYYY-MM-DD); default today")


class AdjustmentFigure(BaseModel):
    """Counts, write-offs and finds of one reason at one warehouse in the period, at standard cost."""

    warehouse: str
    reason: str
    adjustments: int
    net_units: int
    value: Decimal


class EntityFigures(BaseModel):
    entity: str
    currency: str
    period: str
    fill_rate_pct: Decimal | None
    on_time_pct: Decimal | None
    backlog_value: Decimal
    backlog_lines: int
    backordered_units: int
    inventory_value: Decimal
    inventory_turns: Decimal | None
    revenue: Decimal
    margin_pct: Decimal | None
    open_exceptions: int
    exceptions_past_sla: int
    approvals_pending: int
    approval_median_hours: Decimal | None
    basis: dict[str, str]
    stock_adjustments: list[AdjustmentFigure] = []


def _kpi_facts(k: EntityFigures, period_end: str) -> list[str]:
    """The figures people ask for, each with its period (a stock figure with its date)."""
    within = f"in {k.period}"
    return [
        fact.figure(k.entity, fact.FILL_RATE, fact.percent(k.fill_rate_pct), within),
        fact.figure(k.entity, fact.ON_TIME, fact.percent(k.on_time_pct), within),
        fact.figure(k.entity, fact.REVENUE, fact.money(k.revenue, k.currency), within),
        fact.figure(k.entity, fact.MARGIN, fact.percent(k.margin_pct), within),
        fact.figure(k.entity, fact.BACKLOG, f"{fact.money(k.backlog_value, k.currency)} in {k.backlog_lines} lines"),
        fact.figure(k.entity, fact.BACKORDERED, fact.units(k.backordered_units)),
        fact.figure(k.entity, fact.INVENTORY_VALUE, fact.money(k.inventory_value, k.currency), f"on {period_end}"),
        fact.figure(k.entity, fact.OPEN_CASES, f"{k.open_exceptions} ({k.exceptions_past_sla} past SLA)"),
        fact.figure(k.entity, fact.APPROVALS_PENDING, str(k.approvals_pending)),
        *(
            fact.figure(
                f"{k.entity} {x.warehouse}",
                fact.STOCK_ADJUSTMENTS,
                f"{x.reason}: {x.adjustments} posted, {x.net_units:+,d} units, {fact.money(x.value, k.currency)}",
                within,
            )
            for x in k.stock_adjustments
        ),
    ]


def _adjustments(lines: list[AdjustmentLine], entity: str) -> list[AdjustmentFigure]:
    return [
        AdjustmentFigure(
            warehouse=x.warehouse, reason=x.reason, adjustments=x.adjustments, net_units=x.net_units, value=x.value
        )
        for x in lines
        if x.entity == entity
    ]


class KpiResult(BaseModel):
    entities: list[EntityFigures]
    facts: list[str] = []


def get_kpis(session: Session, ctx: ToolContext, args: KpiArgs) -> KpiResult:
    """Fill rate, on-time, backlog, inventory value and turns, revenue and margin, exception aging, approvals."""
    kpis = entity_kpis(session, ctx.actor, since=args.since, until=args.until, entity=args.entity)
    aging = {a.entity: a for a in exception_aging(session, ctx.actor, entity=args.entity)}
    approvals = {a.entity: a for a in approval_stats(session, ctx.actor, since=args.since, entity=args.entity)}
    adjusted = adjustment_report(session, ctx.actor, since=args.since, until=args.until, entity=args.entity).lines
    figures = [
        EntityFigures(
            entity=k.entity,
            currency=k.currency,
            period=f"{k.period_start}..{k.period_end}",
            fill_rate_pct=k.fill_rate_pct,
            on_time_pct=k.on_time_pct,
            backlog_value=k.backlog_value,
            backlog_lines=k.backlog_lines,
            backordered_units=k.backordered_units,
            inventory_value=k.inventory_value,
            inventory_turns=k.inventory_turns,
            revenue=k.revenue,
            margin_pct=k.margin_pct,
            open_exceptions=aging[k.entity].open_cases,
            exceptions_past_sla=aging[k.entity].overdue_sla,
            approvals_pending=approvals[k.entity].pending,
            approval_median_hours=approvals[k.entity].median_cycle_hours,
            basis=k.basis,
            stock_adjustments=_adjustments(adjusted, k.entity),
        )
        for k in kpis
    ]
    ends = {k.entity: str(k.period_end) for k in kpis}
    return KpiResult(entities=figures, facts=[line for f in figures for line in _kpi_facts(f, ends[f.entity])])


TOOLS = [
    Tool(
        "get_kpis",
        "Key figures per legal entity for a period (default the last 90 days): fill rate, on-time shipping, "
        "backlog, backorders, inventory value and turns, revenue and margin, open exceptions and approvals, "
        "stock adjustments by warehouse and reason. "
        "Amounts in each entity's currency; `basis` says how each figure was computed, cite it.",
        KpiArgs,
        get_kpis,
    ),
]

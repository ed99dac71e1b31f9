"""KPIs for the model, each figure with the sentence that says how it was computed."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from core.drafts.base import said_as
from core.finance.intercompany import IntercompanyReport, PairBalance, intercompany_balances
from core.fx import Rate
from core.reporting import AdjustmentLine, adjustment_report, approval_stats, entity_kpis, exception_aging
from core.reporting.group import GroupKpis, MarginReport, Translated, group_kpis, margin_report
from tools import facts as fact
from tools.chart_links import view_charts
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs


class KpiArgs(ToolArgs):
    view: Literal["kpis", "group", "intercompany", "margin"] = Field(
        "kpis",
        description="group: entities and group total in one currency; intercompany: balances per pair",
        json_schema_extra=said_as(
            {"group": ["group", "all entities", "consolidated"], "intercompany": ["intercompany", "inter-company"]}
        ),
    )
    entity: str | None = Field(None, description="one legal entity code, e.g. NA; omit for all you can see")
    since: date | None = Field(None, description="period start (YYYY-MM-DD); default 90 days ago")
    until: date | None = Field(None, description="period end (YYYY-MM-DD); default today")
    currency: str | None = Field(None, description="reporting currency for group views; default USD")
    by: Literal["entity", "customer", "category"] = Field("entity", description="margin view: rows per")

    @model_validator(mode="after")
    def _rows_per_customer_or_category_are_the_margins(self) -> "KpiArgs":
        """Rows per customer or per category exist only in the margin view: asked for with no view, they ask for it
        (the 1.5B model wrote {"by": "category"} for "which category made NA the most margin?" and read the KPIs,
        where `by` means nothing)."""
        if "view" not in self.model_fields_set and self.by != "entity":
            self.view = "margin"
        return self


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


class RateUsed(BaseModel):
    pair: str
    rate: Decimal
    valid_from: date | None


class GroupLine(BaseModel):
    """One entity's (or the group's) money figures in the reporting currency."""

    entity: str
    currency: str
    revenue: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    backlog_value: Decimal
    inventory_value: Decimal
    receivables: Decimal
    payables: Decimal | None = Field(description="null: the user may not see payables")
    rate: str


class GroupFigures(BaseModel):
    currency: str
    period: str
    entities: list[GroupLine]
    group: GroupLine
    rates: list[RateUsed]
    basis: str


class DocumentGapFigure(BaseModel):
    transfer: str
    postings: list[int]
    difference: Decimal
    reason: str


class PairFigures(BaseModel):
    pair: str
    balances: list[str]  # each side in its own currency and translated
    currency: str
    difference: Decimal
    translation_difference: Decimal
    nets_to_zero: bool
    transfers: int
    gaps: list[DocumentGapFigure]


class IntercompanyFigures(BaseModel):
    on: date
    currency: str
    pairs: list[PairFigures]
    not_checked: list[str]
    rates: list[RateUsed]
    basis: str


class MarginFigure(BaseModel):
    entity: str
    key: str
    currency: str
    revenue: Decimal
    credited: Decimal
    cost: Decimal
    margin: Decimal
    margin_pct: Decimal
    revenue_converted: Decimal
    margin_converted: Decimal


class MarginFigures(BaseModel):
    by: str
    currency: str
    period: str
    rows: list[MarginFigure]
    more_rows: int
    revenue: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    rates: list[RateUsed]
    basis: str


class KpiResult(BaseModel):
    entities: list[EntityFigures] = []
    group: GroupFigures | None = None
    intercompany: IntercompanyFigures | None = None
    margin: MarginFigures | None = None
    facts: list[str] = []
    charts: list[str] = []  # the dashboard charts that draw these figures over time (links)


MAX_MARGIN_ROWS = 15  # the largest by revenue; the totals count them all


def get_kpis(session: Session, ctx: ToolContext, args: KpiArgs) -> KpiResult:
    """Fill rate, on-time, backlog, inventory value and turns, revenue and margin, exception aging, approvals;
    or the group view, intercompany balances or margins in one reporting currency; with the charts that draw them."""
    return _kpis(session, ctx, args).model_copy(update={"charts": view_charts(args.view)})


def _kpis(session: Session, ctx: ToolContext, args: KpiArgs) -> KpiResult:
    if args.view == "group":
        return group_result(
            group_kpis(
                session, ctx.actor, since=args.since, until=args.until, entity=args.entity, currency=args.currency
            )
        )
    if args.view == "intercompany":
        return intercompany_result(
            intercompany_balances(session, ctx.actor, currency=args.currency, on=args.until, entity=args.entity)
        )
    if args.view == "margin":
        report = margin_report(
            session,
            ctx.actor,
            by=args.by,
            since=args.since,
            until=args.until,
            entity=args.entity,
            currency=args.currency,
        )
        return margin_result(report)
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


def _rates(rates: list[Rate]) -> list[RateUsed]:
    return [RateUsed(pair=r.pair, rate=r.rate, valid_from=r.valid_from) for r in rates]


def _rate_facts(rates: list[Rate]) -> list[str]:
    return [fact.state("Rate used:", r.describe()) for r in rates if r.valid_from is not None]


def _group_line(t: Translated, currency: str) -> GroupLine:
    return GroupLine(
        entity=t.entity,
        currency=currency,
        revenue=t.revenue,
        margin=t.margin,
        margin_pct=t.margin_pct,
        backlog_value=t.backlog_value,
        inventory_value=t.inventory_value,
        receivables=t.receivables,
        payables=t.payables,
        rate=t.rate.describe(),
    )


def _payables_fact(g: GroupLine, ccy: str) -> list[str]:
    if g.payables is None:
        return []
    return [fact.figure(g.entity, fact.OPEN_PAYABLES, fact.money(g.payables, ccy), "today")]


def group_result(report: GroupKpis) -> KpiResult:
    """The group view as the tool (and the API) returns it."""
    ccy, period = report.currency, f"{report.period_start}..{report.period_end}"
    lines = [_group_line(t, ccy) for t in report.translated]
    total = _group_line(report.total, ccy)
    facts = [
        line
        for g in [*lines, total]
        for line in (
            fact.figure(g.entity, fact.REVENUE, fact.money(g.revenue, ccy), f"in {period}"),
            fact.figure(
                g.entity, fact.MARGIN, f"{fact.money(g.margin, ccy)} ({fact.percent(g.margin_pct)})", f"in {period}"
            ),
            fact.figure(g.entity, fact.BACKLOG, fact.money(g.backlog_value, ccy)),
            fact.figure(g.entity, fact.INVENTORY_VALUE, fact.money(g.inventory_value, ccy)),
            fact.figure(g.entity, fact.OPEN_RECEIVABLES, fact.money(g.receivables, ccy), "today"),
            *_payables_fact(g, ccy),
        )
    ]
    figures = GroupFigures(
        currency=ccy, period=period, entities=lines, group=total, rates=_rates(report.rates), basis=report.basis
    )
    return KpiResult(group=figures, facts=[*facts, *_rate_facts(report.rates)])


def _pair_figures(p: PairBalance) -> PairFigures:
    ccy = p.currency
    balances = [
        f"{p.first} {'is owed' if p.first_net >= 0 else 'owes'} {fact.money(abs(p.first_net), p.first_currency)} "
        f"({fact.money(abs(p.first_converted), ccy)})",
        f"{p.second} {'is owed' if p.second_net >= 0 else 'owes'} {fact.money(abs(p.second_net), p.second_currency)} "
        f"({fact.money(abs(p.second_converted), ccy)})",
    ]
    gaps = [
        DocumentGapFigure(transfer=g.transfer, postings=g.postings, difference=g.difference, reason=g.reason)
        for g in p.gaps
    ]
    return PairFigures(
        pair=f"{p.first}-{p.second}",
        balances=balances,
        currency=ccy,
        difference=p.difference,
        translation_difference=p.translation_difference,
        nets_to_zero=p.nets_to_zero,
        transfers=p.transfers,
        gaps=gaps,
    )


def _pair_facts(p: PairFigures) -> list[str]:
    head = f"{p.pair} intercompany"
    balances = fact.figure(head, "balances", "; ".join(p.balances))
    if p.nets_to_zero:
        verdict = fact.state(
            head,
            f"nets to zero: all {p.transfers} transfers are booked on both sides for the same value "
            f"(translation difference {fact.money(p.translation_difference, p.currency)} from the rates)",
        )
        return [balances, verdict]
    verdict = fact.state(
        head,
        f"does not net to zero: difference {fact.money(p.difference, p.currency)}, of which "
        f"{fact.money(p.difference - p.translation_difference, p.currency)} from {len(p.gaps)} unmatched transfer(s)",
    )
    return [balances, verdict, *(fact.state(g.transfer, f"is unmatched: {g.reason}") for g in p.gaps)]


def intercompany_result(report: IntercompanyReport) -> KpiResult:
    """Intercompany balances per pair as the tool (and the API) returns them."""
    pairs = [_pair_figures(p) for p in report.pairs]
    facts = [line for p in pairs for line in _pair_facts(p)]
    if not pairs:
        facts.append(
            fact.state("There are", f"no intercompany balances between entities you can see up to {report.on}")
        )
    facts += [
        fact.state(pair, "is not checked: one of the two entities is outside your scope") for pair in report.not_checked
    ]
    figures = IntercompanyFigures(
        on=report.on,
        currency=report.currency,
        pairs=pairs,
        not_checked=report.not_checked,
        rates=_rates(report.rates),
        basis=report.basis,
    )
    return KpiResult(intercompany=figures, facts=[*facts, *_rate_facts(report.rates)])


def _margin_words(margin: Decimal, pct: Decimal | None, revenue: Decimal, currency: str) -> str:
    return f"{fact.money(margin, currency)} ({fact.percent(pct)}) on revenue {fact.money(revenue, currency)}"


def margin_result(report: MarginReport) -> KpiResult:
    """Margins as the tool (and the API) returns them; the largest rows by revenue."""
    ccy, period = report.currency, f"{report.period_start}..{report.period_end}"
    ranked = sorted(report.rows, key=lambda r: (-r.revenue, r.line.entity, r.line.key))
    rows = [
        MarginFigure(
            entity=r.line.entity,
            key=r.line.key,
            currency=r.line.currency,
            revenue=r.line.revenue,
            credited=r.line.credited,
            cost=r.line.cost,
            margin=r.line.margin,
            margin_pct=r.line.margin_pct,
            revenue_converted=r.revenue,
            margin_converted=r.margin,
        )
        for r in ranked[:MAX_MARGIN_ROWS]
    ]
    facts = [
        fact.figure(
            r.entity if r.key == r.entity else f"{r.entity} {r.key}",
            fact.MARGIN,
            _margin_words(r.margin, r.margin_pct, r.revenue, r.currency)
            + (
                f" = {fact.money(r.margin_converted, ccy)} on {fact.money(r.revenue_converted, ccy)}"
                if r.currency != ccy
                else ""
            ),
            f"in {period}",
        )
        for r in rows
    ]
    facts.append(
        fact.figure(
            "Group",
            fact.MARGIN,
            _margin_words(report.margin, report.margin_pct, report.revenue, ccy),
            f"in {period}",
        )
    )
    figures = MarginFigures(
        by=report.by.value,
        currency=ccy,
        period=period,
        rows=rows,
        more_rows=max(0, len(ranked) - MAX_MARGIN_ROWS),
        revenue=report.revenue,
        margin=report.margin,
        margin_pct=report.margin_pct,
        rates=_rates(report.rates),
        basis=report.basis,
    )
    return KpiResult(margin=figures, facts=[*facts, *_rate_facts(report.rates)])


TOOLS = [
    Tool(
        "get_kpis",
        "Key figures per legal entity for a period (default the last 90 days): fill rate, on-time shipping, "
        "backlog, backorders, inventory value and turns, revenue and margin, open exceptions and approvals, "
        "stock adjustments by warehouse and reason. "
        "Amounts in each entity's currency; `basis` says how each figure was computed, cite it. "
        "view group, intercompany or margin: in one reporting currency, with the rates used.",
        KpiArgs,
        get_kpis,
    ),
]

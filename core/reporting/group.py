"""One view of the group: each entity's money figures and margins translated into one reporting currency.

Each entity keeps its figures in its own currency; the group view translates them at the rate valid on the
period's last day (one rate per entity currency, named with its pair and the day it is valid from) and adds
them up. Ratios are recomputed from the translated sums (the margin rule is `margin_percent`), never averaged.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from core.actor import Actor, Permission
from core.finance.margin import MarginBy, MarginLine, margins, parse_margin_by
from core.fx import Rate, rates_on
from core.payables.service import payables_ageing
from core.receivables.ageing import ageing
from core.reporting.service import EntityKpis, entities_in_scope, entity_kpis, reporting_period
from core.sales.pricing import GROUP_CURRENCY, margin_percent

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Translated:
    """One entity's money figures in the reporting currency, and the rate that translated them."""

    entity: str
    rate: Rate
    revenue: Decimal
    margin: Decimal
    backlog_value: Decimal
    inventory_value: Decimal
    receivables: Decimal  # open today: invoiced less credit notes and applied payments
    payables: Decimal | None  # open supplier invoices today; None for a user who may not see payables

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_percent(self.margin, self.revenue) if self.revenue else None


@dataclass(frozen=True)
class GroupKpis:
    currency: str
    period_start: date
    period_end: date
    entities: list[EntityKpis]  # each in its own currency
    translated: list[Translated]
    total: Translated  # the group (rate: the reporting currency itself)
    basis: str

    @property
    def rates(self) -> list[Rate]:
        return [t.rate for t in self.translated]


def reporting_currency(currency: str | None) -> str:
    return (currency or GROUP_CURRENCY).strip().upper()


def group_kpis(
    session: Session,
    actor: Actor,
    *,
    since: date | None = None,
    until: date | None = None,
    entity: str | None = None,
    currency: str | None = None,
) -> GroupKpis:
    """Per entity and for the group: revenue, margin, backlog and inventory value in one reporting currency."""
    ccy = reporting_currency(currency)
    start, end = reporting_period(since, until)
    kpis = entity_kpis(session, actor, since=start, until=end, entity=entity)
    margin_of = {m.entity: m.margin for m in margins(session, actor, by=MarginBy.ENTITY, since=start, until=end)}
    owed = {line.entity: line.total for line in ageing(session, actor, entity=entity).entities}
    payable = _payables(session, actor, entity)
    rates = rates_on(session, [(k.currency, ccy) for k in kpis], end)
    translated = [
        Translated(
            entity=k.entity,
            rate=rates[(k.currency, ccy)],
            revenue=rates[(k.currency, ccy)].apply(k.revenue),
            margin=rates[(k.currency, ccy)].apply(margin_of.get(k.entity, ZERO)),
            backlog_value=rates[(k.currency, ccy)].apply(k.backlog_value),
            inventory_value=rates[(k.currency, ccy)].apply(k.inventory_value),
            receivables=rates[(k.currency, ccy)].apply(owed.get(k.entity, ZERO)),
            payables=None if payable is None else rates[(k.currency, ccy)].apply(payable.get(k.entity, ZERO)),
        )
        for k in kpis
    ]
    total = Translated(
        entity="group",
        rate=Rate(ccy, ccy, Decimal(1), None),
        revenue=sum((t.revenue for t in translated), ZERO),
        margin=sum((t.margin for t in translated), ZERO),
        backlog_value=sum((t.backlog_value for t in translated), ZERO),
        inventory_value=sum((t.inventory_value for t in translated), ZERO),
        receivables=sum((t.receivables for t in translated), ZERO),
        payables=None if payable is None else sum((t.payables or ZERO for t in translated), ZERO),
    )
    used = "; ".join(t.rate.describe() for t in translated) or "none"
    basis = (
        f"Each entity's revenue (invoices less credit notes), margin, backlog and inventory value in {start}..{end}, "
        "and its receivables and payables open today, "
        f"translated into {ccy} at the rate valid on {end} ({used}) and added up; the group margin % is the "
        "translated margin over the translated revenue."
    )
    return GroupKpis(ccy, start, end, kpis, translated, total, basis)


def _payables(session: Session, actor: Actor, entity: str | None) -> dict[str, Decimal] | None:
    """Each entity's open supplier invoices in its currency, for a user who may see payables (else None)."""
    if not actor.may(Permission.VIEW_PAYABLES):
        return None
    return {row.entity: row.total for row in payables_ageing(session, actor, entity=entity).entities}


@dataclass(frozen=True)
class MarginRow:
    """A margin line in its entity's currency, with its revenue and margin translated."""

    line: MarginLine
    rate: Rate
    revenue: Decimal
    margin: Decimal


@dataclass(frozen=True)
class MarginReport:
    by: MarginBy
    currency: str
    period_start: date
    period_end: date
    rows: list[MarginRow]
    revenue: Decimal  # the group, in the reporting currency
    margin: Decimal
    rates: list[Rate]
    basis: str

    @property
    def margin_pct(self) -> Decimal | None:
        return margin_percent(self.margin, self.revenue) if self.revenue else None


def margin_report(
    session: Session,
    actor: Actor,
    *,
    by: MarginBy | str = MarginBy.ENTITY,
    since: date | None = None,
    until: date | None = None,
    entity: str | None = None,
    currency: str | None = None,
) -> MarginReport:
    """Margin by entity, customer or category for a period, in each entity's currency and translated for the group."""
    dimension, ccy = parse_margin_by(by), reporting_currency(currency)
    start, end = reporting_period(since, until)
    named = {e.code for e in entities_in_scope(session, actor, entity)}
    lines = [m for m in margins(session, actor, by=dimension, since=start, until=end) if m.entity in named]
    rates = rates_on(session, [(m.currency, ccy) for m in lines], end)
    rows = [
        MarginRow(
            m,
            rates[(m.currency, ccy)],
            rates[(m.currency, ccy)].apply(m.revenue),
            rates[(m.currency, ccy)].apply(m.margin),
        )
        for m in lines
    ]
    used = sorted({r.rate for r in rows}, key=lambda r: r.pair)
    basis = (
        f"Per {dimension.value}: invoices issued in {start}..{end} less credit notes issued in it (returns) is the "
        "revenue; cost is the goods' standard cost at order time plus absorbed freight, less goods returned to stock; "
        f"margin % = margin / revenue. Each entity's figures are in its currency and translated into {ccy} at the "
        f"rate valid on {end} ({'; '.join(r.describe() for r in used) or 'none'})."
    )
    return MarginReport(
        by=dimension,
        currency=ccy,
        period_start=start,
        period_end=end,
        rows=rows,
        revenue=sum((r.revenue for r in rows), ZERO),
        margin=sum((r.margin for r in rows), ZERO),
        rates=used,
        basis=basis,
    )

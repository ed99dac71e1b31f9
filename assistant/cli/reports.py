"""The group view from the terminal: figures per entity and for the group, intercompany balances, margins."""

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from core.errors import InvalidInput
from core.finance.intercompany import intercompany_balances
from core.fx import Rate
from core.money import format_money
from core.reporting.group import group_kpis, margin_report

reports_app = typer.Typer(help="Group figures in one reporting currency: KPIs, intercompany balances, margins.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Since = Annotated[str | None, typer.Option(help="Period start, YYYY-MM-DD (default 90 days ago).")]
Until = Annotated[str | None, typer.Option(help="Period end, YYYY-MM-DD (default today).")]
Entity = Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")]
Currency = Annotated[str | None, typer.Option(help="Reporting currency (default USD).")]


@reports_app.command("group")
def group(
    since: Since = None,
    until: Until = None,
    entity: Entity = None,
    currency: Currency = None,
    user: User = DEFAULT_USER,
) -> None:
    """Revenue, margin, backlog, inventory value, receivables and payables per entity and for the group, in one
    currency."""
    start, end = _day(since), _day(until)
    report = ask(user, lambda s, actor: group_kpis(s, actor, since=start, until=end, entity=entity, currency=currency))
    ccy = report.currency
    table = Table(title=f"Group figures {report.period_start}..{report.period_end} in {ccy}")
    columns = (
        "entity",
        "revenue",
        "margin",
        "margin %",
        "backlog",
        "inventory value",
        "receivables",
        "payables",
        "rate",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("entity", "rate") else "right")
    for t in [*report.translated, report.total]:
        pct = "-" if t.margin_pct is None else f"{t.margin_pct}%"
        values = (t.revenue, t.margin)
        table.add_row(
            t.entity,
            *(format_money(v, ccy) for v in values),
            pct,
            format_money(t.backlog_value, ccy),
            format_money(t.inventory_value, ccy),
            format_money(t.receivables, ccy),
            "-" if t.payables is None else format_money(t.payables, ccy),
            "" if t.entity == "group" else t.rate.describe(),
        )
    console.print(table)
    console.print(report.basis, highlight=False, markup=False)


@reports_app.command("intercompany")
def intercompany(
    on: Annotated[str | None, typer.Option(help="Balances on this day, YYYY-MM-DD (default today).")] = None,
    entity: Entity = None,
    currency: Currency = None,
    user: User = DEFAULT_USER,
) -> None:
    """Intercompany balances per pair of entities, translated, and whether each pair nets to zero."""
    day = _day(on)
    report = ask(user, lambda s, actor: intercompany_balances(s, actor, currency=currency, on=day, entity=entity))
    ccy = report.currency
    table = Table(title=f"Intercompany balances on {report.on} in {ccy}")
    for column in ("pair", "first side", "second side", "difference", "translation", "nets to zero"):
        table.add_column(column, justify="left" if column in ("pair", "first side", "second side") else "right")
    for p in report.pairs:
        table.add_row(
            f"{p.first}-{p.second}",
            f"{p.first} {format_money(p.first_net, p.first_currency)} = {format_money(p.first_converted, ccy)}",
            f"{p.second} {format_money(p.second_net, p.second_currency)} = {format_money(p.second_converted, ccy)}",
            format_money(p.difference, ccy),
            format_money(p.translation_difference, ccy),
            "yes" if p.nets_to_zero else f"no: {len(p.gaps)} transfer(s)",
        )
    console.print(table)
    for p in report.pairs:
        for gap in p.gaps:
            console.print(f"{gap.transfer} (postings {gap.postings}): {gap.reason}", highlight=False, markup=False)
    for pair in report.not_checked:
        console.print(f"{pair}: not checked, one side is outside your entities", highlight=False, markup=False)
    _print_rates(report.rates)
    console.print(report.basis, highlight=False, markup=False)


@reports_app.command("margin")
def margin(
    by: Annotated[str, typer.Option(help="entity, customer or category.")] = "entity",
    since: Since = None,
    until: Until = None,
    entity: Entity = None,
    currency: Currency = None,
    user: User = DEFAULT_USER,
) -> None:
    """Margin for a period by entity, customer or category (credit notes take revenue back), and the group total."""
    start, end = _day(since), _day(until)
    report = ask(
        user,
        lambda s, actor: margin_report(s, actor, by=by, since=start, until=end, entity=entity, currency=currency),
    )
    ccy = report.currency
    table = Table(title=f"Margin by {report.by.value} {report.period_start}..{report.period_end}")
    for column in ("entity", report.by.value, "revenue", "credited", "cost", "margin", "margin %", f"margin {ccy}"):
        table.add_column(column, justify="left" if column in ("entity", report.by.value) else "right")
    for row in report.rows:
        m = row.line
        table.add_row(
            m.entity,
            m.key,
            *(format_money(v, m.currency) for v in (m.revenue, m.credited, m.cost, m.margin)),
            f"{m.margin_pct}%",
            format_money(row.margin, ccy),
        )
    console.print(table)
    pct = "-" if report.margin_pct is None else f"{report.margin_pct}%"
    console.print(
        f"group: revenue {format_money(report.revenue, ccy)}, margin {format_money(report.margin, ccy)} ({pct})",
        highlight=False,
        markup=False,
    )
    _print_rates(report.rates)
    console.print(report.basis, highlight=False, markup=False)


def _print_rates(rates: list[Rate]) -> None:
    for rate in rates:
        if rate.valid_from is not None:
            console.print(f"rate used: {rate.describe()}", highlight=False, markup=False)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(InvalidInput(f"'{text}' is not a date; use YYYY-MM-DD")) from None

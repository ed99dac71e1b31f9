"""Operations risks from the terminal: order lines at risk of missing their promise, supplier scorecards and
alerts, margin leakage - each for the user's entities (or one), as the analyses find them today."""

from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console
from core.money import format_money
from core.planning.risks import late_order_risks, margin_leakage, supplier_report

risks_app = typer.Typer(help="What needs attention: late-order risk, supplier performance, margin leakage.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Entity = Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@risks_app.command("late")
def late(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Open order lines that will likely miss their promise date: why, and the proposed fix."""
    found = ask(user, lambda s, actor: late_order_risks(s, actor, entity=entity))
    table = Table(title=f"Order lines at risk ({len(found)})")
    for column in ("line", "customer", "due", "likely ready", "cause", "open value", "proposal"):
        table.add_column(column)
    for f in found:
        e = f.evidence
        table.add_row(
            f"{e['sales_order']} line {e['line_no']}",
            str(e["customer"]),
            str(e["due_date"]),
            str(e["likely_ready"] or "no supply"),
            str(e["cause"]),
            format_money(f.impact, str(e["currency"])),
            f.proposal.summary if f.proposal else "-",
        )
    console.print(table)
    for f in found:
        console.print(f"[bold]{f.title}[/bold]\n  {f.detail}")


@risks_app.command("suppliers")
def suppliers(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Each supplier's on-time rate, fill rate, lead-time drift, price variance and spend share, with its alerts."""
    report = ask(user, lambda s, actor: supplier_report(s, actor, entity=entity))
    table = Table(title=f"Supplier scorecards as of {report.as_of}")
    columns = ("entity", "supplier", "orders due", "on time", "fill rate", "drift (days)", "price var.", "spend share")
    for column in (*columns, "alerts"):
        table.add_column(column)
    for c in report.scorecards:
        drift = c.drift.drift
        table.add_row(
            c.entity,
            c.supplier,
            str(c.orders_due),
            _pct(c.on_time_rate),
            _pct(c.fill_rate),
            "-" if drift is None else f"{drift:+.1f}",
            "-" if c.price_variance_pct is None else f"{c.price_variance_pct}%",
            _pct(c.spend_share),
            "; ".join(c.breaches) or "-",
        )
    console.print(table)


@risks_app.command("margin")
def margin(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Customers whose margin leaks: below their tier's floor, discounts out of pattern, below contract, expedite."""
    found = ask(user, lambda s, actor: margin_leakage(s, actor, entity=entity))
    table = Table(title=f"Margin leakage ({len(found)} customers)")
    for column in ("customer", "tier", "realised margin", "floor", "lost", "lines"):
        table.add_column(column)
    for f in found:
        e = f.evidence
        table.add_row(
            str(e["customer"]),
            str(e["tier"]),
            f"{e['realised_margin_pct']}%",
            f"{e['floor_pct']}%",
            format_money(f.impact, str(e["currency"])),
            str(len(e["lines"]) + int(e["more_lines"])),
        )
    console.print(table)
    for f in found:
        console.print(f"[bold]{f.title}[/bold]\n  {f.detail}")

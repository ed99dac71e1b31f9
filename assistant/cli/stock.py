"""Stock counts and adjustments from the terminal: a count or a write-off through the write gate, and the report."""

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.money import format_money
from core.policy.facts import DraftKind
from core.reporting import adjustment_report

stock_app = typer.Typer(help="Count stock and post adjustments (through the write gate); report them.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
Note = Annotated[str, typer.Option(help="A note kept with the adjustment (aisle, what happened).")]
SKU = Annotated[str, typer.Argument(help="The item's SKU, e.g. V-200.")]
WAREHOUSE = Annotated[str, typer.Argument(help="The warehouse code, e.g. DAL.")]


@stock_app.command()
def count(
    sku: SKU,
    warehouse: WAREHOUSE,
    counted: Annotated[int, typer.Argument(help="The units counted on the shelf.")],
    reason: Annotated[
        str | None, typer.Option(help="damage, shrinkage, found or correction (default: correction).")
    ] = None,
    note: Note = "",
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """A cycle count: the counted units become the on-hand, the difference posted at standard cost once you confirm
    (a manager approves beyond the policy's limits, or when the count leaves orders short)."""
    body = {"sku": sku, "warehouse": warehouse, "counted": counted, "reason": reason, "note": note}
    draft_and_confirm(DraftKind.STOCK_ADJUSTMENT, body, user=user, yes=yes)


@stock_app.command()
def adjust(
    sku: SKU,
    warehouse: WAREHOUSE,
    quantity: Annotated[int, typer.Argument(help="The units written off or found.")],
    reason: Annotated[str, typer.Option(help="damage or shrinkage (written off), or found (added).")],
    note: Note = "",
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Write off damaged or missing units, or add units found, at standard cost, once you confirm."""
    body = {"sku": sku, "warehouse": warehouse, "quantity": quantity, "reason": reason, "note": note}
    draft_and_confirm(DraftKind.STOCK_ADJUSTMENT, body, user=user, yes=yes)


@stock_app.command()
def adjustments(
    since: Annotated[str | None, typer.Option(help="Period start, YYYY-MM-DD (default 90 days ago).")] = None,
    until: Annotated[str | None, typer.Option(help="Period end, YYYY-MM-DD (default today).")] = None,
    entity: Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")] = None,
    warehouse: Annotated[str | None, typer.Option(help="One warehouse, e.g. DAL.")] = None,
    reason: Annotated[str | None, typer.Option(help="One reason: damage, shrinkage, found, correction.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Counts, write-offs and finds posted in a period, by entity, warehouse and reason, valued at standard cost."""
    start, end = _day(since), _day(until)
    report = ask(
        user,
        lambda s, actor: adjustment_report(
            s, actor, since=start, until=end, entity=entity, warehouse=warehouse, reason=reason
        ),
    )
    table = Table(title=f"Stock adjustments {report.period_start}..{report.period_end}")
    for column in ("entity", "warehouse", "reason", "adjustments", "units lost", "units found", "value"):
        table.add_column(column, justify="left" if column in ("entity", "warehouse", "reason") else "right")
    for x in report.lines:
        table.add_row(
            x.entity,
            x.warehouse,
            x.reason,
            str(x.adjustments),
            str(x.units_lost),
            str(x.units_found),
            format_money(x.value, x.currency),
        )
    console.print(table)
    console.print(report.basis, highlight=False)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(InvalidInput(f"'{text}' is not a date; use YYYY-MM-DD")) from None

"""Accounts payable from the terminal: book a supplier invoice or release a held one through the write gate, match a
held one again, read one or a list, the ageing and what falls due this week."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, act, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.drafts.supplier_invoices import current_tolerances
from core.errors import InvalidInput
from core.finance.ageing import BUCKETS
from core.money import format_money
from core.payables.service import (
    SupplierInvoiceView,
    list_supplier_invoices,
    match_supplier_invoice,
    payables_ageing,
    payables_due,
    supplier_invoice_status,
)
from core.policy.facts import DraftKind

payables_app = typer.Typer(help="Supplier invoices (three-way matched), payables ageing and what falls due.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
SINV = Annotated[str, typer.Argument(help="The supplier invoice's number, e.g. SINV-3.")]
STATUS_WORDS = {"approved": "approved for payment", "on_hold": "on payment hold"}


@payables_app.command()
def book(
    po: Annotated[str, typer.Argument(help="The purchase order billed, e.g. PO-12.")],
    ref: Annotated[str, typer.Option(help="The supplier's invoice number, e.g. INV-883.")],
    line: Annotated[
        list[str],
        typer.Option(help="SKU:UNITS@PRICE or LINE:UNITS@PRICE, e.g. --line V-200:40@41.50 (repeat)."),
    ],
    currency: Annotated[str | None, typer.Option(help="The invoice's currency; must be the PO's.")] = None,
    invoice_date: Annotated[
        str | None, typer.Option(help="The date on the invoice (YYYY-MM-DD); default today.")
    ] = None,
    due_date: Annotated[str | None, typer.Option(help="Default: invoice date + the supplier's terms.")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Book a supplier's invoice against a PO (a `supplier_invoice` draft): each line is matched against the PO's
    price and the units received; matched, it is approved for payment, else booked on hold with a case for the
    buyer, once you confirm."""
    body: dict[str, object] = {"po_number": po, "supplier_ref": ref, "lines": [_invoice_line(text) for text in line]}
    for name, value in (("currency", currency), ("invoice_date", _day(invoice_date)), ("due_date", _day(due_date))):
        if value:
            body[name] = value
    draft_and_confirm(DraftKind.SUPPLIER_INVOICE, body, user=user, yes=yes)


def _invoice_line(text: str) -> dict[str, object]:
    what, _, rest = text.partition(":")
    units, _, price = rest.partition("@")
    try:
        amount = Decimal(price.strip())
    except InvalidOperation:
        amount = Decimal(-1)
    if not what.strip() or not units.strip().isdigit() or amount < 0:
        raise fail(InvalidInput(f"--line takes SKU:UNITS@PRICE or LINE:UNITS@PRICE, e.g. V-200:40@41.50; got '{text}'"))
    named: dict[str, object] = {"line_no": int(what)} if what.strip().isdigit() else {"sku": what.strip()}
    return named | {"quantity": int(units), "unit_price": str(amount)}


def _day(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise fail(InvalidInput(f"a date is YYYY-MM-DD, e.g. 2026-11-20; got '{text}'")) from None


@payables_app.command()
def release(
    invoice: SINV,
    reason: Annotated[str, typer.Option(help="Why it may be paid despite the mismatch.")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Approve a held invoice for payment despite its mismatch (a `supplier_invoice_release` draft): never by the
    person who booked it; a manager's request executes, anyone else's waits for a manager."""
    draft_and_confirm(
        DraftKind.SUPPLIER_INVOICE_RELEASE, {"invoice_number": invoice, "reason": reason}, user=user, yes=yes
    )


@payables_app.command()
def match(invoice: SINV, user: User = DEFAULT_USER) -> None:
    """Match a held invoice again on today's receipts: approved for payment if every line now matches."""
    number = act(
        user,
        lambda s, actor: (
            match_supplier_invoice(
                s, actor, invoice_number=invoice, tolerances=current_tolerances(), channel="cli"
            ).number
        ),
    )
    show(number, user)


@payables_app.command()
def show(invoice: SINV, user: User = DEFAULT_USER) -> None:
    """One supplier invoice: its lines with their three-way match, status, due date and case."""
    view: SupplierInvoiceView = ask(user, lambda s, actor: supplier_invoice_status(s, actor, invoice_number=invoice))
    case = f"; case {view.case} ({view.case_status})" if view.case else ""
    console.print(
        f"[bold]{view.number}[/bold] {view.supplier} {view.supplier_ref} on {view.po} — "
        f"{STATUS_WORDS.get(view.status, view.status)}; {format_money(view.total, view.currency)}, open "
        f"{format_money(view.open_amount, view.currency)}; dated {view.invoice_date}, due {view.due_date}{case}",
        highlight=False,
    )
    for ln in view.lines:
        console.print(f"  {ln.words}", highlight=False)
    if view.released_by:
        console.print(f"released by {view.released_by}: {view.release_reason}", highlight=False)


@payables_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="approved or on_hold.")] = None,
    supplier: Annotated[str | None, typer.Option(help="Only this supplier's invoices.")] = None,
    po: Annotated[str | None, typer.Option(help="Only the invoices of this PO.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Supplier invoices in your entities, newest first (at most 50)."""
    views = ask(user, lambda s, actor: list_supplier_invoices(s, actor, status=status, supplier=supplier, po_number=po))
    table = Table(title="Supplier invoices")
    for column in ("SINV", "supplier", "ref", "PO", "status", "total", "due", "case"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.number,
            v.supplier,
            v.supplier_ref,
            v.po,
            v.status,
            format_money(v.total, v.currency),
            str(v.due_date),
            v.case or "-",
        )
    console.print(table)


@payables_app.command()
def ageing(
    entity: Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")] = None,
    supplier: Annotated[str | None, typer.Option(help="One supplier.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """What each entity owes its suppliers by days past due, in its own currency; then per supplier."""
    report = ask(user, lambda s, actor: payables_ageing(s, actor, entity=entity, supplier=supplier))
    table = Table(title=f"Payables ageing on {report.as_of} (days past due)")
    for column in ("entity", "supplier", *BUCKETS, "total", "on hold"):
        table.add_column(column)
    for row in [*report.entities, *report.suppliers]:
        table.add_row(
            row.entity,
            row.supplier or "all",
            *[format_money(row.buckets[b], row.currency) for b in BUCKETS],
            format_money(row.total, row.currency),
            format_money(row.on_hold, row.currency),
        )
    console.print(table)


@payables_app.command()
def due(
    entity: Annotated[str | None, typer.Option(help="One legal entity, e.g. NA.")] = None,
    supplier: Annotated[str | None, typer.Option(help="One supplier.")] = None,
    user: User = DEFAULT_USER,
) -> None:
    """Supplier invoices due this week (today and the six days after) or overdue, with totals per entity."""
    report = ask(user, lambda s, actor: payables_due(s, actor, entity=entity, supplier=supplier))
    for total in report.entities:
        console.print(
            f"[bold]{total.entity}[/bold] owes {format_money(total.total, total.currency)} by {report.until}: "
            f"{format_money(total.overdue, total.currency)} overdue, {format_money(total.due, total.currency)} "
            f"falling due; {format_money(total.on_hold, total.currency)} of it on payment hold",
            highlight=False,
        )
    table = Table(title=f"Due {report.as_of} to {report.until}")
    for column in ("SINV", "entity", "supplier", "ref", "due", "open", "status", "overdue"):
        table.add_column(column)
    for i in report.invoices:
        table.add_row(
            i.number,
            i.entity,
            i.supplier,
            i.supplier_ref,
            str(i.due_date),
            format_money(i.open_amount, i.currency),
            i.status,
            f"{i.days_past_due} days" if i.days_past_due else "-",
        )
    console.print(table)

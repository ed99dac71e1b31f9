"""Receivables from the terminal: record, apply and reverse customer payments through the write gate; read ageing,
overdue invoices, the collections worklist and payments."""

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import DEFAULT_USER, ask, console, fail
from assistant.cli.gate import draft_and_confirm
from core.errors import InvalidInput
from core.finance.ageing import BUCKETS
from core.money import format_money
from core.policy.facts import DraftKind
from core.receivables.ageing import RANKING, ageing, collections, overdue_invoices
from core.receivables.service import PaymentView, list_payments, payment_view

receivables_app = typer.Typer(help="Customer payments, cash on account, ageing, overdue invoices and collections.")
User = Annotated[str, typer.Option(help="Act as this user.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Confirm the preview without being asked.")]
PaymentNumber = Annotated[str, typer.Argument(help="The payment's number, e.g. PAY-12.")]
Invoices = Annotated[
    list[str] | None,
    typer.Option("--invoice", help="INV-n or INV-n=AMOUNT to apply to (repeat); default: oldest due first."),
]
Customer = Annotated[str | None, typer.Option(help="Only this customer (code or name).")]
Entity = Annotated[str | None, typer.Option(help="Only this entity (NA, UK, SEA).")]


def _allocation(text: str) -> dict[str, object]:
    invoice, _, amount = text.partition("=")
    if not invoice.strip():
        raise fail(InvalidInput(f"--invoice takes INV-n or INV-n=AMOUNT; got '{text}'"))
    if not amount.strip():
        return {"invoice": invoice.strip()}
    try:
        return {"invoice": invoice.strip(), "amount": str(Decimal(amount.replace(",", "").strip()))}
    except InvalidOperation:
        raise fail(
            InvalidInput(f"--invoice takes INV-n=AMOUNT with a number, e.g. INV-7=250.00; got '{text}'")
        ) from None


@receivables_app.command()
def pay(
    customer: Annotated[str, typer.Argument(help="The customer who paid (code or name).")],
    amount: Annotated[str, typer.Argument(help="The amount received, in the customer's entity currency.")],
    reference: Annotated[str, typer.Option(help="The bank's reference of the payment.")],
    invoice: Invoices = None,
    received: Annotated[str | None, typer.Option(help="The day the money arrived (YYYY-MM-DD); default today.")] = None,
    currency: Annotated[str | None, typer.Option(help="Checked against the customer's currency.")] = None,
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Record a customer payment and apply it (a `customer_payment` draft): to the invoices named, else oldest due
    first; what is left stays on account. Finance's own drafts execute on confirmation."""
    try:
        value = str(Decimal(amount.replace(",", "")))
    except InvalidOperation:
        raise fail(InvalidInput(f"the amount must be a number, e.g. 1200.00; got '{amount}'")) from None
    body: dict[str, object] = {
        "customer": customer,
        "amount": value,
        "bank_reference": reference,
        "invoices": [_allocation(text) for text in invoice or []],
    }
    body |= {"received_on": received} if received else {}
    body |= {"currency": currency} if currency else {}
    draft_and_confirm(DraftKind.CUSTOMER_PAYMENT, body, user=user, yes=yes)


@receivables_app.command()
def apply(payment: PaymentNumber, invoice: Invoices = None, user: User = DEFAULT_USER, yes: Yes = False) -> None:
    """Apply a payment's cash on account (a `customer_payment` draft): to the invoices named, else oldest due
    first."""
    body = {"payment_number": payment, "invoices": [_allocation(text) for text in invoice or []]}
    draft_and_confirm(DraftKind.CUSTOMER_PAYMENT, body, user=user, yes=yes)


@receivables_app.command()
def reverse(
    payment: PaymentNumber,
    reason: Annotated[str, typer.Option(help="Why: misapplied, returned by the bank, ...")],
    user: User = DEFAULT_USER,
    yes: Yes = False,
) -> None:
    """Reverse a payment (a `payment_reversal` draft): the invoices it settled open again. A second person in
    finance approves it; never you."""
    draft_and_confirm(DraftKind.PAYMENT_REVERSAL, {"payment_number": payment, "reason": reason}, user=user, yes=yes)


@receivables_app.command("ageing")
def ageing_command(customer: Customer = None, entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Open receivables by customer in buckets of days past due, entity totals and DSO."""
    report = ask(user, lambda s, actor: ageing(s, actor, customer=customer, entity=entity))
    table = Table(title=f"Ageing on {report.as_of}")
    for column in ("customer", "entity", *BUCKETS, "total", "on account"):
        table.add_column(column, justify="left" if column in ("customer", "entity") else "right")
    for line in [*report.customers[:30], *report.entities]:
        table.add_row(
            line.code,
            line.entity,
            *(f"{line.buckets[b]:,.2f}" for b in BUCKETS),
            format_money(line.total, line.currency),
            f"{line.unapplied:,.2f}" if line.unapplied else "",
        )
    console.print(table)
    for dso in report.dso:
        console.print(f"{dso.entity}: {dso.formula}", highlight=False)


@receivables_app.command()
def overdue(customer: Customer = None, entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Invoices past their due date with money open, the longest overdue first (at most 50)."""
    rows = ask(user, lambda s, actor: overdue_invoices(s, actor, customer=customer, entity=entity, limit=50))
    table = Table(title="Overdue invoices")
    for column in ("invoice", "customer", "due", "days past due", "open"):
        table.add_column(column)
    for i in rows:
        table.add_row(i.invoice, i.customer, str(i.due_on), str(i.days_past_due), format_money(i.open, i.currency))
    console.print(table)


@receivables_app.command("collections")
def collections_command(entity: Entity = None, user: User = DEFAULT_USER) -> None:
    """Who to chase today: customers with money past due, ranked, with the facts behind each rank."""
    targets = ask(user, lambda s, actor: collections(s, actor, entity=entity, limit=20))
    table = Table(title="Collections worklist")
    for column in ("#", "customer", "past due", "oldest", "exposure / limit", "hold", "avg days late", "score"):
        table.add_column(column)
    for t in targets:
        table.add_row(
            str(t.rank),
            t.customer,
            format_money(t.past_due, t.currency),
            f"{t.oldest_days} d ({t.oldest_invoice})",
            f"{t.exposure:,.2f} / {t.credit_limit:,.2f}",
            "on hold" if t.on_hold else "",
            "-" if t.avg_days_late is None else f"{t.avg_days_late} ({t.paid_invoices} paid)",
            f"{t.score:,.2f}",
        )
    console.print(table)
    console.print(RANKING, highlight=False)


@receivables_app.command()
def payments(
    customer: Customer = None,
    unapplied: Annotated[bool, typer.Option(help="Only payments with cash still on account.")] = False,
    user: User = DEFAULT_USER,
) -> None:
    """Payments in your entities, newest first (at most 50)."""
    views: list[PaymentView] = ask(
        user, lambda s, actor: list_payments(s, actor, customer=customer, unapplied_only=unapplied, limit=50)
    )
    table = Table(title="Payments")
    for column in ("payment", "customer", "received", "reference", "amount", "applied", "on account", "status"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.number,
            v.customer,
            str(v.received_on),
            v.bank_reference,
            format_money(v.amount, v.currency),
            f"{v.applied:,.2f}",
            f"{v.unapplied:,.2f}",
            v.status,
        )
    console.print(table)


@receivables_app.command()
def payment(number: PaymentNumber, user: User = DEFAULT_USER) -> None:
    """One payment: what it settled and what is left on account."""
    view = ask(user, lambda s, actor: payment_view(s, actor, payment_number=number))
    console.print(
        f"[bold]{view.number}[/bold] {view.customer} — {format_money(view.amount, view.currency)} received "
        f"{view.received_on} (ref {view.bank_reference}); applied {format_money(view.applied, view.currency)}, "
        f"on account {format_money(view.unapplied, view.currency)}; {view.status}"
        + (f" ({view.reversal_reason})" if view.reversal_reason else ""),
        highlight=False,
    )
    for a in view.applications:
        console.print(
            f"  {a.invoice}: {format_money(a.amount, view.currency)} on {a.applied_on}"
            + (" (reversed)" if a.reversed else ""),
            highlight=False,
        )

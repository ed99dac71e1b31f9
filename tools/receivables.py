"""Receivables for the model: one read tool (ageing, overdue invoices, who to chase) and one draft tool (record,
apply or reverse a customer payment)."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core import clock
from core.actor import Permission
from core.drafts.base import said_as
from core.drafts.payments import PaymentAsked, as_kind
from core.drafts.service import draft_action
from core.receivables.ageing import (
    DSO_DAYS,
    RANKING,
    AgeingLine,
    CollectionTarget,
    ageing,
    collections,
    overdue_invoices,
)
from tools import facts as fact
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, draft_result
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs

MAX_ROWS = 10


class ReceivablesArgs(ToolArgs):
    view: Literal["ageing", "overdue", "collections"] = Field(
        "ageing", json_schema_extra=said_as({"overdue": ["overdue"], "collections": ["collections"]})
    )
    customer: str | None = Field(None, max_length=160, description="customer code or name")
    entity: str | None = Field(None, max_length=8, description="NA, UK, SEA")


class ReceivablesRow(BaseModel):
    ref: str  # customer code or invoice number
    customer: str
    currency: str
    amount: Decimal  # open (ageing, overdue) or past due (collections)
    days_past_due: int
    detail: str


class ReceivablesResult(BaseModel):
    view: str
    as_of: str
    rows: list[ReceivablesRow]
    how_computed: str = ""
    facts: list[str] = []


def _buckets(line: AgeingLine) -> str:
    return ", ".join(f"{name} {fact.money(amount, line.currency)}" for name, amount in line.buckets.items())


def _ageing(session: Session, ctx: ToolContext, args: ReceivablesArgs) -> ReceivablesResult:
    report = ageing(session, ctx.actor, customer=args.customer, entity=args.entity)
    lines = report.customers[:MAX_ROWS]
    out = [
        fact.figure(ln.code, "ageing", _buckets(ln), fact.on(report.as_of))
        + f" Past due {fact.money(ln.past_due, ln.currency)}, oldest {ln.oldest_days} days ({ln.oldest_invoice})"
        + (f"; {fact.money(ln.unapplied, ln.currency)} on account." if ln.unapplied else ".")
        for ln in lines[:5]
    ]
    out += [fact.figure(e.code, "ageing", _buckets(e)) for e in report.entities]
    out += [f"{d.entity} {d.formula}." for d in report.dso]
    rows = [
        ReceivablesRow(
            ref=ln.code,
            customer=ln.code,
            currency=ln.currency,
            amount=ln.total,
            days_past_due=ln.oldest_days,
            detail=_buckets(ln),
        )
        for ln in lines
    ]
    return ReceivablesResult(
        view="ageing",
        as_of=report.as_of.isoformat(),
        rows=rows,
        how_computed=(
            "open = invoiced - credit notes - applied payments, aged by days past the due date; "
            f"DSO = receivables / credit sales of the last {DSO_DAYS} days x {DSO_DAYS}"
        ),
        facts=out or [f"Nothing is owed {fact.on(report.as_of)}."],
    )


def _overdue(session: Session, ctx: ToolContext, args: ReceivablesArgs) -> ReceivablesResult:
    invoices = overdue_invoices(session, ctx.actor, customer=args.customer, entity=args.entity, limit=MAX_ROWS)
    rows = [
        ReceivablesRow(
            ref=i.invoice,
            customer=i.customer,
            currency=i.currency,
            amount=i.open,
            days_past_due=i.days_past_due,
            detail=f"due {i.due_on.isoformat()}, {i.bucket} days",
        )
        for i in invoices
    ]
    out = [
        fact.figure(i.invoice, "open", fact.money(i.open, i.currency))
        + f" {i.customer}, due {i.due_on.isoformat()}, {i.days_past_due} days past due."
        for i in invoices[:5]
    ]
    return ReceivablesResult(
        view="overdue",
        as_of=clock.today().isoformat(),
        rows=rows,
        how_computed="invoices past their due date with money open, longest overdue first",
        facts=out or ["No invoice is overdue."],
    )


def _collection_fact(t: CollectionTarget) -> str:
    behaviour = (
        f"pays on average {t.avg_days_late} days after due over {t.paid_invoices} paid invoices"
        if t.avg_days_late is not None
        else "no paid invoice yet"
    )
    hold = "on credit hold" if t.on_hold else ("over its credit limit" if t.over_limit else "within its limit")
    return (
        f"#{t.rank} {t.customer}: {fact.money(t.past_due, t.currency)} past due, oldest {t.oldest_days} days "
        f"({t.oldest_invoice}); exposure {fact.money(t.exposure, t.currency)} against a "
        f"{fact.money(t.credit_limit, t.currency)} limit, {hold}; {behaviour}"
        + (f"; {fact.money(t.unapplied, t.currency)} on account" if t.unapplied else "")
        + "."
    )


def _collections(session: Session, ctx: ToolContext, args: ReceivablesArgs) -> ReceivablesResult:
    targets = collections(session, ctx.actor, customer=args.customer, entity=args.entity, limit=MAX_ROWS)
    rows = [
        ReceivablesRow(
            ref=t.customer,
            customer=t.customer,
            currency=t.currency,
            amount=t.past_due,
            days_past_due=t.oldest_days,
            detail=f"rank {t.rank}, score {t.score}",
        )
        for t in targets
    ]
    return ReceivablesResult(
        view="collections",
        as_of=clock.today().isoformat(),
        rows=rows,
        how_computed=RANKING,
        facts=[_collection_fact(t) for t in targets[:5]] or ["No customer has money past due."],
    )


VIEWS = {"ageing": _ageing, "overdue": _overdue, "collections": _collections}


def get_receivables(session: Session, ctx: ToolContext, args: ReceivablesArgs) -> ReceivablesResult:
    """Ageing by customer and entity (with DSO), overdue invoices, or the collections worklist (who to chase)."""
    return VIEWS[args.view](session, ctx, args)


def draft_payment(session: Session, ctx: ToolContext, args: PaymentAsked) -> DraftResult:
    """Record a customer payment and apply it, apply cash on account, or reverse a payment: a preview, unconfirmed."""
    kind, payload = as_kind(args)
    draft = draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=payload.model_dump(mode="json"))
    return draft_result(session, draft)


TOOLS = [
    Tool(
        "get_receivables",
        "Receivables: view ageing (buckets by days past due, DSO), overdue (invoices), or collections "
        "(who to chase first, and why).",
        ReceivablesArgs,
        get_receivables,
        needs=Permission.RECORD_PAYMENT,
    ),
    Tool(
        "draft_payment",
        "Draft a customer payment: record (customer, amount, bank_reference), apply cash on account "
        "(payment_number), or reverse (payment_number, reason)." + DRAFT_NOTE,
        PaymentAsked,
        draft_payment,
        writes=True,
        needs=Permission.RECORD_PAYMENT,
    ),
]

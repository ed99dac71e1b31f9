"""Returns for the model: one draft tool (authorise a return, or receive one) and one read tool (an RMA's status)."""

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.drafts.returns import ReturnAsked, as_kind
from core.drafts.service import draft_action
from core.returns.service import ReturnView, return_status
from tools import facts as fact
from tools.context import ToolContext
from tools.drafts import DRAFT_NOTE, draft_result
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs

MAX_LINES = 20


class ReturnArgs(ToolArgs):
    rma_number: str = Field(min_length=1, max_length=24, description="e.g. RMA-7")


class ReturnResult(BaseModel):
    rma: str
    order: str
    customer: str
    status: str
    reason: str
    lines: list[str]
    credit_notes: list[str]
    facts: list[str] = []


def _return_facts(view: ReturnView) -> list[str]:
    """Status, value and credit of the return, each line's units and what became of them, with the dates."""
    rma = view.number
    received = f"received {view.received_at:%Y-%m-%d}" if view.received_at else "not received yet"
    out = [
        fact.figure(rma, fact.STATUS, f"{fact.status_words(view.status)} ({received})"),
        f"{rma} is a return from {view.customer} on {view.order}, authorised {view.authorised_at:%Y-%m-%d}: "
        f"{view.reason}.",
        fact.figure(rma, fact.RETURN_VALUE, f"{fact.money(view.value, view.currency)} for {fact.units(view.units)}"),
        fact.figure(rma, fact.CREDITED, fact.money(view.credited, view.currency)),
    ]
    out += [f"{rma}: {line}." for line in _lines(view)[:5]]
    return out


def _lines(view: ReturnView) -> list[str]:
    done = {"restock": "restocked at {}", "scrap": "scrapped"}
    return [
        f"{ln.quantity} x {ln.sku} (line {ln.line_no}, {ln.shipment})"
        + (f" {done[ln.disposition].format(ln.warehouse)}" if ln.disposition else " awaited")
        for ln in view.lines
    ]


def get_return(session: Session, ctx: ToolContext, args: ReturnArgs) -> ReturnResult:
    """A return (RMA): its status, lines, disposition, credit notes and dates."""
    view = return_status(session, ctx.actor, rma_number=args.rma_number)
    return ReturnResult(
        rma=view.number,
        order=view.order,
        customer=view.customer,
        status=view.status,
        reason=view.reason,
        lines=_lines(view)[:MAX_LINES],
        credit_notes=[
            f"{cn.number} {fact.money(cn.amount, view.currency)} on {cn.invoice}" for cn in view.credit_notes
        ],
        facts=_return_facts(view),
    )


def draft_return(session: Session, ctx: ToolContext, args: ReturnAsked) -> DraftResult:
    """Authorise a return against an order, or receive an authorised one: a preview, unconfirmed."""
    kind, payload = as_kind(args)
    draft = draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=payload.model_dump(mode="json"))
    return draft_result(session, draft)


TOOLS = [
    Tool(
        "get_return",
        "A customer return (RMA): status, lines, restock or scrap, credit note.",
        ReturnArgs,
        get_return,
    ),
    Tool(
        "draft_return",
        "Draft a customer return: action authorise (order_number, lines, reason) or receive (rma_number, "
        "disposition restock or scrap)." + DRAFT_NOTE,
        ReturnAsked,
        draft_return,
        writes=True,
        # No one permission: authorising needs sell (sales), receiving move stock (warehouse); the core checks each.
        needs=None,
    ),
]

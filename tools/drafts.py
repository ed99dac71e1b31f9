"""Draft tools: every change the assistant asks for becomes a draft, previewed for its requester to confirm.

A draft tool returns the draft, what it would change, and what the policy would decide once the user
confirms it in their channel (a button, or "yes" in the terminal): executed, waiting for whom, or blocked
and why. The assistant can neither confirm nor approve.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.actor import Permission
from core.drafts.kinds import (
    ExceptionActionDraft,
    OrderChangeDraft,
    PurchaseOrderDraft,
    PurchaseReceiptDraft,
    SalesOrderDraft,
    StockAdjustmentDraft,
    TransferDraft,
    TransferMoveDraft,
)
from core.drafts.masterdata import CreditAsked, MasterDataAsked, as_kind
from core.drafts.models import DraftAction, DraftStatus
from core.drafts.service import approvals_of, draft_action, get_draft, open_requirements, pending_for
from core.money import round_money
from core.policy.facts import DraftKind
from tools import facts as fact
from tools.context import ToolContext
from tools.outcome import DraftResult
from tools.registry import Tool, ToolArgs

UNCONFIRMED_NOTE = (
    "Nothing has changed yet: this is a preview. The user confirms it with the Confirm button on the draft card"
    " (or by answering yes in the terminal); only then does the policy decide."
)


def draft_facts(number: str, status: str, waiting: list[str], result: str | None, failure: str | None) -> list[str]:
    """Where the draft stands, in one sentence: its status and what goes with it (whom it waits for, what it made)."""
    details = [f"waiting for {', '.join(waiting)}"] if waiting else []
    details += [f"result {result}"] if result else []
    details += [failure] if failure else []
    said = fact.status_words(status) + (f" ({'; '.join(details)})" if details else "")
    return [fact.figure(number, fact.STATUS, said)]


def draft_result(session: Session, draft: DraftAction) -> DraftResult:
    """A draft as the model should report it: never 'done' unless status is executed."""
    waiting = [f"{role} of {entity}" for role, entity in open_requirements(session, draft)]
    unconfirmed = draft.status == DraftStatus.UNCONFIRMED
    pending = draft.status == DraftStatus.PENDING_APPROVAL
    return DraftResult(
        draft=draft.number,
        status=draft.status,
        summary=draft.summary,
        changes=draft.diff,
        decision=f"If confirmed: {draft.explanation}" if unconfirmed else draft.explanation,
        next_step=UNCONFIRMED_NOTE if unconfirmed else None,
        result=draft.result_ref,
        failure=draft.failure_reason,
        waiting_for=waiting if pending else [],
        facts=draft_facts(
            draft.number, draft.status, waiting if pending else [], draft.result_ref, draft.failure_reason
        ),
    )


def drafter(kind: DraftKind) -> Callable[[Session, ToolContext, Any], DraftResult]:
    """A draft tool's body: the arguments become a draft of `kind`, previewed and unconfirmed."""

    def run(session: Session, ctx: ToolContext, args: BaseModel) -> DraftResult:
        return draft_result(
            session,
            draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=args.model_dump(mode="json")),
        )

    return run


def draft_asked(session: Session, ctx: ToolContext, args: CreditAsked | MasterDataAsked) -> DraftResult:
    """The draft a tool's arguments name (`as_kind` picks the kind: a hold or a release, a credit limit or another
    master-data change): a preview, unconfirmed."""
    kind, payload = as_kind(args)
    draft = draft_action(session, ctx.request(), confirmed=False, kind=kind, payload=payload.model_dump(mode="json"))
    return draft_result(session, draft)


class DraftArgs(ToolArgs):
    draft_number: str = Field(min_length=1, max_length=24, description="e.g. DR-7")


class DraftStatusResult(DraftResult):
    approvals: list[str] = []


def get_draft_status(session: Session, ctx: ToolContext, args: DraftArgs) -> DraftStatusResult:
    """Where a draft stands, the policy's reasons, and who has approved or rejected it."""
    draft = get_draft(session, ctx.actor, draft_number=args.draft_number)
    decisions = [f"{a.verdict} as {a.role}: {a.comment}".rstrip(": ") for a in approvals_of(session, draft)]
    return DraftStatusResult(**draft_result(session, draft).model_dump(), approvals=decisions)


class PendingArgs(ToolArgs):
    limit: int = Field(10, ge=1, le=50)


class PendingItem(BaseModel):
    draft: str
    kind: str
    summary: str
    value: Decimal
    currency: str
    decision: str


class PendingResult(BaseModel):
    waiting: list[PendingItem]
    total: int
    more: int = 0
    note: str = "approving is done by the user in the approvals inbox or Slack, never by the assistant"
    facts: list[str] = []


def _pending_facts(total: int, items: list[PendingItem]) -> list[str]:
    """How many drafts wait for this user, and each one's status with its kind and value."""
    each = [
        fact.figure(
            d.draft, fact.STATUS, f"pending approval ({d.kind.replace('_', ' ')}, {fact.money(d.value, d.currency)})"
        )
        for d in items
    ]
    if not total:  # an answer's recap leaves a bare 0 out ("reserved: 0 units" tells nothing); this one tells
        return [fact.none_of(fact.WAITING_FOR_YOU)]
    return [fact.count(fact.WAITING_FOR_YOU, total), *each]


def list_pending_approvals(session: Session, ctx: ToolContext, args: PendingArgs) -> PendingResult:
    """Drafts waiting for an approval this user could give."""
    everything = pending_for(session, ctx.actor)
    drafts = everything[: args.limit]
    waiting = [
        PendingItem(
            draft=d.number,
            kind=d.kind,
            summary=d.summary,
            value=round_money(d.amount),
            currency=d.currency,
            decision=d.explanation,
        )
        for d in drafts
    ]
    return PendingResult(
        total=len(everything),
        more=len(everything) - len(drafts),
        waiting=waiting,
        facts=_pending_facts(len(everything), waiting),
    )


DRAFT_NOTE = (
    " Returns a preview with status unconfirmed: nothing changes until the user confirms it themselves (never say"
    " it is done); once confirmed it becomes executed, pending_approval (say who it waits for) or blocked."
)
TOOLS = [
    Tool(
        "draft_sales_order",
        "Draft a sales order (created and confirmed, reserving stock) for a customer." + DRAFT_NOTE,
        SalesOrderDraft,
        drafter(DraftKind.SALES_ORDER),
        writes=True,
        needs=Permission.PLACE_ORDER,
    ),
    Tool(
        "draft_transfer",
        "Draft a stock transfer between two warehouses (within an entity, or intercompany between entities)."
        + DRAFT_NOTE,
        TransferDraft,
        drafter(DraftKind.TRANSFER),
        writes=True,
        needs=Permission.TRANSFER,
    ),
    Tool(
        "draft_purchase_order",
        "Draft a purchase order to a supplier into a warehouse of the supplier's entity." + DRAFT_NOTE,
        PurchaseOrderDraft,
        drafter(DraftKind.PURCHASE_ORDER),
        writes=True,
        needs=Permission.BUY,
    ),
    Tool(
        "draft_receipt",
        "Draft receiving goods on a purchase order (PO-...); close_short only if the user says the rest will not"
        " come." + DRAFT_NOTE,
        PurchaseReceiptDraft,
        drafter(DraftKind.PO_RECEIPT),
        writes=True,
        needs=Permission.RECEIVE,
    ),
    Tool(
        "draft_transfer_move",
        "Draft shipping a transfer (TR-...), or receiving it with any units short or damaged." + DRAFT_NOTE,
        TransferMoveDraft,
        drafter(DraftKind.TRANSFER_MOVE),
        writes=True,
        needs=Permission.MOVE_STOCK,
    ),
    Tool(
        "draft_order_change",
        "Draft a change to a sales order line: quantity, warehouse, or the requested date." + DRAFT_NOTE,
        OrderChangeDraft,
        drafter(DraftKind.ORDER_CHANGE),
        writes=True,
        needs=Permission.SELL,
    ),
    Tool(
        "request_credit_hold_release",
        "Ask finance to release a customer's credit hold (action release), or put a customer on credit hold (action"
        " hold), with the reason." + DRAFT_NOTE,
        CreditAsked,
        draft_asked,
        writes=True,
    ),
    Tool(
        "draft_exception_action",
        "Assign, comment on, resolve or dismiss an exception case." + DRAFT_NOTE,
        ExceptionActionDraft,
        drafter(DraftKind.EXCEPTION_ACTION),
        writes=True,
    ),
    Tool(
        "draft_stock_adjustment",
        "Draft a stock count at a warehouse (counted), or a write-off or find (quantity and reason)." + DRAFT_NOTE,
        StockAdjustmentDraft,
        drafter(DraftKind.STOCK_ADJUSTMENT),
        writes=True,
        needs=Permission.MOVE_STOCK,
    ),
    Tool(
        "get_draft_status",
        "Where a draft stands (unconfirmed: a preview the user has not confirmed; executed, waiting for whom, "
        "blocked, failed), the policy's reasons in plain words, and who approved or rejected it.",
        DraftArgs,
        get_draft_status,
    ),
    Tool(
        "list_pending_approvals",
        "Drafts waiting for an approval the user could give. The assistant cannot approve: the user approves in "
        "the approvals inbox or Slack.",
        PendingArgs,
        list_pending_approvals,
        brief={"note": ()},  # what the prompt says already: the assistant cannot approve
    ),
]

"""What the HTTP API accepts and returns: pydantic models, so the OpenAPI schema is the contract."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, model_validator

from core.drafts.kinds import KINDS, ArrivalLineDraft, StockAdjustmentDraft, StockLineDraft
from core.drafts.masterdata import MasterDataChangeDraft
from core.drafts.payments import InvoiceAllocation
from core.drafts.returns import ReturnLineAsked, ReturnLineDisposition
from core.drafts.supplier_invoices import InvoiceLineAsked
from core.returns.models import DispositionCode
from core.text import NUL_REFUSED, has_nul

MAX_MESSAGE_CHARS = 4000
DRAFT_KINDS: list[JsonValue] = [kind.value for kind in sorted(KINDS)]


def _in_utc(value: datetime) -> datetime:
    """The core keeps naive UTC; on the wire a time carries its offset, as RFC 3339 `date-time` requires."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Timestamp = Annotated[datetime, AfterValidator(_in_utc)]


def iso_day(value: object) -> object:
    """A day in a query is written YYYY-MM-DD: pydantic alone would read "4.7e-168" as a Unix time (1970-01-01)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("write the day as YYYY-MM-DD")
    return value


QueryDay = Annotated[date | None, BeforeValidator(iso_day), Query(description="YYYY-MM-DD")]


class Strict(BaseModel):
    """Request bodies refuse fields they do not know, so a typo is an error rather than ignored,
    values of another JSON type than the schema says (pydantic's lax mode would take `true` as 1 day
    and `1` or `"yes"` as true), and text with a NUL character, which the database cannot store."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        if has_nul(self.model_dump()):
            raise ValueError(NUL_REFUSED)
        return self


class ErrorBody(BaseModel):
    """Every error: a stable code for programs and a sentence for people."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["unknown draft 'DR-999'"])
    retry_after_s: int | None = None
    suggestions: list[str] | None = None


# --- session -----------------------------------------------------------------------------


class SignInRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    entities: list[str]
    csrf_token: str | None = Field(None, description="send as X-CSRF-Token on every non-GET request (cookie sessions)")
    can_approve: bool


class TokenRequest(Strict):
    name: str = Field(min_length=1, max_length=80)
    days: int | None = Field(None, ge=1, le=3650)
    read_only: bool = Field(False, description="the token may only read; any other request with it is refused (403)")


class TokenView(BaseModel):
    id: int
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    revoked_at: Timestamp | None = None
    read_only: bool = False


class NewToken(TokenView):
    token: str = Field(description="shown once; store it, the service keeps only its hash")


class TokenList(BaseModel):
    tokens: list[TokenView]


# --- conversations -----------------------------------------------------------------------


class ConversationRequest(Strict):
    title: str = Field("", max_length=120)


class Conversation(BaseModel):
    id: str
    title: str
    channel: str
    created_at: Timestamp
    updated_at: Timestamp
    turns: int
    running: bool


class ConversationList(BaseModel):
    conversations: list[Conversation]


class ChatMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class MessageRequest(Strict):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


# --- drafts and approvals ----------------------------------------------------------------


class Reason(BaseModel):
    rule: str
    text: str


class PriorityFactor(BaseModel):
    """One factor of an item's priority: its weight, the points the item earned and the figure behind them."""

    name: str = Field(description="value, tier, sla, margin or age")
    weight: float
    points: float
    score: float = Field(description="weight x points")
    basis: str = Field(description='the figure, e.g. "USD 12,000.00 at risk", "overdue by 5 h"')


class DraftCard(BaseModel):
    number: str
    kind: str
    status: str
    summary: str
    entity: str
    amount: Decimal
    currency: str
    amount_usd: Decimal
    requester: str
    created_at: Timestamp
    age_hours: float
    escalate_at: Timestamp
    expires_at: Timestamp
    overdue: bool
    waiting_for: list[str]
    explanation: str
    reasons: list[Reason]
    diff: list[str]
    result_ref: str | None
    failure_reason: str | None
    low_risk: bool = Field(description="one approval, no blocking reason, small value: may be decided in bulk")
    urgency: float = Field(
        description="the priority score (core/planning/priorities.py): higher is more urgent; the sum of `factors`"
    )
    factors: list[PriorityFactor] = Field(
        default_factory=list, description="value at risk, customer tier, SLA, margin, age: each weighted"
    )
    note: str | None = Field(
        None,
        description="for an unconfirmed draft: that nothing has changed yet, and what the policy would decide once "
        "its requester confirms it (or that the preview expired)",
    )
    can_confirm: bool = Field(
        False, description="you asked for this unconfirmed draft and its preview has not expired: you may confirm it"
    )
    can_cancel: bool = Field(
        False, description="you asked for this draft and it is unconfirmed or waiting: you may cancel it"
    )


class Verdict(BaseModel):
    approver: str
    verdict: str
    role: str | None
    comment: str
    at: Timestamp


class Fact(BaseModel):
    label: str
    value: str


class DraftDetail(DraftCard):
    approvals: list[Verdict]
    can_decide: bool
    conversation_excerpt: list[ChatMessage]
    current: list[Fact]


class ConversationDetail(BaseModel):
    conversation: Conversation
    messages: list[ChatMessage]
    drafts: list[DraftCard]


class DraftList(BaseModel):
    drafts: list[DraftCard]
    total: int


class Count(BaseModel):
    count: int


class ApproveRequest(Strict):
    comment: str = Field("", max_length=1000)


class RejectRequest(Strict):
    comment: str = Field(min_length=1, max_length=1000)


class DraftSubmission(Strict):
    """How a program hands a change to the write gate: confirmed at once or left as a preview, and its key."""

    confirm: bool = Field(
        description="true: the policy decides at once (execute, wait for approvers, or block); false: an unconfirmed "
        "preview that changes nothing until POST /api/drafts/{number}/confirm"
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="the same key again (same kind and payload) returns the same draft instead of a second one",
    )


class NewDraftRequest(DraftSubmission):
    """A draft from another system, as the token's user; `confirm` says whether it goes to the policy now."""

    kind: str = Field(max_length=32, json_schema_extra={"enum": DRAFT_KINDS}, examples=["transfer"])
    payload: dict[str, Any] = Field(
        description="the kind's fields, e.g. for a transfer: from_warehouse, to_warehouse, lines [{sku, quantity}]",
        examples=[{"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "P-200", "quantity": 3}]}],
    )


class ReceiptRequest(DraftSubmission):
    """Goods that arrived against a purchase order (a `po_receipt` draft)."""

    lines: list[StockLineDraft] = Field(
        default_factory=list, max_length=200, description="SKUs and units that arrived; omit for everything open"
    )
    close_short: bool = Field(False, description="close the order after this receipt: the rest will not come")


class TransferShipRequest(DraftSubmission):
    """Ship a transfer from its source (a `transfer_move` draft), as a user of the sending entity."""


class TransferReceiveRequest(DraftSubmission):
    """Receive a transfer at its destination (a `transfer_move` draft), as a user of the receiving entity."""

    received: list[ArrivalLineDraft] = Field(
        default_factory=list, max_length=200, description="units that arrived by SKU, if not all that shipped"
    )
    damaged: list[ArrivalLineDraft] = Field(
        default_factory=list, max_length=200, description="units that arrived damaged, by SKU"
    )


class StockAdjustmentRequest(DraftSubmission):
    """A count or a write-off or find, as the token's user; `confirm` says whether it goes to the policy now."""

    adjustment: StockAdjustmentDraft = Field(
        description="a count: sku, warehouse, counted (reason optional, default correction); a write-off or find: "
        "sku, warehouse, quantity and reason (damage and shrinkage lower stock, found raises it)",
        examples=[{"sku": "V-200", "warehouse": "DAL", "counted": 37}],
    )


class CancelRequest(DraftSubmission):
    """Cancel what is still open on an order, or on one line (an `order_cancel` draft)."""

    line_no: int | None = Field(None, ge=1, description="the line whose open rest is cancelled; omit for the order")
    reason: str = Field(min_length=3, max_length=500, description="why, kept with the draft and its audit")


class ReallocateRequest(DraftSubmission):
    """Units reserved for this order go to another order's backorder (a `reallocation` draft)."""

    to_order: str = Field(min_length=1, max_length=24, description="the order that gets the units, e.g. SO-1077")
    line_no: int | None = Field(None, ge=1, description="this order's line; omit if one line fits")
    to_line_no: int | None = Field(None, ge=1, description="the other order's line; omit if one line fits")
    quantity: int | None = Field(None, gt=0, le=1_000_000, description="omit: all the other line waits for")
    reason: str = Field("", max_length=500)


class Backorder(BaseModel):
    position: int = Field(description="place in its item's queue at its warehouse; 1 is served next")
    sku: str
    warehouse: str
    document: str = Field(description="the demand waiting: 'SO-12 line 1' or a transfer 'TR-4'")
    customer: str | None
    tier: str | None
    placed: str = Field(description="order date (a transfer's creation date)")
    backordered: int
    reserved: int


class AdjustmentLine(BaseModel):
    entity: str
    warehouse: str
    reason: str
    currency: str
    adjustments: int
    units_lost: int
    units_found: int
    net_units: int
    value: Decimal = Field(description="net value at standard cost in the entity currency (negative: a loss)")


class AdjustmentReport(BaseModel):
    period_start: str
    period_end: str
    lines: list[AdjustmentLine]
    basis: str


class BulkRequest(Strict):
    action: Literal["approve", "reject"]
    numbers: list[str] = Field(min_length=1, max_length=100)
    comment: str = Field("", max_length=1000)


class BulkResult(BaseModel):
    number: str
    ok: bool
    status: str | None
    result_ref: str | None = None
    error: ErrorBody | None = None


class BulkResponse(BaseModel):
    results: list[BulkResult]


# --- exceptions --------------------------------------------------------------------------


class Case(BaseModel):
    number: str
    type: str
    entity: str
    severity: str
    title: str
    status: str
    owner: str | None
    owner_role: str | None
    created_at: Timestamp
    sla_due_at: Timestamp
    age_days: float
    overdue: bool
    proposal: str | None = Field(None, description="the proposed draft's summary, while the case is active")
    priority: float | None = Field(None, description="the priority score by business impact, when ranked")
    factors: list[PriorityFactor] = Field(default_factory=list, description="what makes the priority, weighted")


class BriefingItemView(BaseModel):
    ref: str = Field(description="a draft or case number, or a customer code")
    text: str
    link: str = Field(description="where to open it in the web app")
    score: float = Field(description="its priority score by business impact")


class BriefingLineView(BaseModel):
    topic: str = Field(description='"approvals", "collections" or a case type such as "replenishment"')
    count: int
    text: str = Field(description='e.g. "3 approvals waiting (1 overdue)"')
    link: str
    items: list[BriefingItemView]


class BriefingView(BaseModel):
    """What needs one person's attention today; every sentence rendered by code from the data."""

    user: str
    day: date
    headline: str
    lines: list[BriefingLineView]


class CaseEvent(BaseModel):
    kind: str
    text: str
    by: str | None
    at: Timestamp


class CaseDetail(Case):
    detail: str
    suggestions: list[dict[str, object]]
    related: dict[str, object]
    routing_reason: str
    events: list[CaseEvent]
    can_handle: bool
    assignees: list[str]


class CaseAction(CaseDetail):
    """The case after an action on the board, with the exception_action draft it was and the policy's decision."""

    draft: str
    draft_status: str = Field(description="executed, or pending_approval / blocked when the policy says so")
    explanation: str


class CaseList(BaseModel):
    cases: list[Case]
    total: int


class AssignRequest(Strict):
    assignee: str = Field(min_length=1, max_length=64)


class CommentRequest(Strict):
    text: str = Field(min_length=1, max_length=2000)


class ResolveRequest(Strict):
    resolution: str = Field(min_length=1, max_length=2000)
    dismiss: bool = False


# --- shipping -----------------------------------------------------------------------------


class ShipLine(Strict):
    line_no: int = Field(ge=1, le=200, description="the order line's number")
    quantity: int = Field(ge=1, le=1_000_000)


class ShipmentRequest(Strict):
    """Ship a confirmed order, as yourself, through the write gate (a `shipment` draft)."""

    warehouse: str | None = Field(
        None, max_length=40, description="the warehouse it leaves from; omit to ship from where each line is reserved"
    )
    lines: list[ShipLine] = Field(
        default_factory=list, max_length=200, description="lines and units; omit to ship all that is reserved"
    )
    carrier: str = Field("", max_length=40, examples=["UPS"])
    service_level: str = Field("", max_length=40, examples=["Ground"])
    tracking_number: str = Field("", max_length=64, examples=["1Z999AA10123456784"])
    packages: int | None = Field(None, ge=1, le=10_000)
    weight_kg: Decimal | None = Field(None, gt=0, le=1_000_000, strict=False)
    confirm: bool = Field(
        description="true: the policy decides at once; false: an unconfirmed preview (confirm it at "
        "POST /api/drafts/{number}/confirm)"
    )


class MilestoneRequest(Strict):
    milestone: Literal["picked", "packed", "delivered"]
    at: datetime | None = Field(None, strict=False, description="when it happened (RFC 3339); default now")


class MilestoneView(BaseModel):
    milestone: str = Field(description="picked, packed, shipped or delivered")
    at: Timestamp


class ShippedLineView(BaseModel):
    line_no: int
    sku: str
    quantity: int


class ShipmentView(BaseModel):
    number: str
    order: str
    warehouse: str
    shipped_on: str
    carrier: str
    service_level: str
    tracking_number: str
    packages: int | None
    weight_kg: Decimal | None
    invoice: str | None
    milestones: list[MilestoneView]
    lines: list[ShippedLineView]


class FulfilmentLine(BaseModel):
    line_no: int
    sku: str
    warehouse: str
    ordered: int
    shipped: int
    reserved: int
    backordered: int
    open: int


class ChargeView(BaseModel):
    kind: str = Field(description="expedite: expedited freight")
    amount: Decimal
    currency: str
    carrier: str
    reason: str
    billed: bool = Field(description="true: billed to the customer on an invoice; false: absorbed as a cost")
    treatment: str = Field(description="absorbed, billed on INV-…, or billed on the next invoice")
    shipment: str | None
    invoice: str | None
    charged_on: str


class Fulfilment(BaseModel):
    order: str
    status: str
    customer: str
    open_units: int
    backordered_units: int
    lines: list[FulfilmentLine]
    shipments: list[ShipmentView]
    charges: list[ChargeView] = Field(default_factory=list, description="expedited freight on the order")
    margin_pct: Decimal | None = Field(None, description="the order's margin, net of absorbed charges")


# --- order changes ---------------------------------------------------------------------------


class SubstitutionRequest(DraftSubmission):
    """Put an approved substitute on an order line's open units (a `substitution` draft)."""

    sku: str = Field(min_length=1, max_length=40, description="the approved substitute", examples=["V-220"])
    keep_price: bool = Field(
        True, description="true (default): the customer keeps the agreed price; false: the substitute's own price"
    )
    allow_backorder: bool = Field(False, description="backorder what the warehouse cannot reserve instead of refusing")


class ExpediteRequest(DraftSubmission):
    """Charge expedited freight on an order (an `expedite` draft), in the order's currency."""

    amount: Decimal = Field(gt=0, le=1_000_000, strict=False, examples=["120.00"])
    carrier: str = Field(min_length=1, max_length=40, examples=["FedEx"])
    reason: str = Field(min_length=3, max_length=500, examples=["customer's line is down"])
    billed: bool = Field(False, description="true: on the customer's next invoice; false (default): absorbed")
    shipment: str | None = Field(None, max_length=24, description="one of the order's shipments, e.g. SH-12")


# --- returns ----------------------------------------------------------------------------


class ReturnAuthorisationRequest(DraftSubmission):
    """Units shipped on an order that the customer may send back (a `return_authorisation` draft)."""

    order_number: str = Field(min_length=1, max_length=24, examples=["SO-1042"])
    lines: list[ReturnLineAsked] = Field(
        min_length=1,
        max_length=200,
        description="each: line_no or sku, and quantity",
        examples=[[{"sku": "V-200", "quantity": 3}]],
    )
    reason: str = Field(min_length=3, max_length=500, examples=["damaged in transit"])


class ReturnReceiptRequest(DraftSubmission):
    """The goods of an authorised return arrived (a `return_receipt` draft): restock or scrap, then credit."""

    disposition: DispositionCode = Field("restock", description="for every line not named in `lines`")
    warehouse: str | None = Field(
        None, max_length=40, description="restock into (the order's entity); default each line's own"
    )
    lines: list[ReturnLineDisposition] = Field(default_factory=list, max_length=200, description="per order line")


# --- receivables -------------------------------------------------------------------------


class PaymentRequest(DraftSubmission):
    """Money received from a customer (a `customer_payment` draft), applied to the invoices named or oldest due
    first; what is left stays on account."""

    customer: str = Field(min_length=1, max_length=160, examples=["ACME"])
    amount: Decimal = Field(gt=0, le=Decimal(10) ** 12, strict=False, examples=["1200.00"])
    bank_reference: str = Field(min_length=1, max_length=64, examples=["BNK-20261120-0042"])
    currency: str | None = Field(None, max_length=3, description="checked against the customer's entity currency")
    received_on: date | None = Field(None, strict=False, description="default today", examples=["2026-11-20"])
    invoices: list[InvoiceAllocation] = Field(default_factory=list, max_length=100, description="default: oldest due")


class PaymentApplyRequest(DraftSubmission):
    """Apply a payment's cash on account (a `customer_payment` draft)."""

    invoices: list[InvoiceAllocation] = Field(default_factory=list, max_length=100, description="default: oldest due")


class PaymentReversalRequest(DraftSubmission):
    """Reverse a payment (a `payment_reversal` draft): a second person in finance approves it."""

    reason: str = Field(min_length=3, max_length=500, examples=["applied to the wrong customer"])


class PaymentApplicationView(BaseModel):
    invoice: str
    amount: Decimal
    applied_on: date
    reversed: bool


class PaymentView(BaseModel):
    number: str
    customer: str
    entity: str
    currency: str
    amount: Decimal
    applied: Decimal
    unapplied: Decimal
    received_on: date
    bank_reference: str
    status: Literal["posted", "reversed"]
    reversal_reason: str | None
    applications: list[PaymentApplicationView]


class AgeingRow(BaseModel):
    code: str
    name: str
    entity: str
    currency: str
    buckets: dict[str, Decimal] = Field(description="current, 1-30, 31-60, 61-90, 90+ days past due")
    total: Decimal
    past_due: Decimal
    oldest_days_past_due: int
    oldest_invoice: str | None
    on_account: Decimal


class DsoView(BaseModel):
    entity: str
    currency: str
    receivables: Decimal
    credit_sales_90_days: Decimal
    days: Decimal | None
    formula: str


class AgeingReport(BaseModel):
    as_of: date
    customers: list[AgeingRow]
    entities: list[AgeingRow]
    dso: list[DsoView]


class OverdueInvoiceView(BaseModel):
    invoice: str
    customer: str
    entity: str
    currency: str
    issued_on: date
    due_on: date
    days_past_due: int
    bucket: str
    open: Decimal


class CollectionRow(BaseModel):
    rank: int
    customer: str
    name: str
    entity: str
    currency: str
    past_due: Decimal
    past_due_usd: Decimal
    buckets: dict[str, Decimal]
    oldest_days_past_due: int
    oldest_invoice: str | None
    exposure: Decimal
    credit_limit: Decimal
    on_hold: bool
    avg_days_late: Decimal | None
    paid_invoices: int
    on_account: Decimal
    score: Decimal


class CollectionsReport(BaseModel):
    ranking: str
    customers: list[CollectionRow]


class ReturnLineView(BaseModel):
    line_no: int
    sku: str
    quantity: int
    net_price: Decimal
    value: Decimal
    shipment: str
    shipped_on: str
    invoice: str | None
    disposition: str | None
    warehouse: str | None


class CreditNoteView(BaseModel):
    number: str
    invoice: str
    amount: Decimal
    issued_on: str


class ReturnView(BaseModel):
    number: str
    order: str
    customer: str
    entity: str
    status: Literal["authorised", "received", "credited", "cancelled"]
    reason: str
    currency: str
    units: int
    value: Decimal
    credited: Decimal
    authorised_at: Timestamp
    received_at: Timestamp | None
    lines: list[ReturnLineView]
    credit_notes: list[CreditNoteView]


# --- payables ---------------------------------------------------------------------------


class SupplierInvoiceRequest(DraftSubmission):
    """A supplier's invoice to book against a purchase order (a `supplier_invoice` draft), matched three ways."""

    po_number: str = Field(min_length=1, max_length=24, examples=["PO-12"])
    supplier_ref: str = Field(
        min_length=1, max_length=40, description="the supplier's invoice number", examples=["8812"]
    )
    lines: list[InvoiceLineAsked] = Field(
        min_length=1,
        max_length=200,
        description="each: sku or line_no (on the PO), quantity, unit_price",
        examples=[[{"sku": "V-200", "quantity": 40, "unit_price": "41.50"}]],
    )
    supplier: str | None = Field(None, max_length=32, description="checked against the PO's supplier")
    currency: str | None = Field(None, min_length=3, max_length=3, description="must be the PO's")
    invoice_date: date | None = Field(None, description="default today")
    due_date: date | None = Field(None, description="default invoice date + the supplier's terms (30 days)")


class SupplierInvoiceReleaseRequest(DraftSubmission):
    """Approve a held invoice for payment despite its mismatch (a `supplier_invoice_release` draft)."""

    reason: str = Field(min_length=3, max_length=500, examples=["price increase agreed with the supplier"])


class SupplierInvoiceLineView(BaseModel):
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    po_price: Decimal
    price_variance_pct: Decimal
    received: int
    billed_before: int
    result: Literal["matched", "price_over", "over_billed", "not_received"]
    words: str


class SupplierInvoiceView(BaseModel):
    number: str
    supplier: str
    supplier_name: str
    supplier_ref: str
    po: str
    entity: str
    currency: str
    status: Literal["approved", "on_hold"]
    invoice_date: date
    due_date: date
    total: Decimal
    open_amount: Decimal
    days_past_due: int
    booked_by: str
    released_by: str | None
    release_reason: str
    case: str | None
    case_status: str | None
    lines: list[SupplierInvoiceLineView]


class PayablesAgeingRow(BaseModel):
    entity: str
    supplier: str | None = Field(description="null: the entity's total over all its suppliers")
    currency: str
    current: Decimal
    days_1_30: Decimal
    days_31_60: Decimal
    days_61_90: Decimal
    days_over_90: Decimal
    total: Decimal
    past_due: Decimal
    on_hold: Decimal
    invoices: int


class PayablesAgeing(BaseModel):
    as_of: date
    entities: list[PayablesAgeingRow] = Field(description="each entity in its own currency")
    suppliers: list[PayablesAgeingRow] = Field(
        description="each entity and supplier, in the currency the supplier bills"
    )


class DueInvoice(BaseModel):
    number: str
    entity: str
    supplier: str
    supplier_ref: str
    po: str
    currency: str
    due_date: date
    open_amount: Decimal
    status: Literal["approved", "on_hold"]
    days_past_due: int


class DueTotal(BaseModel):
    entity: str
    supplier: str | None
    currency: str
    overdue: Decimal
    due: Decimal
    total: Decimal
    on_hold: Decimal
    invoices: int


class PayablesDue(BaseModel):
    as_of: date
    until: date
    invoices: list[DueInvoice]
    entities: list[DueTotal]
    suppliers: list[DueTotal]


# --- records and health ------------------------------------------------------------------


class RecordTable(BaseModel):
    columns: list[str]
    rows: list[list[str]]


# --- master data and credit ---------------------------------------------------------------


class MasterDataChangeRequest(DraftSubmission):
    """Create or change an item, customer, supplier, price-list price, contract price or substitute (a
    `master_data_change` draft); the preview lists every field before → after."""

    change: MasterDataChangeDraft = Field(
        description="record (item, customer, supplier, price, contract, substitute), code (SKU, customer or "
        "supplier code; for price, contract and substitute the SKU), create, and the fields the record takes",
        examples=[{"record": "item", "code": "V-200", "cost": "41.50"}],
    )


class CreditLimitRequest(DraftSubmission):
    """A customer's new credit limit, in its entity's currency (a `credit_limit_change` draft)."""

    credit_limit: Decimal = Field(ge=0, le=1_000_000_000, strict=False, examples=["30000"])
    reason: str = Field("", max_length=500, examples=["two years of on-time payment"])


class CreditHoldRequest(DraftSubmission):
    """Put a customer on credit hold (a `credit_hold` draft); their draft orders go on hold with it."""

    reason: str = Field(min_length=3, max_length=500, examples=["3 invoices unpaid"])


class MasterDataRecord(BaseModel):
    record: Literal["item", "customer", "supplier", "price_list"]
    code: str
    entity: str | None
    fields: list[Fact]
    related: list[str] = Field(description="prices, contract prices or approved substitutes (at most 50)")


class Record(BaseModel):
    ref: str
    kind: Literal[
        "item",
        "sales_order",
        "sales_order_line",
        "shipment",
        "invoice",
        "purchase_order",
        "transfer",
        "draft",
        "exception",
        "customer",
        "stock_adjustment",
        "return_authorisation",
        "credit_note",
        "supplier_invoice",
        "payment",
    ]
    title: str
    fields: list[Fact]
    table: RecordTable | None = None
    link: str | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


# --- planning runs and proposals -----------------------------------------------------------------


class PlanningRunRequest(Strict):
    """Run exception detection and the planning analyses now, over your entities (or those named)."""

    only: list[str] | None = Field(
        None, max_length=20, description="the analyses to run by name (detection, replenishment, ...); omit for all"
    )
    entities: list[str] = Field(default_factory=list, max_length=20, description="entity codes; omit for all yours")


class PlanningAnalysisView(BaseModel):
    name: str
    raised: int
    refreshed: int
    closed: int
    kept: int
    seconds: float
    error: str | None


class PlanningRunView(BaseModel):
    id: int
    trigger: str
    requested_by: str | None
    as_of: date
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    seconds: float | None
    scoped: bool = Field(description="run over some entities only (not the whole group)")
    analyses: list[PlanningAnalysisView]
    errors: list[dict[str, str | None]]


class PlanningRunList(BaseModel):
    runs: list[PlanningRunView]


class ProposalsRequest(Strict):
    """Open the proposed drafts of several cases at once: each becomes an unconfirmed preview of yours."""

    cases: list[str] = Field(min_length=1, max_length=50, description="case numbers, e.g. EX-12")


class OpenedProposal(BaseModel):
    case: str
    draft: DraftDetail | None = Field(None, description="the unconfirmed preview; confirm it at POST .../confirm")
    error: dict[str, Any] | None = Field(None, description="why this case's proposal could not be opened")


class OpenedProposals(BaseModel):
    proposals: list[OpenedProposal]


# --- import ----------------------------------------------------------------------------------------------


class ImportColumn(BaseModel):
    name: str
    type: str
    required: bool
    example: str
    doc: str


class ImportKind(BaseModel):
    """One kind of import file: its name (the file's or sheet's), key, the kinds it refers to, and its columns."""

    name: str
    title: str
    doc: str
    key: list[str]
    depends: list[str]
    columns: list[ImportColumn]


class ImportProblem(BaseModel):
    """Where a problem is (row 1 is the header; 0 is the file itself) and what to fix."""

    file: str
    row: int
    column: str
    message: str


class ImportRefusal(BaseModel):
    key: str
    column: str
    reason: str


class ImportKindCounts(BaseModel):
    kind: str
    created: int
    updated: int
    unchanged: int
    refused: list[ImportRefusal]


class ImportResult(BaseModel):
    """What an import did (`applied`) or would do: counts per kind in load order, and every problem (the first 200
    of `problem_count`). Any problem means nothing was written."""

    ok: bool
    applied: bool
    dry_run: bool
    kinds: list[ImportKindCounts]
    problems: list[ImportProblem]
    problem_count: int

"""What the HTTP API accepts and returns: pydantic models, so the OpenAPI schema is the contract."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from core.drafts.kinds import KINDS, ArrivalLineDraft, StockAdjustmentDraft, StockLineDraft
from core.text import NUL_REFUSED, has_nul

MAX_MESSAGE_CHARS = 4000
DRAFT_KINDS: list[JsonValue] = [kind.value for kind in sorted(KINDS)]


def _in_utc(value: datetime) -> datetime:
    """The core keeps naive UTC; on the wire a time carries its offset, as RFC 3339 `date-time` requires."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Timestamp = Annotated[datetime, AfterValidator(_in_utc)]


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


class TokenView(BaseModel):
    id: int
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    revoked_at: Timestamp | None = None


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
    urgency: float = Field(description="higher is more urgent: value, age and SLA combined")
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


class Fulfilment(BaseModel):
    order: str
    status: str
    customer: str
    open_units: int
    backordered_units: int
    lines: list[FulfilmentLine]
    shipments: list[ShipmentView]


# --- records and health ------------------------------------------------------------------


class RecordTable(BaseModel):
    columns: list[str]
    rows: list[list[str]]


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

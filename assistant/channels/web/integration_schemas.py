"""What other systems send to /api/integrations/ and what they get back: the contract of documents in."""

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from assistant.channels.web.schemas import ShipLine, Strict, Timestamp, iso_day
from core.drafts.kinds import StockLineDraft

Day = Annotated[date, BeforeValidator(iso_day), Field(strict=False, description="YYYY-MM-DD")]


class IncomingOrderLine(Strict):
    sku: str = Field(min_length=1, max_length=40, examples=["V-200"])
    quantity: int = Field(ge=1, le=1_000_000, description="whole units")
    unit_price: Decimal | None = Field(
        None,
        ge=0,
        le=10**9,
        strict=False,
        description="the unit price your system charged, in the customer's currency; the order is priced here, "
        "and a line whose price differs is refused. Omit to take the price here.",
        examples=["12.50"],
    )


class IncomingOrder(Strict):
    """A sales order from a web shop or an EDI partner: becomes a confirmed `sales_order` draft."""

    customer: str = Field(min_length=1, max_length=160, description="the customer's code here", examples=["ACME"])
    warehouse: str | None = Field(
        None, max_length=40, description="the warehouse every line ships from; omit to let the ERP choose"
    )
    lines: list[IncomingOrderLine] = Field(min_length=1, max_length=200)
    reference: str = Field("", max_length=64, description="your own order number, kept on the order")
    requested_date: Day | None = None
    allow_backorder: bool = Field(False, description="backorder what is short instead of refusing the order")


class IncomingShipment(Strict):
    """A WMS's shipment confirmation of a sales order: becomes a confirmed `shipment` draft."""

    order: str = Field(min_length=1, max_length=24, description="the sales order number", examples=["SO-1042"])
    warehouse: str = Field(min_length=1, max_length=40, description="the warehouse it left from", examples=["DAL"])
    lines: list[ShipLine] = Field(
        default_factory=list, max_length=200, description="order lines and units shipped; omit for all reserved"
    )
    carrier: str = Field("", max_length=40, examples=["UPS"])
    service_level: str = Field("", max_length=40, examples=["Ground"])
    tracking_number: str = Field("", max_length=64, examples=["1Z999AA10123456784"])
    packages: int | None = Field(None, ge=1, le=10_000)
    weight_kg: Decimal | None = Field(None, gt=0, le=1_000_000, strict=False)


class IncomingReceipt(Strict):
    """A goods receipt against a purchase order (from a WMS): becomes a confirmed `po_receipt` draft."""

    purchase_order: str = Field(min_length=1, max_length=24, examples=["PO-77"])
    lines: list[StockLineDraft] = Field(min_length=1, max_length=200, description="SKUs and units that arrived")
    close_short: bool = Field(False, description="close the order after this receipt: the rest will not come")


class WaitingFor(BaseModel):
    role: str = Field(examples=["manager"])
    entity: str = Field(examples=["NA"])


class IntegrationResultBody(BaseModel):
    """What a request did; a retry with the same Idempotency-Key gets exactly this again."""

    key: str = Field(description="the Idempotency-Key it was sent with")
    kind: str = Field(examples=["sales_order"])
    draft: str = Field(examples=["DR-12"], description="the draft that carries the document through the gate")
    status: str = Field(examples=["executed"], description="executed, pending_approval, blocked or failed")
    outcome: str = Field(examples=["execute"], description="the policy's decision: execute, needs_approval, block")
    decision: str = Field(description="the policy's decision in words, with its reasons")
    waiting_for: list[WaitingFor] = Field(description="the approvals it still waits for (people, never a system)")
    documents: list[str] = Field(examples=[["SO-1042"]], description="what was created or recorded")
    failure: str | None = None
    reference: str | None = Field(None, description="your own reference, as sent")
    received_at: Timestamp

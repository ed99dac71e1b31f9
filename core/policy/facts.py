"""What the policy engine sees of a draft: plain facts, computed by the drafts module.

Amounts are in the draft's entity currency and, for thresholds that span entities, in USD.
"""

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DraftKind(StrEnum):
    SALES_ORDER = "sales_order"
    TRANSFER = "transfer"
    PURCHASE_ORDER = "purchase_order"
    ORDER_CHANGE = "order_change"
    CREDIT_HOLD_RELEASE = "credit_hold_release"
    PRICE_OVERRIDE = "price_override"
    EXCEPTION_ACTION = "exception_action"
    SHIPMENT = "shipment"
    PO_RECEIPT = "po_receipt"
    TRANSFER_MOVE = "transfer_move"
    STOCK_ADJUSTMENT = "stock_adjustment"


class Facts(BaseModel):
    """The facts one draft is judged on. Optional facts are None when they do not apply to the kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DraftKind
    entity: str = Field(description="code of the legal entity the draft acts in (the sender for a transfer)")
    counterparty_entity: str | None = Field(default=None, description="receiving entity of an intercompany transfer")
    requester_roles: list[str] = Field(default_factory=list)
    currency: str
    amount: Decimal = Field(default=Decimal(0), description="value of the draft in the entity currency")
    amount_usd: Decimal = Field(default=Decimal(0), description="value of the draft in USD")
    quantity: int = Field(default=0, description="total units moved or ordered")
    max_discount_pct: Decimal | None = None
    min_margin_pct: Decimal | None = None
    below_cost: bool = False
    customer: str | None = None
    customer_on_hold: bool | None = None
    credit_limit: Decimal | None = None
    exposure_before: Decimal | None = None
    exposure_after: Decimal | None = None
    intercompany: bool = False
    shortage: bool = Field(default=False, description="it would backorder or miss the requested date")
    over_receipt_pct: Decimal | None = Field(default=None, description="largest over-receipt of a PO line, percent")
    under_receipt_pct: Decimal | None = Field(
        default=None, description="largest shortfall of a PO line closed short, percent"
    )
    discrepancy_units: int | None = Field(default=None, description="transfer units arrived short or damaged")

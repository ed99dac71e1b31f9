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
    SUBSTITUTION = "substitution"
    EXPEDITE = "expedite"
    ORDER_CANCEL = "order_cancel"
    REALLOCATION = "reallocation"
    RETURN_AUTHORISATION = "return_authorisation"
    RETURN_RECEIPT = "return_receipt"
    MASTER_DATA_CHANGE = "master_data_change"
    CREDIT_LIMIT_CHANGE = "credit_limit_change"
    CREDIT_HOLD = "credit_hold"
    SUPPLIER_INVOICE = "supplier_invoice"
    SUPPLIER_INVOICE_RELEASE = "supplier_invoice_release"
    CUSTOMER_PAYMENT = "customer_payment"
    PAYMENT_REVERSAL = "payment_reversal"


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
    margin_after_pct: Decimal | None = Field(
        default=None, description="the order's margin percent after the change, net of absorbed charges"
    )
    days_since_shipment: int | None = Field(
        default=None, description="a return: days since the oldest shipment its units left on"
    )
    record: str | None = Field(
        default=None, description="a master-data change: the record it creates or changes, e.g. 'item V-200'"
    )
    cost_change_pct: Decimal | None = Field(
        default=None, description="a master-data change: how far an item's standard cost moves, percent either way"
    )
    credit_limit_before: Decimal | None = Field(
        default=None, description="a credit-limit change: the limit before it (credit_limit is the one after)"
    )
    mismatched_lines: int | None = Field(
        default=None, description="a supplier invoice: lines that fail the three-way match (price, quantity, receipt)"
    )
    price_variance_pct: Decimal | None = Field(
        default=None, description="a supplier invoice: largest billed unit price above the PO's, percent"
    )
    over_billed_units: int | None = Field(
        default=None, description="a supplier invoice: units billed beyond received and not yet billed, all lines"
    )

"""Return drafts: authorise a return against shipped order lines, and receive it (restock or scrap) with its credit.

The assistant's one return tool takes `ReturnAsked` (an `action` picks authorise or receive, to keep one schema);
the write gate stores it as one of the two kinds below, so the policy judges each on its own facts.
"""

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied, DraftPayload, Payload, Quantity, normalised
from core.errors import InvalidInput
from core.finance.service import credit_status
from core.masterdata.models import Customer
from core.masterdata.service import item_skus, warehouse_codes
from core.money import format_money
from core.numbering import INVOICE, SALES_ORDER
from core.returns.models import DispositionCode, ReturnAuthorisation
from core.returns.service import (
    ReturnRequest,
    authorise_return,
    days_since_shipment,
    get_return,
    receive_return,
    return_value,
)
from core.sales.models import SalesOrderLine


class ReturnLineAsked(Payload):
    line_no: int | None = Field(None, ge=1, description="order line; or give sku")
    sku: str | None = Field(None, max_length=40)
    quantity: int = Quantity


class ReturnAuthorisationDraft(DraftPayload):
    order_number: str = Field(min_length=1, max_length=24, description="e.g. SO-1042")
    lines: list[ReturnLineAsked] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=500)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.order_number)


class ReturnLineDisposition(Payload):
    line_no: int = Field(ge=1)
    disposition: DispositionCode


class ReturnReceiptDraft(DraftPayload):
    rma_number: str = Field(min_length=1, max_length=24, description="e.g. RMA-7")
    disposition: DispositionCode = "restock"
    warehouse: str | None = Field(None, max_length=40, description="restock into; default the line's own")
    lines: list[ReturnLineDisposition] = Field(default_factory=list, max_length=200)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.rma_number)


# The assistant's one return tool (no docstring: it would join the schema the model reads).
class ReturnAsked(DraftPayload):
    REASON_FOR: ClassVar[frozenset[str]] = frozenset({"authorise"})  # the actions that take a reason

    action: Literal["authorise", "receive"]
    order_number: str | None = Field(None, max_length=24, description="authorise: e.g. SO-1042")
    lines: list[ReturnLineAsked] = Field(default_factory=list, max_length=200)
    reason: str | None = Field(None, max_length=500)
    rma_number: str | None = Field(None, max_length=24, description="receive: e.g. RMA-7")
    disposition: DispositionCode = "restock"
    warehouse: str | None = Field(None, max_length=40)

    def subject(self) -> tuple[str, ...]:
        return normalised(self.action, self.order_number or self.rma_number or "")


def _customer(session: Session, rma: ReturnAuthorisation) -> Customer:
    customer = session.get(Customer, rma.customer_id)
    assert customer is not None
    return customer


def _units(session: Session, rma: ReturnAuthorisation) -> str:
    """ "3 x V-200 (line 1), 1 x V-220 (line 2)": units per order line, however many shipments they came from."""
    order_lines = {ln.order_line_id: session.get(SalesOrderLine, ln.order_line_id) for ln in rma.lines}
    skus = item_skus(session, item_ids=[ol.item_id for ol in order_lines.values() if ol])
    units: dict[int, tuple[str, int]] = {}
    for line in rma.lines:
        ol = order_lines[line.order_line_id]
        assert ol is not None
        sku, qty = units.get(ol.line_no, (skus[ol.item_id], 0))
        units[ol.line_no] = (sku, qty + line.quantity)
    return ", ".join(f"{qty} x {sku} (line {no})" for no, (sku, qty) in sorted(units.items()))


def apply_return_authorisation(session: Session, actor: Actor, payload: ReturnAuthorisationDraft) -> Applied:
    """Authorise the units to come back; the credit follows on receipt."""
    rma = authorise_return(
        session,
        actor,
        order_number=payload.order_number,
        lines=[ReturnRequest(ln.quantity, ln.line_no, ln.sku) for ln in payload.lines],
        reason=payload.reason,
    )
    customer = _customer(session, rma)
    before = credit_status(session, actor, customer=customer.code)
    value = return_value(rma)
    days = days_since_shipment(session, rma)
    credit, after = format_money(value, rma.currency), format_money(before.exposure - value, rma.currency)
    return Applied(
        result_ref=rma.number,
        entity_id=rma.entity_id,
        currency=rma.currency,
        amount=value,
        summary=(
            f"Return from {customer.code} on {SALES_ORDER.format(rma.order_id)}: {_units(session, rma)}; "
            f"reason: {rma.reason}; {credit} to credit on receipt"
        ),
        quantity=sum(ln.quantity for ln in rma.lines),
        facts={
            "customer": customer.code,
            "days_since_shipment": days,
            "exposure_before": before.exposure,
            "exposure_after": before.exposure - value,
        },
        effects=[
            f"{SALES_ORDER.format(rma.order_id)}: a return authorisation (RMA) opens; shipped {days} days ago",
            f"on receipt: credit note of {credit}; {customer.code} exposure "
            f"{format_money(before.exposure, rma.currency)} → {after}",
        ],
    )


def apply_return_receipt(session: Session, actor: Actor, payload: ReturnReceiptDraft) -> Applied:
    """Receive the return: restock or scrap each line, and credit the invoices it was billed on."""
    rma = get_return(session, actor, rma_number=payload.rma_number)
    customer = _customer(session, rma)
    before = credit_status(session, actor, customer=customer.code)
    notes = receive_return(
        session,
        actor,
        rma_number=payload.rma_number,
        disposition=payload.disposition,
        warehouse=payload.warehouse,
        dispositions={ln.line_no: ln.disposition for ln in payload.lines},
    )
    after = credit_status(session, actor, customer=customer.code)
    credit = sum((Decimal(n.amount) for n in notes), Decimal(0))
    restocked = [ln for ln in rma.lines if ln.disposition == "restock"]
    scrapped = sum(ln.quantity for ln in rma.lines if ln.disposition == "scrap")
    keys = [(_item_id(session, ln.order_line_id), ln.warehouse_id or 0) for ln in restocked]
    places = warehouse_codes(session, warehouse_ids=[k[1] for k in keys])
    into = sorted({places.get(k[1], "?") for k in keys})
    what = [f"restock {sum(ln.quantity for ln in restocked)} units into {', '.join(into)}"] if restocked else []
    what += [f"scrap {scrapped} units"] if scrapped else []

    def money(amount: Decimal) -> str:
        return format_money(amount, rma.currency)

    credited = "; ".join(f"{money(Decimal(n.amount))} against {INVOICE.format(n.invoice_id)}" for n in notes)
    return Applied(
        result_ref=rma.number,
        entity_id=rma.entity_id,
        currency=rma.currency,
        amount=credit,
        summary=(
            f"Receive {rma.number} from {customer.code}: {_units(session, rma)}; {', '.join(what)}; "
            f"credit {money(credit)}"
        ),
        quantity=sum(ln.quantity for ln in rma.lines),
        keys=sorted(set(keys)),
        facts={
            "customer": customer.code,
            "days_since_shipment": days_since_shipment(session, rma),
            "exposure_before": before.exposure,
            "exposure_after": after.exposure,
        },
        effects=[
            f"{rma.number}: status authorised → {rma.status}",
            *([f"credit note {credited}"] if notes else []),
            f"{customer.code}: receivables {money(before.open_receivables)} → {money(after.open_receivables)}, "
            f"exposure {money(before.exposure)} → {money(after.exposure)}",
        ],
    )


def _item_id(session: Session, order_line_id: int) -> int:
    line = session.get(SalesOrderLine, order_line_id)
    assert line is not None
    return line.item_id


def as_kind(asked: ReturnAsked) -> tuple[str, DraftPayload]:
    """The draft kind and payload a `ReturnAsked` names (authorise needs order, lines, reason; receive an RMA)."""
    if asked.action == "authorise":
        missing = [n for n, v in (("order_number", asked.order_number), ("reason", asked.reason)) if not v]
        missing += ["lines"] if not asked.lines else []
        if missing:
            raise InvalidInput(f"to authorise a return give {', '.join(missing)}")
        return "return_authorisation", ReturnAuthorisationDraft(
            order_number=asked.order_number or "", lines=asked.lines, reason=asked.reason or ""
        )
    if not asked.rma_number:
        raise InvalidInput("to receive a return give rma_number (e.g. RMA-7)")
    return "return_receipt", ReturnReceiptDraft(
        rma_number=asked.rma_number, disposition=asked.disposition, warehouse=asked.warehouse
    )

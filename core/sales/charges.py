"""An order's charges beyond its lines (expedited freight) and the one function that computes an order's margin.

Only tables are read here, so the order view, shipping's invoices and the drafts can all use it without cycles.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.money import round_money
from core.numbering import INVOICE, SHIPMENT
from core.sales.models import OrderCharge, SalesOrderLine
from core.sales.pricing import margin_percent


@dataclass(frozen=True)
class ChargeView:
    kind: str
    amount: Decimal
    currency: str
    carrier: str
    reason: str
    billed: bool
    shipment: str | None
    invoice: str | None
    charged_on: date

    @property
    def treatment(self) -> str:
        """How the charge is carried: absorbed (a cost), billed on an invoice, or billed on the next one."""
        if not self.billed:
            return "absorbed"
        return f"billed on {self.invoice}" if self.invoice else "billed on the next invoice"


@dataclass(frozen=True)
class OrderMargin:
    """Revenue and cost of an order's lines plus its charges: an absorbed charge is cost only; a billed one is
    revenue and cost alike (the customer pays the freight we pay)."""

    revenue: Decimal
    cost: Decimal
    absorbed: Decimal
    billed: Decimal

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_pct(self) -> Decimal:
        return margin_percent(self.margin, self.revenue)


def order_margin(lines: Iterable[SalesOrderLine], charges: Iterable[OrderCharge]) -> OrderMargin:
    """An order's margin: its lines at net price and cost, less absorbed charges (billed ones net out)."""
    lines, charges = list(lines), list(charges)
    goods = sum((ln.net_amount for ln in lines), Decimal(0))
    goods_cost = sum((round_money(Decimal(ln.unit_cost) * ln.quantity) for ln in lines), Decimal(0))
    absorbed = sum((round_money(c.amount) for c in charges if not c.billed), Decimal(0))
    billed = sum((round_money(c.amount) for c in charges if c.billed), Decimal(0))
    return OrderMargin(
        revenue=round_money(goods + billed),
        cost=round_money(goods_cost + absorbed + billed),
        absorbed=round_money(absorbed),
        billed=round_money(billed),
    )


def charges_of(session: Session, order_id: int) -> list[OrderCharge]:
    """The order's charges, oldest first."""
    return list(session.scalars(select(OrderCharge).where(OrderCharge.order_id == order_id).order_by(OrderCharge.id)))


def charge_view(charge: OrderCharge) -> ChargeView:
    return ChargeView(
        kind=charge.kind,
        amount=round_money(charge.amount),
        currency=charge.currency,
        carrier=charge.carrier,
        reason=charge.reason,
        billed=charge.billed,
        shipment=SHIPMENT.format(charge.shipment_id) if charge.shipment_id else None,
        invoice=INVOICE.format(charge.invoice_id) if charge.invoice_id else None,
        charged_on=charge.charged_on,
    )


def unbilled_charges(session: Session, order_id: int) -> list[OrderCharge]:
    """Charges billed to the customer that no invoice carries yet: the order's next shipment invoice takes them."""
    return [c for c in charges_of(session, order_id) if c.billed and c.invoice_id is None]

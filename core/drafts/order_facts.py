"""What a draft that touches a sales order reports: the order's value, units and the facts the policy judges."""

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.actor import Actor
from core.drafts.base import Applied
from core.finance.service import credit_status
from core.masterdata.models import Customer, LegalEntity
from core.sales.models import SalesOrder
from core.sales.pricing import margin
from core.stock.models import DemandSource
from core.stock.service import reservations_for


def order_facts(session: Session, actor: Actor, order: SalesOrder) -> dict[str, Any]:
    """What the policy judges an order on: discount, margin, below cost, the customer's credit, a shortage."""
    claims = reservations_for(session, DemandSource.SALES_ORDER_LINE, [ln.id for ln in order.lines])
    margins = [margin(ln.net_price, ln.unit_cost, ln.quantity)[1] for ln in order.lines]
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    credit = credit_status(session, actor, customer=customer.code)
    short = any(c.backordered for c in claims.values()) or any(
        ln.promise_date is None or ln.promise_date > order.requested_date for ln in order.lines
    )
    return {
        "max_discount_pct": max(Decimal(ln.discount_pct) for ln in order.lines),
        "min_margin_pct": min(margins),
        "below_cost": any(ln.net_price < ln.unit_cost for ln in order.lines),
        "customer": customer.code,
        "customer_on_hold": customer.on_credit_hold,
        "credit_limit": credit.credit_limit,
        "exposure_after": credit.exposure,
        "shortage": short,
    }


def order_applied(session: Session, actor: Actor, order: SalesOrder, summary: str) -> Applied:
    return Applied(
        result_ref=order.number,
        entity_id=order.entity_id,
        currency=order.currency,
        amount=sum((ln.net_amount for ln in order.lines), Decimal(0)),
        summary=summary,
        quantity=sum(ln.quantity for ln in order.lines),
        keys=[(ln.item_id, ln.warehouse_id) for ln in order.lines],
        facts=order_facts(session, actor, order),
    )


def entity_currency(session: Session, entity_id: int) -> str:
    entity = session.get(LegalEntity, entity_id)
    return entity.base_currency if entity else "USD"

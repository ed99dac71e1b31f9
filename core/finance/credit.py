"""Credit management: a customer's credit limit, and putting a customer on credit hold (releasing it is
`core.finance.service.release_credit_hold`).

Who may ask is `Permission.MANAGE_CREDIT` (a salesperson may ask for a customer's limit to rise); whether it
happens at once or waits for finance is the policy's decision on the draft.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor, Permission
from core.errors import InvalidInput, InvalidState
from core.masterdata.changes import locked
from core.masterdata.models import Customer
from core.masterdata.service import get_customer
from core.money import round_money
from core.sales.models import OrderStatus, SalesOrder
from core.text import require_storable

MAX_CREDIT_LIMIT = Decimal("1000000000")


@dataclass(frozen=True)
class LimitChange:
    customer: Customer
    before: Decimal
    after: Decimal


def change_credit_limit(session: Session, actor: Actor, *, customer: str, credit_limit: Decimal) -> LimitChange:
    """Set a customer's credit limit (in its entity's currency); orders already confirmed stay as they are."""
    actor.require(Permission.MANAGE_CREDIT)
    cust = get_customer(session, actor, code=customer)
    locked(session, cust)
    if not Decimal(credit_limit).is_finite() or credit_limit < 0:
        raise InvalidInput(f"a credit limit is 0 or more, got {credit_limit}")
    if credit_limit > MAX_CREDIT_LIMIT:
        raise InvalidInput(f"a credit limit of {credit_limit:,} is beyond any customer's; check the figure")
    before, after = round_money(cust.credit_limit), round_money(credit_limit)
    if before == after:
        raise InvalidInput(f"{cust.code}'s credit limit is already {after:,.2f}; nothing would change")
    cust.credit_limit = after
    session.flush()
    return LimitChange(cust, before, after)


def place_credit_hold(session: Session, actor: Actor, *, customer: str, reason: str) -> tuple[Customer, list[str]]:
    """Put a customer on credit hold with the reason; their draft orders go on hold as confirming one would put it
    (confirmed orders keep their stock; new orders and changes are blocked by the policy). Returns the customer
    and the numbers of the orders held."""
    actor.require(Permission.MANAGE_CREDIT)
    cleaned = reason.strip()
    if len(cleaned) < 3:
        raise InvalidInput("a credit hold needs a reason (invoices overdue, payment bounced, ...)")
    require_storable(cleaned, "the reason")
    cust = get_customer(session, actor, code=customer)
    locked(session, cust)
    if cust.on_credit_hold:
        raise InvalidState(f"customer {cust.code} is already on credit hold: {cust.credit_hold_reason or 'no reason'}")
    cust.on_credit_hold = True
    cust.credit_hold_reason = cleaned[:500]
    held = []
    for order in session.scalars(
        select(SalesOrder)
        .where(SalesOrder.customer_id == cust.id, SalesOrder.status == OrderStatus.DRAFT.value)
        .order_by(SalesOrder.id)
    ):
        order.status = OrderStatus.ON_HOLD.value
        order.hold_reason = f"customer {cust.code} is on credit hold: {cust.credit_hold_reason}"
        held.append(order.number)
    session.flush()
    return cust, held

"""Expedited freight charged on an order (or one of its shipments): amount in the order's currency, carrier, reason.

Absorbed by default: a cost of the order that lowers its margin (and the entity's in the margin report). Billed to
the customer: it goes on the order's next shipment invoice, so only an order with something left to ship can bill
one (after the last shipment, absorb it).
"""

from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from core import clock
from core.actor import ROLE_PERMISSIONS, Actor, Permission
from core.errors import CurrencyMismatch, InvalidInput, InvalidState, PermissionDenied
from core.money import round_money
from core.sales.models import ChargeKind, OrderCharge, OrderStatus, SalesOrder
from core.sales.service import OPEN_STATUSES, get_order
from core.shipping.service import get_shipment
from core.text import require_storable

MAX_CHARGE = Decimal(1_000_000)
CHARGEABLE = (*OPEN_STATUSES, OrderStatus.INVOICED)


def check_amount(amount: object) -> Decimal:
    """A positive amount to the cent, at most MAX_CHARGE."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInput(f"the charge must be an amount of money, got {amount!r}")
    value = round_money(value)
    if value <= 0:
        raise InvalidInput(f"the charge must be more than 0, got {amount}")
    if value > MAX_CHARGE:
        raise InvalidInput(f"a freight charge of {value:,.2f} is more than the {MAX_CHARGE:,.0f} one charge may be")
    return value


def _text(value: str, what: str, shortest: int, longest: int) -> str:
    require_storable(value, f"the {what}")
    value = value.strip()
    if not shortest <= len(value) <= longest:
        raise InvalidInput(f"the {what} must have {shortest} to {longest} characters")
    return value


def _require_role(actor: Actor, billed: bool) -> None:
    """Sales (the customer's side) and the warehouse (the shipping side) expedite; only sales bill the customer."""
    if billed:
        actor.require(Permission.SELL)
        return
    allowed = ROLE_PERMISSIONS[Permission.SELL] | ROLE_PERMISSIONS[Permission.MOVE_STOCK]
    if not actor.roles & allowed:
        raise PermissionDenied(
            f"{actor.username} may not charge expedited freight: needs one of the roles {', '.join(sorted(allowed))}"
        )


def _check_order(order: SalesOrder, billed: bool) -> None:
    if order.status not in CHARGEABLE:
        raise InvalidState(
            f"{order.number} is {order.status.replace('_', ' ')}; freight is charged on a confirmed or shipped order"
        )
    if billed and all(ln.open_quantity == 0 for ln in order.lines):
        raise InvalidState(
            f"{order.number} has shipped in full, so no invoice is left to carry a billed charge; absorb it instead"
        )


def charge_expedite(
    session: Session,
    actor: Actor,
    *,
    order_number: str | int,
    amount: Decimal,
    carrier: str,
    reason: str,
    billed: bool = False,
    shipment: str | None = None,
    currency: str | None = None,
) -> OrderCharge:
    """Record expedited freight on an order (optionally one of its shipments), absorbed or billed to the customer."""
    _require_role(actor, billed)
    value = check_amount(amount)
    carrier_name = _text(carrier, "carrier", 1, 40)
    why = _text(reason, "reason", 3, 500)
    order = get_order(session, actor, order_number=order_number, lock=True)
    if currency is not None and currency.strip().upper() != order.currency:
        raise CurrencyMismatch(f"{order.number} is in {order.currency}; give the charge in {order.currency}")
    _check_order(order, billed)
    shipment_id = None
    if shipment:
        found = get_shipment(session, actor, shipment_number=shipment)
        if found.order_id != order.id:
            raise InvalidInput(f"{found.number} is not a shipment of {order.number}")
        shipment_id = found.id
    charge = OrderCharge(
        order_id=order.id,
        entity_id=order.entity_id,
        shipment_id=shipment_id,
        kind=ChargeKind.EXPEDITE.value,
        amount=value,
        currency=order.currency,
        carrier=carrier_name,
        reason=why,
        billed=billed,
        charged_on=clock.today(),
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    session.add(charge)
    session.flush()
    return charge

"""Shipping a confirmed sales order: whole, some lines or part of a line, each shipment from one warehouse.

A shipment leaves one warehouse. From a line's own warehouse it ships what is reserved there; from another
warehouse of the order's entity (a split shipment) it takes free stock there and gives the line's claim back
at home, backordered units first, so nothing is promised twice. Every shipment is invoiced for what it
carries (as ever), and records how it travels and its milestones (picked, packed, shipped, delivered).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.audit import AuditContext, record_event
from core.documents import load_document
from core.errors import InvalidInput, InvalidState
from core.finance.models import Invoice
from core.masterdata.models import Customer, Warehouse
from core.masterdata.service import get_warehouse_in_scope, item_skus, warehouse_codes
from core.money import round_money
from core.numbering import INVOICE, SALES_ORDER, SHIPMENT
from core.outbox.service import publish
from core.sales.charges import ChargeView, unbilled_charges
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from core.sales.service import OPEN_STATUSES, OrderView, get_order, order_status
from core.shipping.carriers import split_carrier
from core.shipping.models import MILESTONE_ORDER, Milestone, ShipmentMilestone
from core.stock.models import DemandSource, Movement, Reservation
from core.stock.service import Key, Posting, check_quantity, open_posting, reservations_for
from core.text import require_storable

MAX_PACKAGES = 10_000
MAX_WEIGHT_KG = Decimal(1_000_000)
Plan = list[tuple[SalesOrderLine, int]]  # (order line, units to ship)


@dataclass(frozen=True)
class ShipmentDetails:
    """How a shipment travels, and the pick and pack times when they are known at shipping."""

    carrier: str = ""
    service_level: str = ""
    tracking_number: str = ""
    packages: int | None = None
    weight_kg: Decimal | None = None
    picked_at: datetime | None = None
    packed_at: datetime | None = None


# --- Ship ---------------------------------------------------------------------------


def ship_order(
    session: Session,
    actor: Actor,
    *,
    order_number: str | int,
    quantities: dict[int, int] | None = None,
    warehouse: str | None = None,
    details: ShipmentDetails | None = None,
    shipped_on: date | None = None,
) -> list[Shipment]:
    """Ship what is reserved (or `quantities` by line number) and invoice each shipment.

    From the `warehouse` named: one shipment, split from other lines' warehouses if need be. Without one:
    a shipment from each warehouse the lines are reserved at."""
    actor.require(Permission.SHIP)
    travel = _checked_details(details or ShipmentDetails())
    order = get_order(session, actor, order_number=order_number, lock=True)
    _require_shippable(order)
    source = _order_warehouse(session, actor, order, warehouse) if warehouse else None
    claims = reservations_for(session, DemandSource.SALES_ORDER_LINE, [line.id for line in order.lines])
    plan = _shipping_plan(order, claims, quantities, source)
    groups = _by_source(plan, source)
    if len(groups) > 1 and travel.tracking_number:
        raise InvalidInput(
            f"{order.number} ships from {len(groups)} warehouses; a tracking number belongs to one shipment, "
            "so name the warehouse it ships from"
        )
    keys = [
        (ln.item_id, w) for source_id, part in groups.items() for ln, _ in part for w in {ln.warehouse_id, source_id}
    ]
    posting = open_posting(session, actor, keys, "sales_order", order.id)
    day = shipped_on or clock.today()
    shipments = [
        _ship_from(session, actor, posting, order, claims, source_id, part, travel, day)
        for source_id, part in sorted(groups.items())
    ]
    done = all(line.qty_shipped == line.quantity for line in order.lines)
    order.status = (OrderStatus.INVOICED if done else OrderStatus.PARTIALLY_SHIPPED).value
    session.flush()
    return shipments


def _by_source(plan: Plan, source: Warehouse | None) -> dict[int, Plan]:
    """The plan by the warehouse each part leaves from: the one named, else each line's own."""
    groups: dict[int, Plan] = {}
    for line, quantity in plan:
        groups.setdefault(source.id if source else line.warehouse_id, []).append((line, quantity))
    return groups


def _ship_from(
    session: Session,
    actor: Actor,
    posting: Posting,
    order: SalesOrder,
    claims: dict[int, Reservation],
    source_id: int,
    plan: Plan,
    travel: ShipmentDetails,
    day: date,
) -> Shipment:
    """One shipment from one warehouse: stock out, lines shipped and invoiced, its milestones."""
    shipment = _new_shipment(session, actor, order, source_id, day, travel)
    posting.ref_type, posting.ref_id = "shipment", shipment.id
    for line, quantity in plan:
        _ship_line(posting, claims[line.id], (line.item_id, source_id), quantity)
        shipment.lines.append(ShipmentLine(order_line_id=line.id, quantity=quantity))
        line.qty_shipped += quantity
        line.qty_invoiced += quantity
    posting.allocate_backorders([(ln.item_id, ln.warehouse_id) for ln, _ in plan if ln.warehouse_id != source_id])
    invoice = _invoice_for(session, order, shipment, plan, day)
    _bill_charges(session, order, invoice)
    _record_shipping_milestones(session, actor, shipment, travel, day)
    _publish_shipped(session, order, shipment, invoice, plan)
    return shipment


def _publish_shipped(session: Session, order: SalesOrder, shipment: Shipment, invoice: Invoice, plan: Plan) -> None:
    """The order's shipment and its invoice, as two events of the order (in this order, for receivers)."""
    skus = item_skus(session, item_ids=[line.item_id for line, _ in plan])
    common = {"order": order.number, "shipment": shipment.number}
    publish(
        session,
        type="sales_order.shipped",
        document_type="sales_order",
        document_number=order.number,
        entity_id=order.entity_id,
        payload={
            **common,
            "shipped_on": shipment.shipped_on,
            "warehouse": warehouse_codes(session, warehouse_ids=[shipment.warehouse_id or 0]).get(
                shipment.warehouse_id or 0
            ),
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "lines": [{"line": line.line_no, "sku": skus.get(line.item_id), "quantity": qty} for line, qty in plan],
            "order_status": order.status,
        },
    )
    publish(
        session,
        type="sales_order.invoiced",
        document_type="sales_order",
        document_number=order.number,
        entity_id=order.entity_id,
        payload={
            **common,
            "invoice": invoice.number,
            "currency": invoice.currency,
            "amount": invoice.amount,
            "issued_on": invoice.issued_on,
            "due_on": invoice.due_on,
        },
    )


def _checked_details(details: ShipmentDetails) -> ShipmentDetails:
    for text, what, longest in (
        (details.carrier, "carrier", 40),
        (details.service_level, "service level", 40),
        (details.tracking_number, "tracking number", 64),
    ):
        require_storable(text, f"the {what}")
        if len(text.strip()) > longest:
            raise InvalidInput(f"the {what} may have at most {longest} characters")
    if details.packages is not None and not 1 <= details.packages <= MAX_PACKAGES:
        raise InvalidInput(f"packages must be between 1 and {MAX_PACKAGES:,}, got {details.packages}")
    if details.weight_kg is not None and not Decimal(0) < Decimal(details.weight_kg) <= MAX_WEIGHT_KG:
        raise InvalidInput(f"weight must be above 0 and at most {MAX_WEIGHT_KG:,} kg, got {details.weight_kg}")
    carrier, service_level = split_carrier(details.carrier, details.service_level)
    return ShipmentDetails(
        carrier=carrier,
        service_level=service_level,
        tracking_number=details.tracking_number.strip(),
        packages=details.packages,
        weight_kg=details.weight_kg,
        picked_at=details.picked_at,
        packed_at=details.packed_at,
    )


def _require_shippable(order: SalesOrder) -> None:
    if order.status in OPEN_STATUSES:
        return
    held = f" ({order.hold_reason})" if order.status == OrderStatus.ON_HOLD and order.hold_reason else ""
    raise InvalidState(f"{order.number} is {order.status.replace('_', ' ')}{held}; only a confirmed order ships")


def _order_warehouse(session: Session, actor: Actor, order: SalesOrder, code: str) -> Warehouse:
    """The warehouse named, which must be one of the order's entity (a customer is served by its own entity)."""
    warehouse = get_warehouse_in_scope(session, actor, code=code)
    if warehouse.entity_id != order.entity_id:
        codes = ", ".join(
            session.scalars(
                select(Warehouse.code).where(Warehouse.entity_id == order.entity_id).order_by(Warehouse.code)
            )
        )
        raise InvalidInput(f"{warehouse.code} does not ship {order.number}; its entity ships from {codes}")
    return warehouse


def _shipping_plan(
    order: SalesOrder, claims: dict[int, Reservation], quantities: dict[int, int] | None, source: Warehouse | None
) -> Plan:
    """(line, quantity) to ship: everything reserved (at `source`, if named), or the quantities asked for."""
    if quantities is None:
        plan = [
            (line, claims[line.id].quantity)
            for line in order.lines
            if line.id in claims and claims[line.id].quantity > 0 and (source is None or line.warehouse_id == source.id)
        ]
        if not plan:
            where = f" at {source.code}" if source else ""
            raise InvalidState(
                f"{order.number} has nothing reserved{where} to ship; name the lines and quantities to ship"
                + (" from there" if source else "")
            )
        return plan
    if not quantities:
        raise InvalidInput("name at least one line to ship")
    by_no = {line.line_no: line for line in order.lines}
    plan = []
    for line_no, quantity in sorted(quantities.items()):
        line = by_no.get(line_no)
        if line is None:
            raise InvalidInput(f"{order.number} has no line {line_no}; lines are {sorted(by_no)}")
        check_quantity(quantity, f"quantity to ship on line {line_no}")
        claim = claims.get(line.id)
        from_home = source is None or source.id == line.warehouse_id
        available = (claim.quantity if claim else 0) if from_home else line.open_quantity
        if quantity > available:
            why = _left(line, claim, from_home)
            raise InvalidInput(f"cannot ship {quantity} on line {line_no} of {order.number}: {why}")
        plan.append((line, quantity))
    return plan


def _left(line: SalesOrderLine, claim: Reservation | None, from_home: bool) -> str:
    """Why no more can ship: from the line's warehouse what is reserved there, from another what is left at all."""
    if not from_home:
        return f"only {line.open_quantity} left to ship ({line.quantity} ordered, {line.qty_shipped} shipped)"
    reserved, waiting = (claim.quantity, claim.backordered) if claim else (0, 0)
    backordered = f", {waiting} backordered" if waiting else ""
    return (
        f"only {reserved} reserved ({line.open_quantity} left to ship of {line.quantity} ordered{backordered}); "
        "ship the rest from another warehouse or once stock arrives"
    )


def _new_shipment(
    session: Session, actor: Actor, order: SalesOrder, warehouse_id: int, day: date, travel: ShipmentDetails
) -> Shipment:
    shipment = Shipment(
        order_id=order.id,
        shipped_on=day,
        created_by=actor.user_id,
        warehouse_id=warehouse_id,
        carrier=travel.carrier,
        service_level=travel.service_level,
        tracking_number=travel.tracking_number,
        packages=travel.packages,
        weight_kg=travel.weight_kg,
    )
    session.add(shipment)
    session.flush()
    return shipment


def _ship_line(posting: Posting, claim: Reservation, source: Key, quantity: int) -> None:
    """Ship a line's units: its reservation at home, or free stock at `source` while the home claim gives way."""
    if source == (claim.item_id, claim.warehouse_id):
        posting.consume(claim, quantity, Movement.SHIPMENT)
        return
    posting.release(claim, quantity)
    posting.issue_free(source, quantity, Movement.SHIPMENT)


def _invoice_for(session: Session, order: SalesOrder, shipment: Shipment, plan: Plan, day: date) -> Invoice:
    customer = session.get(Customer, order.customer_id)
    assert customer is not None
    amount = round_money(sum((line.net_price * qty for line, qty in plan), Decimal(0)))
    cost = round_money(sum((line.unit_cost * qty for line, qty in plan), Decimal(0)))
    return Invoice(
        entity_id=order.entity_id,
        customer_id=order.customer_id,
        order_id=order.id,
        shipment_id=shipment.id,
        currency=order.currency,
        amount=amount,
        cost=cost,
        issued_on=day,
        due_on=day + timedelta(days=customer.payment_terms_days),
    )


def _bill_charges(session: Session, order: SalesOrder, invoice: Invoice) -> None:
    """Charges billed to the customer (expedited freight) go on the order's next invoice, as revenue and cost."""
    pending = unbilled_charges(session, order.id)
    invoice.amount = round_money(Decimal(invoice.amount) + sum((Decimal(c.amount) for c in pending), Decimal(0)))
    invoice.cost = round_money(Decimal(invoice.cost) + sum((Decimal(c.amount) for c in pending), Decimal(0)))
    session.add(invoice)
    session.flush()
    for charge in pending:
        charge.invoice_id = invoice.id


# --- Milestones ------------------------------------------------------------------------


def _record_shipping_milestones(
    session: Session, actor: Actor, shipment: Shipment, travel: ShipmentDetails, day: date
) -> None:
    """Shipped now (or on the day given, time unknown); picked and packed when their times were given."""
    now = clock.now()
    shipped_at = now if day == now.date() else datetime.combine(day, time.min)
    known = [(Milestone.PICKED, travel.picked_at), (Milestone.PACKED, travel.packed_at)]
    for milestone, at in [*((m, t) for m, t in known if t is not None), (Milestone.SHIPPED, shipped_at)]:
        _add_milestone(session, actor, shipment, milestone, at)


def _add_milestone(session: Session, actor: Actor, shipment: Shipment, milestone: Milestone, at: datetime) -> None:
    recorded = _milestones(session, shipment.id)
    _check_milestone_time(shipment, recorded, milestone, at)
    session.add(
        ShipmentMilestone(
            shipment_id=shipment.id,
            milestone=milestone.value,
            happened_at=at,
            recorded_at=clock.now(),
            recorded_by=actor.user_id,
        )
    )
    session.flush()


def _milestones(session: Session, shipment_id: int) -> dict[Milestone, datetime]:
    rows = session.scalars(select(ShipmentMilestone).where(ShipmentMilestone.shipment_id == shipment_id))
    return {Milestone(r.milestone): r.happened_at for r in rows}


def _check_milestone_time(
    shipment: Shipment, recorded: dict[Milestone, datetime], milestone: Milestone, at: datetime
) -> None:
    """Each milestone once, not in the future, and in order: picked ≤ packed ≤ shipped ≤ delivered."""
    if milestone in recorded:
        raise InvalidState(f"{shipment.number} was already {milestone.value} at {recorded[milestone]:%Y-%m-%d %H:%M}")
    if at > clock.now():
        raise InvalidInput(f"{milestone.value} at {at:%Y-%m-%d %H:%M} is in the future")
    rank = MILESTONE_ORDER.index(milestone)
    for other, other_at in recorded.items():
        before = MILESTONE_ORDER.index(other) < rank
        if (before and other_at > at) or (not before and other_at < at):
            raise InvalidInput(
                f"{shipment.number} was {other.value} at {other_at:%Y-%m-%d %H:%M}; it cannot be {milestone.value} "
                f"{'before' if before else 'after'} that ({at:%Y-%m-%d %H:%M})"
            )


def record_milestone(
    session: Session,
    actor: Actor,
    *,
    shipment_number: str | int,
    milestone: str,
    at: datetime | None = None,
    channel: str = "system",
) -> ShipmentMilestone:
    """Record that a shipment was picked, packed or delivered (now, or at the time given); audited."""
    actor.require(Permission.MOVE_STOCK)
    try:
        step = Milestone(milestone.strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown milestone '{milestone}'; milestones are {', '.join(MILESTONE_ORDER)}") from None
    shipment = get_shipment(session, actor, shipment_number=shipment_number, lock=True)
    happened = at or clock.now()
    _add_milestone(session, actor, shipment, step, happened)
    order = session.get(SalesOrder, shipment.order_id)
    record_event(
        session,
        AuditContext(actor_user_id=actor.user_id, channel=channel),
        action="shipment.milestone",
        subject_type="shipment",
        subject_id=shipment.number,
        entity_id=order.entity_id if order else None,
        data={"milestone": step.value, "at": happened.isoformat()},
    )
    return session.scalars(
        select(ShipmentMilestone).where(
            ShipmentMilestone.shipment_id == shipment.id, ShipmentMilestone.milestone == step.value
        )
    ).one()


# --- Reading ---------------------------------------------------------------------------


def get_shipment(session: Session, actor: Actor, *, shipment_number: str | int, lock: bool = False) -> Shipment:
    """The shipment with its lines, if its order's entity is in the actor's scope."""
    shipment = load_document(session, Shipment, shipment_number, kind=SHIPMENT, lock=lock, lines=Shipment.lines)
    order = session.get(SalesOrder, shipment.order_id)
    assert order is not None
    actor.require_entity(order.entity_id, f"shipment {shipment.number}")
    return shipment


@dataclass(frozen=True)
class ShippedLine:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShipmentView:
    number: str
    order: str
    warehouse: str
    shipped_on: date
    carrier: str
    service_level: str
    tracking_number: str
    packages: int | None
    weight_kg: Decimal | None
    invoice: str | None
    milestones: list[tuple[str, datetime]]
    lines: list[ShippedLine] = field(default_factory=list)

    @property
    def latest(self) -> tuple[str, datetime]:
        """The furthest milestone reached (a shipment is always at least shipped)."""
        return max(self.milestones, key=lambda m: MILESTONE_ORDER.index(Milestone(m[0])))


@dataclass(frozen=True)
class FulfilmentView:
    """An order's fulfilment: its lines (ordered, shipped, reserved, backordered) and its shipments."""

    order: OrderView
    shipments: list[ShipmentView]

    @property
    def open_units(self) -> int:
        return sum(ln.quantity - ln.shipped for ln in self.order.lines)

    @property
    def backordered_units(self) -> int:
        return sum(ln.backordered for ln in self.order.lines)

    @property
    def charges(self) -> list[ChargeView]:
        """Expedited freight and other charges on the order, absorbed or billed."""
        return self.order.charges


def shipment_status(session: Session, actor: Actor, *, shipment_number: str | int) -> ShipmentView:
    """One shipment as a person reads it: where from, how it travels, its milestones and lines."""
    shipment = get_shipment(session, actor, shipment_number=shipment_number)
    return _shipment_views(session, [shipment])[0]


def fulfilment_status(session: Session, actor: Actor, *, order_number: str | int) -> FulfilmentView:
    """Where an order stands: what shipped in which shipment (tracking, milestones), what is open or backordered."""
    view = order_status(session, actor, order_number=order_number)
    order_id = get_order(session, actor, order_number=order_number).id
    shipments = list(
        session.scalars(
            select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id).limit(MAX_SHIPMENTS_SHOWN)
        )
    )
    return FulfilmentView(order=view, shipments=_shipment_views(session, shipments))


MAX_SHIPMENTS_SHOWN = 50


def _shipment_views(session: Session, shipments: list[Shipment]) -> list[ShipmentView]:
    if not shipments:
        return []
    ids = [s.id for s in shipments]
    line_rows = session.execute(
        select(ShipmentLine.shipment_id, SalesOrderLine.line_no, SalesOrderLine.item_id, SalesOrderLine.warehouse_id)
        .add_columns(ShipmentLine.quantity)
        .join(SalesOrderLine, SalesOrderLine.id == ShipmentLine.order_line_id)
        .where(ShipmentLine.shipment_id.in_(ids))
        .order_by(ShipmentLine.shipment_id, SalesOrderLine.line_no)
    ).all()
    skus = item_skus(session, item_ids={r.item_id for r in line_rows})
    homes = {r.shipment_id: r.warehouse_id for r in line_rows}
    codes = warehouse_codes(session, warehouse_ids={s.warehouse_id or homes.get(s.id, 0) for s in shipments} - {0})
    marks: dict[int, list[tuple[str, datetime]]] = {i: [] for i in ids}
    for m in session.scalars(select(ShipmentMilestone).where(ShipmentMilestone.shipment_id.in_(ids))):
        marks[m.shipment_id].append((m.milestone, m.happened_at))
    invoices = dict(session.execute(select(Invoice.shipment_id, Invoice.id).where(Invoice.shipment_id.in_(ids))).all())
    views = []
    for s in shipments:
        steps = sorted(marks[s.id], key=lambda m: MILESTONE_ORDER.index(Milestone(m[0])))
        views.append(
            ShipmentView(
                number=s.number,
                order=SALES_ORDER.format(s.order_id),
                warehouse=codes.get(s.warehouse_id or homes.get(s.id, 0), "?"),
                shipped_on=s.shipped_on,
                carrier=s.carrier,
                service_level=s.service_level,
                tracking_number=s.tracking_number,
                packages=s.packages,
                weight_kg=s.weight_kg,
                invoice=INVOICE.format(invoices[s.id]) if s.id in invoices else None,
                milestones=steps or [(Milestone.SHIPPED.value, datetime.combine(s.shipped_on, time.min))],
                lines=[
                    ShippedLine(r.line_no, skus.get(r.item_id, "?"), r.quantity)
                    for r in line_rows
                    if r.shipment_id == s.id
                ],
            )
        )
    return views


__all__ = [
    "FulfilmentView",
    "ShipmentDetails",
    "ShipmentView",
    "fulfilment_status",
    "get_shipment",
    "record_milestone",
    "ship_order",
    "shipment_status",
]

"""Setting the stage: the records, drafts and tokens the actions name."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Role
from core.conversations import open_conversation
from core.db import Database
from core.demo.directory import WAREHOUSES, user_for
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, current_policy, draft_action
from core.exceptions import ExceptionCase, detect_exceptions
from core.exceptions.models import ACTIVE_STATUSES
from core.identity import issue_token
from core.masterdata.models import Customer, Item, ItemSubstitute, Supplier
from core.masterdata.service import load_actor
from core.numbering import SALES_ORDER
from core.policy import evaluate
from core.policy.facts import Facts
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.receivables.models import CustomerPayment, PaymentStatus
from core.returns.service import ReturnRequest, authorise_return
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from core.stock.models import DemandSource, Reservation, StockBalance
from evals.common.company import entity_id_of, most_available_sku
from evals.hardening.access.cells import (
    DISCOUNT_NEEDING_A_MANAGER,
    HOLD_REASON,
    TARGETS,
    Cell,
    Pending,
    Place,
    subjects,
)

# --- Setting the stage ---------------------------------------------------------------------------


def _main_warehouses(entity: str) -> list[str]:
    return [w.code for w in sorted(WAREHOUSES, key=lambda w: w.rank) if w.entity == entity]


def _customers(session: Session, entity_id: int) -> list[Customer]:
    return list(session.scalars(select(Customer).where(Customer.entity_id == entity_id).order_by(Customer.id)))


def _held_customer(session: Session, customers: list[Customer]) -> str:
    """A customer on credit hold; the entity's last customer is put on hold when none is."""
    held = next((c for c in customers if c.on_credit_hold), None)
    if held is None:
        held = customers[-1]
        held.on_credit_hold, held.credit_hold_reason = True, HOLD_REASON
        session.flush()
    return held.code


def _first_number(session: Session, query: Any) -> str:
    document = session.scalars(query.limit(1)).one()
    return str(document.number)


def _shippable(session: Session, entity_id: int) -> tuple[str, int]:
    """The first open order of the entity with stock reserved on a line, and that line's number."""
    order_id, line_no = session.execute(
        select(SalesOrder.id, SalesOrderLine.line_no)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(Reservation, Reservation.source_id == SalesOrderLine.id)
        .where(
            SalesOrder.entity_id == entity_id,
            SalesOrder.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value]),
            Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
            Reservation.quantity > 0,
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    return SALES_ORDER.format(order_id), line_no


def _substitutable(session: Session, entity_id: int) -> tuple[str, int, str]:
    """The first unshipped line of a confirmed order of the entity whose approved substitute is free to reserve at
    the line's warehouse: (order, line number, the substitute's SKU)."""
    free = StockBalance.on_hand - StockBalance.reserved - StockBalance.backordered
    order_id, line_no, sku = session.execute(
        select(SalesOrder.id, SalesOrderLine.line_no, Item.sku)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(ItemSubstitute, ItemSubstitute.item_id == SalesOrderLine.item_id)
        .join(Item, Item.id == ItemSubstitute.substitute_id)
        .join(
            StockBalance,
            (StockBalance.item_id == Item.id) & (StockBalance.warehouse_id == SalesOrderLine.warehouse_id),
        )
        .where(
            SalesOrder.entity_id == entity_id,
            SalesOrder.status == OrderStatus.CONFIRMED.value,
            SalesOrderLine.qty_shipped == 0,
            Item.active.is_(True),
            free >= SalesOrderLine.quantity,
        )
        .order_by(SalesOrder.id, SalesOrderLine.line_no, ItemSubstitute.priority)
        .limit(1)
    ).one()
    return SALES_ORDER.format(order_id), line_no, sku


def _returnable(session: Session, entity: str, entity_id: int) -> tuple[tuple[str, int], str]:
    """An order line of the entity shipped at least 2 units, and a return of 1 of them authorised by its manager
    (so one more may still be authorised): ((order, line number), RMA number)."""
    order_id, line_no = session.execute(
        select(SalesOrder.id, SalesOrderLine.line_no)
        .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
        .join(ShipmentLine, ShipmentLine.order_line_id == SalesOrderLine.id)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(SalesOrder.entity_id == entity_id, ShipmentLine.quantity >= 2)
        .order_by(Shipment.shipped_on.desc(), SalesOrder.id, SalesOrderLine.line_no)
        .limit(1)
    ).one()
    manager = load_actor(session, username=user_for(Role.MANAGER, entity))
    one = [ReturnRequest(1, line_no=line_no)]
    rma = authorise_return(session, manager, order_number=order_id, lines=one, reason="staged for the access matrix")
    return (SALES_ORDER.format(order_id), line_no), rma.number


def _payment(session: Session, entity_id: int) -> str:
    payments = select(CustomerPayment).where(
        CustomerPayment.entity_id == entity_id, CustomerPayment.status == PaymentStatus.POSTED.value
    )
    return _first_number(session, payments.order_by(CustomerPayment.id.desc()))


def _case(session: Session, entity_id: int) -> ExceptionCase:
    active = [s.value for s in ACTIVE_STATUSES]
    cases = select(ExceptionCase).where(ExceptionCase.entity_id == entity_id, ExceptionCase.status.in_(active))
    return session.scalars(cases.order_by(ExceptionCase.type != "shortage", ExceptionCase.id).limit(1)).one()


def _place(session: Session, entity: str) -> Place:
    entity_id = entity_id_of(session, entity)
    warehouses = _main_warehouses(entity)
    customers = _customers(session, entity_id)
    held = _held_customer(session, customers)
    case = _case(session, entity_id)
    owners = (user_for(Role.SALES, entity), user_for(Role.WAREHOUSE, entity))
    shipped, rma = _returnable(session, entity, entity_id)
    return Place(
        entity=entity,
        warehouse=warehouses[0],
        second_warehouse=warehouses[1],
        sku=most_available_sku(session, warehouses[0]),
        customer=next(c.code for c in customers if not c.on_credit_hold),
        held_customer=held,
        order=_first_number(
            session,
            select(SalesOrder)
            .where(SalesOrder.entity_id == entity_id, SalesOrder.status == OrderStatus.CONFIRMED.value)
            .order_by(SalesOrder.id),
        ),
        shippable=_shippable(session, entity_id),
        substitutable=_substitutable(session, entity_id),
        shipped=shipped,
        rma=rma,
        payment=_payment(session, entity_id),
        purchase_order=_first_number(
            session, select(PurchaseOrder).where(PurchaseOrder.entity_id == entity_id).order_by(PurchaseOrder.id)
        ),
        open_purchase_order=_first_number(
            session,
            select(PurchaseOrder)
            .where(PurchaseOrder.entity_id == entity_id, PurchaseOrder.status == PurchaseOrderStatus.OPEN.value)
            .order_by(PurchaseOrder.id),
        ),
        supplier=str(
            session.scalars(
                select(Supplier.code).where(Supplier.entity_id == entity_id).order_by(Supplier.code)
            ).first()
        ),
        case=case.number,
        case_role=case.owner_role,
        manager=user_for(Role.MANAGER, entity),
        conversations={owner: _conversation(session, owner) for owner in owners},
    )


def _conversation(session: Session, owner: str) -> str:
    actor = load_actor(session, username=owner)
    return open_conversation(session, actor, channel="web", title=f"{owner}'s own thread").id


def _pending(db: Database, place: Place) -> Pending:
    """A sales order drafted by the entity's salesperson at a discount that needs a manager's approval."""
    requester = user_for(Role.SALES, place.entity)
    payload = {
        "customer": place.customer,
        "lines": [{"sku": place.sku, "quantity": 1, "discount_pct": DISCOUNT_NEEDING_A_MANAGER}],
    }

    def command(session: Session) -> Pending:
        actor = load_actor(session, username=requester)
        draft = draft_action(session, RequestContext(actor, "web"), confirmed=True, kind="sales_order", payload=payload)
        return _as_pending(draft, requester)

    return db.run(command)


def _as_pending(draft: DraftAction, requester: str) -> Pending:
    decision = evaluate(Facts.model_validate(draft.facts), current_policy())
    return Pending(
        number=draft.number,
        requester=requester,
        approver_roles=frozenset(r.role for r in decision.requirements),
        amount_usd=Decimal(draft.amount_usd),
    )


@dataclass(frozen=True)
class Stage:
    places: dict[str, Place]
    cells: list[Cell]
    tokens: dict[str, str]


def prepare(db: Database) -> Stage:
    """Cases raised, a customer on hold in each entity, conversations, tokens, and every cell's drafts."""
    db.run(lambda s: detect_exceptions(s))
    places = db.run(lambda s: {entity: _place(s, entity) for entity in TARGETS})
    people = subjects()
    tokens = db.run(lambda s: {p.username: _token(s, p.username) for p in people})
    shown = {entity: _pending(db, place) for entity, place in places.items()}  # read, never decided
    cells = [
        Cell(
            person,
            places[entity],
            {"approve": _pending(db, places[entity]), "reject": _pending(db, places[entity]), "read": shown[entity]},
        )
        for person in people
        for entity in TARGETS
    ]
    return Stage(places, cells, tokens)


def _token(session: Session, username: str) -> str:
    return issue_token(session, load_actor(session, username=username), name="access matrix", days=1).token

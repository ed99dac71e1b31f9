"""The cast of a run in any company: one entity's people, two of its warehouses, a few scarce items and customers."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor, Role
from core.masterdata.models import Customer, Item, Supplier, User, Warehouse
from core.masterdata.service import get_entity, load_actor
from core.stock.models import StockBalance

ENTITY = "NA"
SCARCE_VALUE = Decimal(3000)  # about this much list value of stock per scarce position
SCARCE_UNITS = (3, 40)


@dataclass(frozen=True)
class ScarceItem:
    sku: str
    list_price: Decimal
    standard_cost: Decimal
    units: int  # free stock set at each warehouse before the run


@dataclass(frozen=True)
class Scene:
    """Who acts on what: one entity's people, two of its warehouses, a few scarce items, a few customers."""

    entity: str
    warehouses: tuple[str, str]
    items: tuple[ScarceItem, ...]
    customers: tuple[str, ...]
    supplier: str
    seller: str
    clerk: str
    buyer: str
    approvers: tuple[str, ...]


def find_scene(session: Session, *, entity: str = ENTITY, items: int = 3) -> Scene:
    """The cast in any company: picked by role, scope and price, so the demo and the test world both serve."""
    scope = get_entity(session, code=entity)
    actors = [load_actor(session, username=u) for u in session.scalars(select(User.username).order_by(User.username))]
    local = [a for a in actors if a.can_see(scope.id)]
    seller, clerk, buyer = (_first_with(local, role) for role in (Role.SALES, Role.WAREHOUSE, Role.BUYER))
    approvers = tuple(a.username for a in local if a.roles & {Role.MANAGER, Role.FINANCE})
    warehouses = tuple(
        session.scalars(select(Warehouse.code).where(Warehouse.entity_id == scope.id).order_by(Warehouse.code))
    )
    return Scene(
        entity=scope.code,
        warehouses=(warehouses[0], warehouses[1]),
        items=_scarce_items(session, scope.id, items),
        customers=tuple(
            session.scalars(
                select(Customer.code)
                .where(Customer.entity_id == scope.id, Customer.on_credit_hold.is_(False))
                .order_by(Customer.code)
                .limit(4)
            )
        ),
        supplier=str(
            session.scalars(
                select(Supplier.code)
                .where(Supplier.entity_id == scope.id, Supplier.currency == scope.base_currency)
                .order_by(Supplier.code)
            ).first()
        ),
        seller=seller,
        clerk=clerk,
        buyer=buyer,
        approvers=approvers[:4],
    )


def _first_with(actors: Sequence[Actor], role: Role) -> str:
    """The first user holding `role` and no manager role (so the policy treats them as staff)."""
    return next(a.username for a in actors if role in a.roles and Role.MANAGER not in a.roles)


def _scarce_items(session: Session, entity_id: int, count: int) -> tuple[ScarceItem, ...]:
    """Items in stock in the entity, spread from the cheapest to the dearest (the dear ones need approval)."""
    rows = session.execute(
        select(Item.sku, Item.list_price, Item.standard_cost)
        .join(StockBalance, StockBalance.item_id == Item.id)
        .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
        .where(Warehouse.entity_id == entity_id, StockBalance.on_hand > 0, Item.active.is_(True), Item.list_price > 0)
        .distinct()
        .order_by(Item.list_price, Item.sku)
    ).all()
    picks = sorted({round(i * (len(rows) - 1) / max(1, count - 1)) for i in range(count)})
    return tuple(_scarce(rows[i].sku, Decimal(rows[i].list_price), Decimal(rows[i].standard_cost)) for i in picks)


def _scarce(sku: str, price: Decimal, cost: Decimal) -> ScarceItem:
    low, high = SCARCE_UNITS
    return ScarceItem(sku, price, cost, max(low, min(high, int(SCARCE_VALUE / price))))

"""Who gets stock first: the one ranking of claims on an item at a warehouse, and the backorder queue it makes.

Freed or arriving stock goes to waiting backorders in this order (`priority`):
  1. a customer's order before other demand (a transfer's claim): a customer is waiting, a warehouse can wait;
  2. among customers' orders, the customer's tier: A, then B, then C (an unknown tier after C);
  3. then the older order (its order date), then the older claim (its id) - first come, first served.
Transfers' claims among themselves go by age (the transfer's creation, then the claim).
When reserved stock turns out not to be there (a count), the claims give it back in the reverse order: the
lowest-ranked claim waits first.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.masterdata.models import Customer, Item, Warehouse
from core.numbering import SALES_ORDER, TRANSFER
from core.sales.models import SalesOrder, SalesOrderLine
from core.stock.models import DemandSource, Reservation
from core.transfers.models import Transfer, TransferLine

Key = tuple[int, int]  # (item_id, warehouse_id), as core.stock.service has it
TIER_RANK = {"A": 0, "B": 1, "C": 2}
Rank = tuple[int, int, date, int]


@dataclass(frozen=True)
class Claimant:
    """A claim with what ranks it: the customer's tier and the order's date (None for a transfer's claim)."""

    reservation: Reservation
    customer: str | None
    tier: str | None
    placed: date
    document: str  # "SO-12 line 1" or "TR-4"

    @property
    def rank(self) -> Rank:
        return priority(self.tier, self.placed, self.reservation.id, customer=self.customer is not None)


def priority(tier: str | None, placed: date, claim_id: int, *, customer: bool) -> Rank:
    """The sort key of a claim: smaller goes first (customers, then tier A-B-C, then age)."""
    if not customer:
        return (1, 0, placed, claim_id)
    return (0, TIER_RANK.get((tier or "").strip().upper(), len(TIER_RANK)), placed, claim_id)


def ranked_claims(session: Session, keys: list[Key], *, waiting: bool) -> list[Claimant]:
    """The claims on these items and warehouses, best first: those waiting (`waiting`) or those holding stock."""
    if not keys:
        return []
    held = Reservation.backordered > 0 if waiting else Reservation.quantity > 0
    where = [and_(Reservation.item_id == i, Reservation.warehouse_id == w) for i, w in keys]
    query = (
        select(
            Reservation,
            Customer.code,
            Customer.tier,
            SalesOrder.id,
            SalesOrder.order_date,
            SalesOrderLine.line_no,
            Transfer.id,
            Transfer.created_at,
        )
        .outerjoin(
            SalesOrderLine,
            and_(
                Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                SalesOrderLine.id == Reservation.source_id,
            ),
        )
        .outerjoin(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .outerjoin(Customer, Customer.id == SalesOrder.customer_id)
        .outerjoin(
            TransferLine,
            and_(Reservation.source_type == DemandSource.TRANSFER_LINE.value, TransferLine.id == Reservation.source_id),
        )
        .outerjoin(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(held, or_(*where))
    )
    claimants = []
    for claim, code, tier, order_id, order_date, line_no, transfer_id, created in session.execute(query):
        if order_id is not None:
            document = f"{SALES_ORDER.format(order_id)} line {line_no}"
            claimants.append(Claimant(claim, code, tier, order_date, document))
        else:
            document = TRANSFER.format(transfer_id) if transfer_id is not None else f"claim {claim.id}"
            claimants.append(Claimant(claim, None, None, created.date() if created else date.min, document))
    return sorted(claimants, key=lambda c: c.rank)


# --- The queue as people read it ---------------------------------------------------------


@dataclass(frozen=True)
class WaitingBackorder:
    """One claim waiting for stock, with its place in its item's queue at its warehouse (1: next to be served)."""

    position: int
    sku: str
    warehouse: str
    document: str
    customer: str | None
    tier: str | None
    placed: date
    backordered: int
    reserved: int
    rank: Rank


def backorder_queue(
    session: Session, actor: Actor, *, sku: str | None = None, warehouse: str | None = None
) -> list[WaitingBackorder]:
    """Every claim waiting for stock at the actor's warehouses, best-ranked first (customers, tier, age); each with
    its position in its own item's queue at its warehouse."""
    query = (
        select(Reservation.item_id, Reservation.warehouse_id, Item.sku, Warehouse.code)
        .join(Item, Item.id == Reservation.item_id)
        .join(Warehouse, Warehouse.id == Reservation.warehouse_id)
        .where(Reservation.backordered > 0, Warehouse.entity_id.in_(actor.entity_ids))
        .distinct()
    )
    labels = {
        (i, w): (s, c)
        for i, w, s, c in session.execute(query)
        if (sku is None or s.casefold() == sku.strip().casefold())
        and (warehouse is None or c.casefold() == warehouse.strip().casefold())
    }
    queue: list[WaitingBackorder] = []
    for key in sorted(labels):
        for position, c in enumerate(ranked_claims(session, [key], waiting=True), start=1):
            queue.append(
                WaitingBackorder(
                    position=position,
                    sku=labels[key][0],
                    warehouse=labels[key][1],
                    document=c.document,
                    customer=c.customer,
                    tier=c.tier,
                    placed=c.placed,
                    backordered=c.reservation.backordered,
                    reserved=c.reservation.quantity,
                    rank=c.rank,
                )
            )
    return sorted(queue, key=lambda b: (b.rank[:3], b.sku, b.warehouse, b.position))

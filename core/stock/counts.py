"""Cycle counts and stock adjustments: what a person found on the shelf, posted with its reason at standard cost.

A count states the units on the shelf; the difference from the book is posted. A write-off (damage,
shrinkage) or a find states the units lost or found. Either way one `StockAdjustment` row records the
reason, the book quantity before, the change and its value at the item's standard cost in the warehouse's
entity currency, and the ledger row that moves on-hand points at it.

Counting cannot make stock negative. A count below what is reserved does not pretend the units are
there: the reserved units it takes become backorders of the orders they were promised to (the newest
claims first), so the shortage shows on those orders and in the exceptions, and the draft says so.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.documents import load_document
from core.errors import InsufficientStock, InvalidInput
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import get_item, get_warehouse_in_scope
from core.money import format_money, round_money
from core.numbering import STOCK_ADJUSTMENT
from core.sales.pricing import standard_costs
from core.stock.models import AdjustmentReason, StockAdjustment, StockBalance
from core.stock.service import MAX_QUANTITY, check_quantity, lock_balances, post_adjustment

LOSSES = frozenset({AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE})


def reason_of(reason: str | None, *, counted: bool) -> AdjustmentReason:
    """The reason code; a count may leave it out (a correction of the book), a write-off or find may not."""
    if reason is None or not reason.strip():
        if counted:
            return AdjustmentReason.CORRECTION
        raise InvalidInput("say why: damage, shrinkage, found, or give the counted quantity for a correction")
    try:
        return AdjustmentReason(reason.strip().casefold())
    except ValueError:
        codes = ", ".join(r.value for r in AdjustmentReason)
        raise InvalidInput(f"unknown reason '{reason}'; reasons are {codes}") from None


def check_count(counted: object) -> int:
    """A whole number of units from 0 (the shelf is empty) to the most one line may carry."""
    if isinstance(counted, bool) or not isinstance(counted, int):
        raise InvalidInput(f"the counted quantity must be a whole number of units, got {counted!r}")
    if counted < 0:
        raise InvalidInput(f"the counted quantity cannot be negative, got {counted}")
    if counted > MAX_QUANTITY:
        raise InvalidInput(f"counted {counted} is larger than the {MAX_QUANTITY:,} units one position may hold")
    return counted


def _change_for(reason: AdjustmentReason, quantity: int) -> int:
    """The signed change of a write-off or find of `quantity` units."""
    if reason is AdjustmentReason.CORRECTION:
        raise InvalidInput("a correction is a count: give the counted quantity instead of a number of units")
    return -quantity if reason in LOSSES else quantity


def _check_direction(reason: AdjustmentReason, change: int, book: int, counted: int) -> None:
    """Damage and shrinkage only lower stock, a find only raises it."""
    if reason in LOSSES and change > 0:
        raise InvalidInput(
            f"counted {counted} is more than the {book} on the books; {reason.value} can only lower stock "
            "(use found or correction)"
        )
    if reason is AdjustmentReason.FOUND and change < 0:
        raise InvalidInput(
            f"counted {counted} is less than the {book} on the books; found can only raise stock "
            "(use damage, shrinkage or correction)"
        )


@dataclass(frozen=True)
class _Position:
    item: Item
    warehouse: Warehouse
    balance: StockBalance

    @property
    def label(self) -> str:
        return f"{self.item.sku} at {self.warehouse.code}"


def _position(session: Session, actor: Actor, *, sku: str, warehouse: str) -> _Position:
    """The item at a warehouse in the actor's scope, its balance locked for the count."""
    actor.require(Permission.MOVE_STOCK)
    item = get_item(session, sku=sku)
    wh = get_warehouse_in_scope(session, actor, code=warehouse)
    key = (item.id, wh.id)
    return _Position(item, wh, lock_balances(session, [key])[key])


def count_stock(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str,
    counted: int,
    reason: str | None = None,
    note: str = "",
) -> StockAdjustment:
    """A cycle count: the units counted become the on-hand; the difference is posted with its reason."""
    check_count(counted)
    code = reason_of(reason, counted=True)
    position = _position(session, actor, sku=sku, warehouse=warehouse)
    change = counted - position.balance.on_hand
    _check_direction(code, change, position.balance.on_hand, counted)
    return _post(session, actor, position, code, change, counted=counted, note=note)


def write_off_or_find(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str,
    quantity: int,
    reason: str,
    note: str = "",
) -> StockAdjustment:
    """Units lost (damage, shrinkage: written off) or found (added), posted with the reason."""
    check_quantity(quantity, "the adjustment quantity")
    change = _change_for(reason_of(reason, counted=False), quantity)
    position = _position(session, actor, sku=sku, warehouse=warehouse)
    if position.balance.on_hand + change < 0:
        raise InsufficientStock(
            [
                {
                    "sku": position.item.sku,
                    "warehouse": position.warehouse.code,
                    "requested": quantity,
                    "available": position.balance.on_hand,
                }
            ]
        )
    return _post(session, actor, position, reason_of(reason, counted=False), change, counted=None, note=note)


def record_adjustment(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str,
    reason: str | None,
    counted: int | None = None,
    quantity: int | None = None,
    note: str = "",
) -> StockAdjustment:
    """A count (`counted`) or a write-off or find (`quantity`): exactly one of the two."""
    if (counted is None) == (quantity is None):
        raise InvalidInput("give either the counted quantity (a count) or a number of units written off or found")
    if counted is not None:
        return count_stock(session, actor, sku=sku, warehouse=warehouse, counted=counted, reason=reason, note=note)
    assert quantity is not None
    return write_off_or_find(
        session, actor, sku=sku, warehouse=warehouse, quantity=quantity, reason=reason or "", note=note
    )


def _post(
    session: Session,
    actor: Actor,
    position: _Position,
    reason: AdjustmentReason,
    change: int,
    *,
    counted: int | None,
    note: str,
) -> StockAdjustment:
    """Record the adjustment valued at standard cost, then move on-hand (short reserved units become backorders)."""
    balance = position.balance
    currency = position.warehouse.entity.base_currency
    unit_cost = standard_costs(session, items=[position.item], currency=currency, on=clock.today())[position.item.id]
    adjustment = StockAdjustment(
        item_id=position.item.id,
        warehouse_id=position.warehouse.id,
        entity_id=position.warehouse.entity_id,
        reason=reason.value,
        counted=counted,
        book_quantity=balance.on_hand,
        quantity=change,
        backordered=max(0, balance.reserved - (balance.on_hand + change)),
        unit_cost=unit_cost,
        value=round_money(unit_cost * change),
        currency=currency,
        user_id=actor.user_id,
        posted_at=clock.now(),
        note=note.strip(),
    )
    session.add(adjustment)
    session.flush()
    if change:
        described = f"{reason.value}: {adjustment.note}" if adjustment.note else reason.value
        key = (position.item.id, position.warehouse.id)
        post_adjustment(
            session, actor, key=key, quantity=change, note=described, ref_id=adjustment.id, backorder_shortfall=True
        )
    return adjustment


def get_adjustment(session: Session, actor: Actor, *, number: str | int) -> StockAdjustment:
    """A posted count or adjustment of a warehouse in the actor's entities."""
    adjustment = load_document(session, StockAdjustment, number, kind=STOCK_ADJUSTMENT, lock=False)
    actor.require_entity(adjustment.entity_id, f"stock adjustment {adjustment.number}")
    return adjustment


def describe(adjustment: StockAdjustment, sku: str, warehouse: str) -> str:
    """One sentence for a preview or an answer: what was counted or written off, the change and its value."""
    units = f"{adjustment.quantity:+d} units ({adjustment.reason})"
    value = f"{format_money(Decimal(adjustment.value), adjustment.currency)} at standard cost"
    if adjustment.counted is not None:
        book = adjustment.book_quantity
        what = f"Count of {sku} @ {warehouse}: counted {adjustment.counted} against {book} on the books"
    elif adjustment.quantity < 0:
        what = f"Write-off of {sku} @ {warehouse}"
    else:
        what = f"Stock found of {sku} @ {warehouse}"
    short = (
        f"; {adjustment.backordered} units reserved for orders are not on the shelf and become backorders"
        if adjustment.backordered
        else ""
    )
    return f"{what}: {units}, {value}{short}"

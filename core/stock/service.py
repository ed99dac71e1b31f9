"""Stock commands and queries. Every change posts ledger rows and moves the balance with them.

Balance rows are locked (`FOR UPDATE` on PostgreSQL) in (item, warehouse) order before they
change, so two commands on the same items queue instead of deadlocking.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.errors import InsufficientStock, InvalidInput, OutOfScope
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import get_entity, get_item, get_warehouse_in_scope
from core.stock.atp import Supply, available_on, earliest_date_for, free_stock
from core.stock.models import (
    Bucket,
    DemandSource,
    IncomingSupply,
    LedgerEntry,
    Movement,
    Reservation,
    StockBalance,
    SupplySource,
)
from core.stock.priority import Claimant, ranked_claims

Key = tuple[int, int]  # (item_id, warehouse_id)
MAX_QUANTITY = 1_000_000


def check_quantity(quantity: object, what: str = "quantity") -> int:
    """A whole, positive, plausible quantity, or a clear refusal."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(f"{what} must be a whole number of units, got {quantity!r}")
    if quantity <= 0:
        raise InvalidInput(f"{what} must be at least 1, got {quantity}")
    if quantity > MAX_QUANTITY:
        raise InvalidInput(f"{what} {quantity} is larger than the {MAX_QUANTITY:,} units one line may carry")
    return quantity


def lock_balances(session: Session, keys: Iterable[Key]) -> dict[Key, StockBalance]:
    """The balance rows for `keys`, created if missing and locked in a stable order."""
    ordered = sorted(set(keys))
    found = _select_for_update(session, ordered)
    missing = [k for k in ordered if k not in found]
    if missing:
        _insert_missing(session, missing)
        found = _select_for_update(session, ordered)
    return found


def balance_lock_statement(keys: list[Key]) -> Select[StockBalance]:
    """Balance rows for `keys`, locked in (item, warehouse) order.

    An OR of (item, warehouse) pairs, not a row-value IN: SQLite cannot search the key with the
    latter and would scan every balance while holding the write lock.
    """
    return (
        select(StockBalance)
        .where(or_(*(and_(StockBalance.item_id == i, StockBalance.warehouse_id == w) for i, w in keys)))
        .order_by(StockBalance.item_id, StockBalance.warehouse_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _select_for_update(session: Session, keys: list[Key]) -> dict[Key, StockBalance]:
    return {(b.item_id, b.warehouse_id): b for b in session.scalars(balance_lock_statement(keys))}


def _insert_missing(session: Session, keys: list[Key]) -> None:
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"item_id": i, "warehouse_id": w} for i, w in keys]
    stmt = dialect_insert(StockBalance).values(rows).on_conflict_do_nothing(index_elements=["item_id", "warehouse_id"])
    session.execute(stmt)


@dataclass(frozen=True)
class Fill:
    """Units of free stock a waiting claim received."""

    claimant: Claimant
    units: int

    def describe(self) -> str:
        """ "SO-12 line 1 (ACME, tier A) gets 6 units"."""
        who = f" ({self.claimant.customer}, tier {self.claimant.tier or '?'})" if self.claimant.customer else ""
        return f"{self.claimant.document}{who} gets {self.units} backordered unit{'s' if self.units != 1 else ''}"


@dataclass
class Posting:
    """Everything one command needs to post: who, why, when."""

    session: Session
    balances: dict[Key, StockBalance]
    ref_type: str
    ref_id: int
    user_id: int | None
    note: str = ""

    def move(self, key: Key, bucket: Bucket, movement: Movement, quantity: int) -> LedgerEntry:
        """Append one ledger row and apply it to the balance; refuse to go below zero."""
        balance = self.balances[key]
        if bucket is Bucket.ON_HAND:
            if balance.on_hand + quantity < balance.reserved:
                self._refuse(key, -quantity, balance.on_hand - balance.reserved)
            balance.on_hand += quantity
        else:
            if balance.in_transit + quantity < 0:
                raise InvalidInput(f"in-transit stock would go negative for {self._label(key)}")
            balance.in_transit += quantity
        entry = LedgerEntry(
            item_id=key[0],
            warehouse_id=key[1],
            bucket=bucket.value,
            movement=movement.value,
            quantity=quantity,
            ref_type=self.ref_type,
            ref_id=self.ref_id,
            posted_at=clock.now(),
            user_id=self.user_id,
            note=self.note,
        )
        self.session.add(entry)
        return entry

    def _names(self, key: Key) -> tuple[str, str]:
        """(SKU, warehouse code) for an error message; looked up only when one is raised."""
        item, warehouse = self.session.get(Item, key[0]), self.session.get(Warehouse, key[1])
        return (item.sku if item else str(key[0]), warehouse.code if warehouse else str(key[1]))

    def _label(self, key: Key) -> str:
        sku, warehouse = self._names(key)
        return f"{sku} at {warehouse}"

    def _refuse(self, key: Key, requested: int, available: int) -> None:
        sku, warehouse = self._names(key)
        raise InsufficientStock(
            [
                {
                    "sku": sku,
                    "warehouse": warehouse,
                    "requested": requested,
                    "available": max(0, available),
                }
            ]
        )

    def reserve(
        self,
        key: Key,
        source: DemandSource,
        source_id: int,
        quantity: int,
        *,
        allow_backorder: bool,
    ) -> Reservation:
        """Open a demand line's claim; the part not in stock is refused or backordered."""
        reservation = Reservation(
            item_id=key[0],
            warehouse_id=key[1],
            quantity=0,
            backordered=0,
            source_type=source.value,
            source_id=source_id,
        )
        self.extend(reservation, quantity, allow_backorder=allow_backorder)
        self.session.add(reservation)
        return reservation

    def extend(self, reservation: Reservation, quantity: int, *, allow_backorder: bool) -> None:
        """Claim `quantity` more: reserve what is free, backorder the rest (or refuse)."""
        key = (reservation.item_id, reservation.warehouse_id)
        balance = self.balances[key]
        free = free_stock(balance.on_hand, balance.reserved, balance.backordered)
        if quantity > free and not allow_backorder:
            self._refuse(key, quantity, free)
        reserved = min(quantity, free)
        reservation.quantity += reserved
        reservation.backordered += quantity - reserved
        balance.reserved += reserved
        balance.backordered += quantity - reserved

    def release(self, reservation: Reservation, quantity: int | None = None) -> None:
        """Give back a claim: backordered units first, then reserved ones (all by default)."""
        balance = self.balances[(reservation.item_id, reservation.warehouse_id)]
        remaining = reservation.quantity + reservation.backordered if quantity is None else quantity
        from_backorder = min(remaining, reservation.backordered)
        reservation.backordered -= from_backorder
        balance.backordered -= from_backorder
        from_reserved = min(remaining - from_backorder, reservation.quantity)
        reservation.quantity -= from_reserved
        balance.reserved -= from_reserved

    def consume(self, reservation: Reservation, quantity: int, movement: Movement) -> None:
        """Ship reserved units out of on-hand stock."""
        key = (reservation.item_id, reservation.warehouse_id)
        if quantity > reservation.quantity:
            sku, warehouse = self._names(key)
            raise InvalidInput(
                f"cannot ship {quantity} of {sku} from {warehouse}: only {reservation.quantity} reserved for it"
            )
        reservation.quantity -= quantity
        self.balances[key].reserved -= quantity
        self.move(key, Bucket.ON_HAND, movement, -quantity)

    def issue_free(self, key: Key, quantity: int, movement: Movement) -> None:
        """Move units out of on-hand stock that no one has reserved or waits for; refuse what is not free."""
        balance = self.balances[key]
        free = free_stock(balance.on_hand, balance.reserved, balance.backordered)
        if quantity > free:
            self._refuse(key, quantity, free)
        self.move(key, Bucket.ON_HAND, movement, -quantity)

    def add_incoming(
        self,
        key: Key,
        source: SupplySource,
        source_id: int,
        quantity: int,
        due_date: date,
    ) -> None:
        """Record dated supply on its way to a warehouse."""
        self.balances[key].incoming += quantity
        self.session.add(
            IncomingSupply(
                item_id=key[0],
                warehouse_id=key[1],
                due_date=due_date,
                quantity=quantity,
                source_type=source.value,
                source_id=source_id,
            )
        )

    def reduce_incoming(self, supply: IncomingSupply, quantity: int) -> None:
        """Supply arrived or was cancelled: it no longer counts as incoming."""
        self.balances[(supply.item_id, supply.warehouse_id)].incoming -= quantity
        supply.quantity -= quantity

    def backorder_reserved(self, key: Key, quantity: int) -> None:
        """Stock that was reserved is not there after all (a count, a write-off): the lowest-ranked claims give back
        `quantity` reserved units, which wait as backorders (the reverse of `allocate_backorders`)."""
        balance = self.balances[key]
        for claimant in reversed(ranked_claims(self.session, [key], waiting=False)):
            reservation = claimant.reservation
            take = min(quantity, reservation.quantity)
            if take <= 0:
                break
            reservation.quantity -= take
            reservation.backordered += take
            balance.reserved -= take
            balance.backordered += take
            quantity -= take

    def allocate_backorders(self, keys: Iterable[Key]) -> list[Fill]:
        """Give free stock to waiting backorders in priority order (`core.stock.priority`: customers by tier, then
        age; transfers after them); returns who got how many units."""
        fills: list[Fill] = []
        for key in sorted(set(keys)):
            balance = self.balances[key]
            free = balance.on_hand - balance.reserved
            if balance.backordered <= 0 or free <= 0:
                continue
            for claimant in ranked_claims(self.session, [key], waiting=True):
                reservation = claimant.reservation
                take = min(free, reservation.backordered)
                if take <= 0:
                    break
                reservation.backordered -= take
                reservation.quantity += take
                balance.backordered -= take
                balance.reserved += take
                free -= take
                fills.append(Fill(claimant, take))
        return fills


def open_posting(
    session: Session,
    actor: Actor | None,
    keys: Iterable[Key],
    ref_type: str,
    ref_id: int,
) -> Posting:
    """Lock the balances a command will touch and return the object that posts to them."""
    keys = list(keys)
    return Posting(
        session=session,
        balances=lock_balances(session, keys),
        ref_type=ref_type,
        ref_id=ref_id,
        user_id=actor.user_id if actor else None,
    )


def reservations_for(session: Session, source: DemandSource, source_ids: Sequence[int]) -> dict[int, Reservation]:
    """The claims of these demand lines, by line id, in one query."""
    if not source_ids:
        return {}
    rows = session.scalars(
        select(Reservation).where(
            Reservation.source_type == source.value,
            Reservation.source_id.in_(source_ids),
        )
    ).all()
    return {r.source_id: r for r in rows}


def incoming_for(session: Session, source: SupplySource, source_ids: Sequence[int]) -> dict[int, IncomingSupply]:
    """The open supply rows of these supply lines, by line id, in one query."""
    if not source_ids:
        return {}
    rows = session.scalars(
        select(IncomingSupply).where(
            IncomingSupply.source_type == source.value,
            IncomingSupply.source_id.in_(source_ids),
        )
    ).all()
    return {r.source_id: r for r in rows}


# --- Commands -----------------------------------------------------------------------


def adjust_stock(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str,
    quantity: int,
    reason: str,
) -> LedgerEntry:
    """Count correction: add (positive) or write off (negative) on-hand stock, with a reason."""
    actor.require(Permission.MOVE_STOCK)
    if not reason.strip():
        raise InvalidInput("an adjustment needs a reason (count, damage, found, ...)")
    if quantity == 0:
        raise InvalidInput("an adjustment of 0 changes nothing")
    check_quantity(abs(quantity), "adjustment quantity")
    item = get_item(session, sku=sku)
    wh = get_warehouse_in_scope(session, actor, code=warehouse)
    return post_adjustment(session, actor, key=(item.id, wh.id), quantity=quantity, note=reason.strip())


def post_adjustment(
    session: Session,
    actor: Actor,
    *,
    key: Key,
    quantity: int,
    note: str,
    ref_id: int = 0,
    backorder_shortfall: bool = False,
) -> LedgerEntry:
    """Post a checked adjustment of on-hand stock; freed stock goes to waiting backorders.

    Stock that is reserved is refused, unless `backorder_shortfall` (a count or a write-off of units that are
    physically gone): then the reserved units it takes wait as backorders of the orders they were promised to.
    """
    posting = open_posting(session, actor, [key], "adjustment", ref_id)
    posting.note = note
    balance = posting.balances[key]
    shortfall = balance.reserved - (balance.on_hand + quantity)
    if backorder_shortfall and shortfall > 0 and balance.on_hand + quantity >= 0:
        posting.backorder_reserved(key, shortfall)
    entry = posting.move(key, Bucket.ON_HAND, Movement.ADJUSTMENT, quantity)
    posting.allocate_backorders([key])
    session.flush()
    return entry


# --- Queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseAtp:
    warehouse: str
    entity: str
    on_hand: int
    reserved: int
    backordered: int
    in_transit: int
    incoming: list[Supply]
    available_now: int
    available_on_date: int
    earliest_date_for_quantity: date | None


@dataclass(frozen=True)
class AtpReport:
    sku: str
    item_name: str
    on_date: date
    quantity: int | None
    warehouses: list[WarehouseAtp]

    @property
    def total_available(self) -> int:
        return sum(w.available_on_date for w in self.warehouses)


def available_to_promise(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    warehouse: str | None = None,
    entity: str | None = None,
    on_date: date | None = None,
    quantity: int | None = None,
) -> AtpReport:
    """ATP of one item by warehouse on a date, for one warehouse, one entity or all in scope.

    Reads the balance and the dated incoming supply; never the ledger. With `quantity`,
    each warehouse also says the earliest date it could promise that many.
    """
    today = clock.today()
    on_date = on_date or today
    if on_date < today:
        raise InvalidInput(f"ATP is for today or later; {on_date} is in the past")
    if quantity is not None:
        check_quantity(quantity)
    item = get_item(session, sku=sku)
    warehouses = _warehouses_in_scope(session, actor, warehouse=warehouse, entity=entity)
    ids = [w.id for w in warehouses]
    balances = {
        b.warehouse_id: b
        for b in session.scalars(
            select(StockBalance).where(StockBalance.item_id == item.id, StockBalance.warehouse_id.in_(ids))
        )
    }
    supply: dict[int, list[Supply]] = {i: [] for i in ids}
    for row in session.execute(
        select(
            IncomingSupply.warehouse_id,
            IncomingSupply.due_date,
            IncomingSupply.quantity,
            IncomingSupply.source_type,
            IncomingSupply.source_id,
        )
        .where(
            IncomingSupply.item_id == item.id,
            IncomingSupply.warehouse_id.in_(ids),
            IncomingSupply.quantity > 0,
        )
        .order_by(IncomingSupply.due_date)
    ):
        supply[row.warehouse_id].append(
            Supply(
                row.due_date,
                row.quantity,
                _source_label(row.source_type, row.source_id),
            )
        )
    rows = [_warehouse_atp(w, balances.get(w.id), supply[w.id], on_date, today, quantity) for w in warehouses]
    return AtpReport(
        sku=item.sku,
        item_name=item.name,
        on_date=on_date,
        quantity=quantity,
        warehouses=rows,
    )


def _source_label(source_type: str, source_id: int) -> str:
    return f"PO line {source_id}" if source_type == SupplySource.PURCHASE_ORDER_LINE else f"transfer line {source_id}"


def _warehouse_atp(
    wh: Warehouse,
    balance: StockBalance | None,
    incoming: list[Supply],
    on_date: date,
    today: date,
    quantity: int | None,
) -> WarehouseAtp:
    on_hand, reserved, backordered, in_transit = (
        (balance.on_hand, balance.reserved, balance.backordered, balance.in_transit) if balance else (0, 0, 0, 0)
    )
    return WarehouseAtp(
        warehouse=wh.code,
        entity=wh.entity.code,
        on_hand=on_hand,
        reserved=reserved,
        backordered=backordered,
        in_transit=in_transit,
        incoming=incoming,
        available_now=available_on(on_hand, reserved, backordered, incoming, today),
        available_on_date=available_on(on_hand, reserved, backordered, incoming, on_date),
        earliest_date_for_quantity=(
            earliest_date_for(quantity, on_hand, reserved, backordered, incoming, today) if quantity else None
        ),
    )


def _warehouses_in_scope(
    session: Session, actor: Actor, *, warehouse: str | None, entity: str | None
) -> list[Warehouse]:
    if warehouse:
        return [get_warehouse_in_scope(session, actor, code=warehouse)]
    query = select(Warehouse).where(Warehouse.entity_id.in_(actor.entity_ids)).order_by(Warehouse.code)
    if entity:
        ent = get_entity(session, code=entity)
        actor.require_entity(ent.id, f"entity {ent.code}")
        query = query.where(Warehouse.entity_id == ent.id)
    warehouses = list(session.scalars(query))
    if not warehouses:
        raise OutOfScope("you have no warehouses in scope")
    return warehouses

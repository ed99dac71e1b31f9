"""What the core can offer for a short order line: stock elsewhere, a transfer, substitutes, the next PO.

Computed for many lines at once in a handful of queries, so a detection pass stays set-based.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from core import clock
from core.errors import NotFound
from core.exceptions.service import chunks
from core.masterdata.models import Customer, Item, ItemSubstitute, Supplier, Warehouse
from core.numbering import PURCHASE_ORDER, SALES_ORDER, SALES_ORDER_LINE
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine
from core.sales.models import SalesOrder, SalesOrderLine
from core.stock.atp import Supply, available_on, free_stock
from core.stock.models import DemandSource, IncomingSupply, Reservation, StockBalance, SupplySource
from core.transfers.models import TRANSIT_DAYS, Transfer, TransferKind, TransferLine

Key = tuple[int, int]  # (item_id, warehouse_id)


@dataclass(frozen=True)
class ShortLine:
    """An order line and what it is short of."""

    line_id: int
    line_no: int
    order_id: int
    entity_id: int
    customer: str
    item_id: int
    sku: str
    warehouse_id: int
    warehouse: str
    requested_date: date
    promise_date: date | None
    open_quantity: int
    reserved: int
    backordered: int

    @property
    def order_number(self) -> str:
        return SALES_ORDER.format(self.order_id)

    @property
    def short(self) -> int:
        """Units of the open quantity not set aside for the line."""
        return max(0, self.open_quantity - self.reserved)

    def identity(self) -> dict[str, Any]:
        """What a case about the line names it by: its order, line, customer, item and warehouse."""
        return {
            "sales_order": self.order_number,
            "sales_order_line": self.line_id,
            "line_no": self.line_no,
            "customer": self.customer,
            "sku": self.sku,
            "warehouse": self.warehouse,
        }


def incoming_with_sources(item_ids: Sequence[int], warehouse_ids: Sequence[int]) -> Select[*tuple[Any, ...]]:
    """Open incoming supply into these items and warehouses, soonest first, with what it comes from: a purchase
    order and its supplier (`po_id`, `supplier_id`, `supplier`), or a transfer (`transfer_id`, `transfer_status`)."""
    return (
        select(
            IncomingSupply.item_id,
            IncomingSupply.warehouse_id,
            IncomingSupply.due_date,
            IncomingSupply.quantity,
            PurchaseOrder.id.label("po_id"),
            Supplier.id.label("supplier_id"),
            Supplier.code.label("supplier"),
            Transfer.id.label("transfer_id"),
            Transfer.status.label("transfer_status"),
        )
        .outerjoin(
            PurchaseOrderLine,
            and_(
                IncomingSupply.source_type == SupplySource.PURCHASE_ORDER_LINE.value,
                PurchaseOrderLine.id == IncomingSupply.source_id,
            ),
        )
        .outerjoin(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
        .outerjoin(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .outerjoin(
            TransferLine,
            and_(
                IncomingSupply.source_type == SupplySource.TRANSFER_LINE.value,
                TransferLine.id == IncomingSupply.source_id,
            ),
        )
        .outerjoin(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(
            IncomingSupply.item_id.in_(item_ids),
            IncomingSupply.warehouse_id.in_(warehouse_ids),
            IncomingSupply.quantity > 0,
        )
        .order_by(IncomingSupply.due_date, IncomingSupply.id)
    )


def short_line_query() -> Select[*tuple[Any, ...]]:
    """Order lines with their reservation, customer, SKU and warehouse; callers add the conditions."""
    return (
        select(
            SalesOrderLine.id,
            SalesOrderLine.line_no,
            SalesOrderLine.order_id,
            SalesOrder.entity_id,
            Customer.code.label("customer"),
            SalesOrderLine.item_id,
            Item.sku,
            SalesOrderLine.warehouse_id,
            Warehouse.code.label("warehouse"),
            SalesOrder.requested_date,
            SalesOrderLine.promise_date,
            (SalesOrderLine.quantity - SalesOrderLine.qty_shipped).label("open_quantity"),
            func.coalesce(Reservation.quantity, 0).label("reserved"),
            func.coalesce(Reservation.backordered, 0).label("backordered"),
        )
        .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
        .join(Customer, Customer.id == SalesOrder.customer_id)
        .join(Item, Item.id == SalesOrderLine.item_id)
        .join(Warehouse, Warehouse.id == SalesOrderLine.warehouse_id)
        .outerjoin(
            Reservation,
            and_(
                Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                Reservation.source_id == SalesOrderLine.id,
            ),
        )
        .order_by(SalesOrderLine.id)
    )


def short_lines(session: Session, query: Select[*tuple[Any, ...]]) -> list[ShortLine]:
    """Run a `short_line_query` and wrap its rows."""
    return [ShortLine(*row) for row in session.execute(query)]


def shortage_suggestions(session: Session, *, order_line_id: int | str) -> list[dict[str, Any]]:
    """For one order line: other warehouses' ATP in its entity, a covering transfer, substitutes, the next PO."""
    line_id = SALES_ORDER_LINE.parse(order_line_id)
    lines = short_lines(session, short_line_query().where(SalesOrderLine.id == line_id))
    if not lines:
        raise NotFound("sales order line", str(order_line_id))
    return suggest_for(session, lines)[line_id]


# --- Many lines at once ------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    due_date: date
    quantity: int
    purchase_order_id: int | None
    supplier: str | None


@dataclass(frozen=True)
class Stock:
    on_hand: int = 0
    reserved: int = 0
    backordered: int = 0

    @property
    def free(self) -> int:
        return free_stock(self.on_hand, self.reserved, self.backordered)


@dataclass(frozen=True)
class Substitute:
    item_id: int
    sku: str
    name: str


class StockPicture:
    """Balances and dated supply for a set of items in a set of warehouses, read in two queries."""

    def __init__(self, session: Session, item_ids: set[int], warehouse_ids: set[int]) -> None:
        self.stock: dict[Key, Stock] = {}
        self.supply: dict[Key, list[Incoming]] = {}
        for batch in chunks(sorted(item_ids)):
            self._read(session, batch, sorted(warehouse_ids))

    def _read(self, session: Session, item_ids: Sequence[int], warehouse_ids: list[int]) -> None:
        for row in session.execute(
            select(
                StockBalance.item_id,
                StockBalance.warehouse_id,
                StockBalance.on_hand,
                StockBalance.reserved,
                StockBalance.backordered,
            ).where(StockBalance.item_id.in_(item_ids), StockBalance.warehouse_id.in_(warehouse_ids))
        ):
            self.stock[(row.item_id, row.warehouse_id)] = Stock(row.on_hand, row.reserved, row.backordered)
        for due in session.execute(incoming_with_sources(item_ids, warehouse_ids)):
            self.supply.setdefault((due.item_id, due.warehouse_id), []).append(
                Incoming(due.due_date, due.quantity, due.po_id, due.supplier)
            )

    def at(self, key: Key) -> Stock:
        return self.stock.get(key, Stock())

    def available_on(self, key: Key, day: date) -> int:
        """ATP on a day: free stock plus all supply (PO or transfer) due by then."""
        stock = self.at(key)
        incoming = [Supply(s.due_date, s.quantity, "") for s in self.supply.get(key, [])]
        return available_on(stock.on_hand, stock.reserved, stock.backordered, incoming, day)

    def next_purchase(self, key: Key) -> Incoming | None:
        return next((s for s in self.supply.get(key, []) if s.purchase_order_id is not None), None)


def suggest_for(
    session: Session, lines: Sequence[ShortLine], *, today: date | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Suggestions for each line, by line id, in four queries for any number of lines (as seen on `today`, by
    default the business date)."""
    if not lines:
        return {}
    warehouses: dict[int, list[tuple[int, str]]] = {}
    for wh_id, code, entity_id in session.execute(
        select(Warehouse.id, Warehouse.code, Warehouse.entity_id)
        .where(Warehouse.entity_id.in_({ln.entity_id for ln in lines}))
        .order_by(Warehouse.code)
    ):
        warehouses.setdefault(entity_id, []).append((wh_id, code))
    substitutes: dict[int, list[Substitute]] = {}
    for item_id, sub_id, sku, name in session.execute(
        select(ItemSubstitute.item_id, ItemSubstitute.substitute_id, Item.sku, Item.name)
        .join(Item, Item.id == ItemSubstitute.substitute_id)
        .where(ItemSubstitute.item_id.in_({ln.item_id for ln in lines}), Item.active.is_(True))
        .order_by(ItemSubstitute.item_id, ItemSubstitute.priority, Item.sku)
    ):
        substitutes.setdefault(item_id, []).append(Substitute(sub_id, sku, name))
    items = {ln.item_id for ln in lines} | {s.item_id for subs in substitutes.values() for s in subs}
    picture = StockPicture(session, items, {w for whs in warehouses.values() for w, _ in whs})
    return {
        ln.line_id: Advisor(ln, warehouses[ln.entity_id], substitutes.get(ln.item_id, []), picture, today).suggestions()
        for ln in lines
    }


class Advisor:
    """The suggestions for one short line, from the shared stock picture."""

    def __init__(
        self,
        line: ShortLine,
        warehouses: list[tuple[int, str]],
        substitutes: list[Substitute],
        picture: StockPicture,
        today: date | None = None,
    ) -> None:
        self.line = line
        self.others = [(w, code) for w, code in warehouses if w != line.warehouse_id]
        self.local_first = [(line.warehouse_id, line.warehouse), *self.others]
        self.substitutes = substitutes
        self.picture = picture
        self.today = today or clock.today()
        self.by_date = max(self.today, line.requested_date)

    def suggestions(self) -> list[dict[str, Any]]:
        return [
            *self.other_warehouses(),
            *self.transfer(),
            *self.substitute_stock(),
            *self.next_purchase_order(),
        ]

    def other_warehouses(self) -> list[dict[str, Any]]:
        ln, found = self.line, []
        for wh_id, code in self.others:
            key = (ln.item_id, wh_id)
            now, by_date = self.picture.at(key).free, self.picture.available_on(key, self.by_date)
            if now <= 0 and by_date <= 0:
                continue
            found.append(
                {
                    "kind": "other_warehouse",
                    "text": f"{code} has {now} {ln.sku} free now and {by_date} available by {self.by_date}",
                    "warehouse": code,
                    "sku": ln.sku,
                    "available_now": now,
                    "available_by_requested_date": by_date,
                }
            )
        return found

    def transfer(self) -> list[dict[str, Any]]:
        """The transfer from the sibling warehouse with the most free stock (covering all if any can)."""
        ln = self.line
        sources = [(self.picture.at((ln.item_id, w)).free, code) for w, code in self.others]
        sources = [s for s in sources if s[0] > 0]
        if ln.short <= 0 or not sources:
            return []
        free, source = max(sources, key=lambda s: s[0])  # the first (by code) of equals
        quantity = min(ln.short, free)
        arrives = self.today + timedelta(days=TRANSIT_DAYS[TransferKind.INTER_WAREHOUSE])
        in_time = arrives <= ln.requested_date
        covers = quantity == ln.short
        cover_text = "covers the shortage" if covers else f"covers {quantity} of the {ln.short} short"
        timing = "in time" if in_time else f"after the requested {ln.requested_date}"
        return [
            {
                "kind": "transfer",
                "text": f"transfer {quantity} {ln.sku} from {source} to {ln.warehouse}: {cover_text}; "
                f"arrives about {arrives}, {timing}",
                "from_warehouse": source,
                "to_warehouse": ln.warehouse,
                "sku": ln.sku,
                "quantity": quantity,
                "covers": covers,
                "expected_date": arrives.isoformat(),
                "in_time": in_time,
            }
        ]

    def substitute_stock(self) -> list[dict[str, Any]]:
        ln, found = self.line, []
        for sub in self.substitutes:
            free = {code: self.picture.at((sub.item_id, w)).free for w, code in self.local_first}
            free = {code: n for code, n in free.items() if n > 0}
            if not free:
                continue
            where = ", ".join(f"{n} free at {code}" for code, n in free.items())
            found.append(
                {
                    "kind": "substitute",
                    "text": f"substitute {sub.sku} ({sub.name}) for {ln.sku}: {where}",
                    "sku": sub.sku,
                    "for_sku": ln.sku,
                    "free_by_warehouse": free,
                    "covers_at_warehouse": free.get(ln.warehouse, 0) >= ln.short,
                }
            )
        return found

    def next_purchase_order(self) -> list[dict[str, Any]]:
        ln = self.line
        supply = self.picture.next_purchase((ln.item_id, ln.warehouse_id))
        if supply is None or supply.purchase_order_id is None:
            return []
        number = PURCHASE_ORDER.format(supply.purchase_order_id)
        in_time = supply.due_date <= ln.requested_date
        timing = "in time" if in_time else f"after the requested {ln.requested_date}"
        return [
            {
                "kind": "next_po",
                "text": f"{number} from {supply.supplier} brings {supply.quantity} {ln.sku} to {ln.warehouse} "
                f"on {supply.due_date}, {timing}",
                "purchase_order": number,
                "supplier": supply.supplier,
                "sku": ln.sku,
                "warehouse": ln.warehouse,
                "quantity": supply.quantity,
                "due_date": supply.due_date.isoformat(),
                "in_time": in_time,
            }
        ]

"""Item look-up and available-to-promise, for the model."""

from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.masterdata.service import is_entity_code, suggest_skus
from core.stock.service import available_to_promise
from tools import facts as fact
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs
from tools.search import hybrid


class FindItemsArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=200, description="a SKU (V-200) or a description of the product")
    limit: int = Field(5, ge=1, le=20)


class ItemHit(BaseModel):
    sku: str
    name: str
    category: str
    uom: str
    match: str  # sku, words, meaning, or words+meaning
    description: str | None = None  # the catalogue text, shortened


DESCRIPTION_CHARS = 160


def _shortened(text: str) -> str | None:
    text = " ".join(text.split())
    return (text[: DESCRIPTION_CHARS - 1] + "…" if len(text) > DESCRIPTION_CHARS else text) or None


class FindItemsResult(BaseModel):
    items: list[ItemHit]
    facts: list[str] = []


def _item_facts(query: str, hits: list[ItemHit], tied: set[str]) -> list[str]:
    """The best match, or the items the words fit equally well: the query does not say which of those is meant."""
    if len(tied) > 1:
        listed = ", ".join(f"{h.sku} ({h.name})" for h in hits if h.sku in tied)
        return [f"{len(hits)} item(s) match '{query}'; these {len(tied)} fit its words equally well: {listed}."]
    best = hits[0]
    return [f"{len(hits)} item(s) match '{query}'; the best match is {best.sku} ({best.name}, unit {best.uom})."]


def find_items(session: Session, ctx: ToolContext, args: FindItemsArgs) -> FindItemsResult:
    """An exact SKU first, then word and meaning matches fused (meaning only when a search index is open)."""
    hits = hybrid.find(session, args.query, args.limit, ctx.search)
    if not hits:
        raise NotFound("item", args.query, suggest_skus(session, args.query))
    items = [
        ItemHit(
            sku=h.item.sku,
            name=h.item.name,
            category=h.item.category,
            uom=h.item.uom,
            match=h.match,
            description=_shortened(h.item.description),
        )
        for h in hits
    ]
    equals = {h.item.sku for h in hybrid.equally_good(hits)}
    return FindItemsResult(items=items, facts=_item_facts(args.query, items, equals))


class AvailabilityArgs(ToolArgs):
    sku: str = Field(min_length=1, max_length=40, description="the item's SKU, e.g. V-200")
    warehouse: str | None = Field(None, description="one warehouse code (DAL) or city; omit for all you can see")
    entity: str | None = Field(None, description="all warehouses of one legal entity, e.g. NA")
    on_date: date | None = Field(None, description="promise date (YYYY-MM-DD); omit for today")
    quantity: int | None = Field(None, ge=1, le=1_000_000, description="also say by when this many can be promised")


class Incoming(BaseModel):
    due: date
    quantity: int
    source: str


class WarehouseAvailability(BaseModel):
    warehouse: str
    entity: str
    on_hand: int
    reserved: int
    backordered: int
    incoming: list[Incoming]
    available_now: int
    available_on_date: int
    earliest_date_for_quantity: date | None = None


class AvailabilityResult(BaseModel):
    sku: str
    name: str
    on_date: date
    total_available: int
    warehouses: list[WarehouseAvailability]
    how_computed: str = "available = on hand - reserved - backordered + incoming due by the date"
    facts: list[str] = []


MAX_WAREHOUSE_FACTS = 8


def _availability_facts(
    sku: str, on_date: date, total: int, rows: list[WarehouseAvailability], quantity: int | None
) -> list[str]:
    """Available to promise per warehouse (and in all), and the parts of it when one warehouse was asked."""
    when = fact.on(on_date)
    out = [fact.figure(sku, fact.AVAILABLE, fact.units(w.available_on_date), f"at {w.warehouse} {when}") for w in rows]
    out = out[:MAX_WAREHOUSE_FACTS]
    if len(rows) > 1:
        out.append(fact.figure(sku, fact.AVAILABLE, fact.units(total), f"in all {len(rows)} warehouses {when}"))
    if len(rows) == 1:
        out += _parts(sku, rows[0])
    return out + [_earliest(sku, w, quantity) for w in rows[:MAX_WAREHOUSE_FACTS] if quantity]


def _parts(sku: str, w: WarehouseAvailability) -> list[str]:
    at = f"at {w.warehouse}"
    incoming = sum(s.quantity for s in w.incoming)
    return [
        fact.figure(sku, fact.ON_HAND, fact.units(w.on_hand), at),
        fact.figure(sku, fact.RESERVED, fact.units(w.reserved), at),
        fact.figure(sku, fact.BACKORDERED, fact.units(w.backordered), at),
        fact.figure(sku, fact.INCOMING, fact.units(incoming), at + (f" by {w.incoming[-1].due}" if w.incoming else "")),
    ]


def _earliest(sku: str, w: WarehouseAvailability, quantity: int) -> str:
    if w.earliest_date_for_quantity is None:
        return f"{sku} at {w.warehouse}: {fact.units(quantity)} cannot be promised from the supply known today."
    return f"{sku} at {w.warehouse}: {fact.units(quantity)} can be promised from {w.earliest_date_for_quantity}."


def _place(session: Session, warehouse: str | None, entity: str | None) -> tuple[str | None, str | None]:
    """A legal entity's code given as the warehouse ("V-200 in NA") means all that entity's warehouses."""
    if warehouse is None:
        return None, entity
    code = warehouse.strip().upper()
    if is_entity_code(session, code) and entity in (None, code):
        return None, warehouse
    return warehouse, entity


def check_availability(session: Session, ctx: ToolContext, args: AvailabilityArgs) -> AvailabilityResult:
    """ATP by warehouse with its parts, for the user's warehouses only."""
    warehouse, entity = _place(session, args.warehouse, args.entity)
    report = available_to_promise(
        session,
        ctx.actor,
        sku=args.sku,
        warehouse=warehouse,
        entity=entity,
        on_date=args.on_date,
        quantity=args.quantity,
    )
    rows = [
        WarehouseAvailability(
            warehouse=w.warehouse,
            entity=w.entity,
            on_hand=w.on_hand,
            reserved=w.reserved,
            backordered=w.backordered,
            available_now=w.available_now,
            available_on_date=w.available_on_date,
            earliest_date_for_quantity=w.earliest_date_for_quantity,
            incoming=[Incoming(due=s.due_date, quantity=s.quantity, source=s.source) for s in w.incoming[:5]],
        )
        for w in report.warehouses
    ]
    return AvailabilityResult(
        sku=report.sku,
        name=report.item_name,
        on_date=report.on_date,
        total_available=report.total_available,
        warehouses=rows,
        facts=_availability_facts(report.sku, report.on_date, report.total_available, rows, args.quantity),
    )


TOOLS = [
    Tool(
        "find_items",
        "Find items by SKU or description ('3/4 inch brass valve'); an exact SKU comes first. Use it when unsure "
        "of a SKU; returns SKUs for the other tools.",
        FindItemsArgs,
        find_items,
        brief={"items": ("category", "uom", "match", "description")},  # the SKU and name pick the item
    ),
    Tool(
        "check_availability",
        "Stock and available-to-promise (ATP) of one item, by warehouse, today or on a date, with on hand, "
        "reserved, backordered and dated incoming supply. Give quantity to learn by when that many can be "
        "promised. Only the user's own entities' warehouses are shown. Units are the item's unit of measure.",
        AvailabilityArgs,
        check_availability,
        brief={"total_available": (), "warehouses": ("entity", "available_on_date")},
    ),
]

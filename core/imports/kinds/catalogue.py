"""The catalogue: items and their approved substitutes."""

from sqlalchemy import select

from core.bulk import Row
from core.imports.kinds.common import amount, entries, present, text_or_empty, used_by_any, within
from core.imports.plan import Checking, Frozen
from core.imports.spec import Column, Kind, SourceRow
from core.masterdata.models import Item, ItemSubstitute
from core.masterdata.service import sku_key
from core.purchasing.models import PurchaseOrderLine
from core.sales.models import SalesOrderLine
from core.stock.models import LedgerEntry

ITEM_COLUMNS = (
    Column(
        "sku",
        "text",
        True,
        "V-200",
        "The item's SKU, its key: a SKU already taken, even written differently (V200 for V-200), is refused.",
        40,
    ),
    Column("name", "text", True, "Ball valve 2 in brass", "What people call it.", 160),
    Column("category", "text", True, "valves", "The catalogue category.", 60),
    Column("standard_cost", "decimal", True, "11.67", "Standard cost in the group currency (USD)."),
    Column("list_price", "decimal", True, "19.90", "List price in the group currency (USD)."),
    Column("uom", "text", False, "EA", "Unit of measure (EA if left out); fixed once the item has stock or orders.", 8),
    Column("description", "text", False, "Full-port, lead-free", "Words the assistant's search matches."),
    Column("active", "bool", False, "yes", "No for a discontinued item (yes if left out)."),
)
ITEM_FROZEN = (
    Frozen(
        "uom",
        "uom",
        "the item has stock movements or order lines counted in it",
        used_by_any(LedgerEntry.item_id, SalesOrderLine.item_id, PurchaseOrderLine.item_id),
    ),
)


def check_items(checking: Checking, rows: list[SourceRow]) -> None:
    """Items by SKU; two spellings of one SKU (in the files, or against the database) are a problem."""
    spelled = {k: s for k, s in checking.session.execute(select(Item.sku_key, Item.sku))}
    first_row: dict[str, SourceRow] = {}

    def build(row: SourceRow) -> tuple[str, Row] | None:
        sku: str = row["sku"]
        key = sku_key(sku)
        if not key:
            checking.problem(row, "sku", f"'{sku}' is not a SKU: it needs letters or digits")
            return None
        clash = _clash(spelled, first_row, key, row)
        if clash:
            checking.problem(row, "sku", clash)
            return None
        ok = amount(checking, row, "standard_cost") & amount(checking, row, "list_price")
        record = present(row, {"sku": sku, "sku_key": key}, {
            "name": "name", "category": "category", "standard_cost": "standard_cost", "list_price": "list_price"
        })  # fmt: skip
        record |= {"uom": (row["uom"] or "EA").upper()} if "uom" in row.values else {}
        record |= {"active": row["active"] is not False} if "active" in row.values else {}
        return (sku, text_or_empty(row, record, {"description": "description"})) if ok else None

    checking.upsert(
        ITEMS,
        Item,
        entries(rows, build),
        key=("sku",),
        code="sku",
        defaults={"uom": "EA", "description": "", "active": True},
        frozen=ITEM_FROZEN,
    )


def _clash(spelled: dict[str, str], first_row: dict[str, SourceRow], key: str, row: SourceRow) -> str | None:
    sku = row["sku"]
    if key in first_row and first_row[key]["sku"] != sku:
        other = first_row[key]
        return f"SKU '{sku}' is '{other['sku']}' of row {other.row} written differently; use one spelling"
    first_row.setdefault(key, row)
    if key in spelled and spelled[key] != sku:
        return f"SKU '{sku}' is item '{spelled[key]}' of the database written differently; write it '{spelled[key]}'"
    return None


ITEMS = Kind(
    "items",
    "Items",
    ITEM_COLUMNS,
    ("sku",),
    (),
    check_items,
    "The catalogue: one row per SKU. Costs and list prices are in the group currency (USD).",
    ("uom, once the item has stock movements or order lines",),
)

SUBSTITUTE_COLUMNS = (
    Column("sku", "text", True, "V-200", "The item."),
    Column("substitute_sku", "text", True, "V-210", "An item that may be offered in its place."),
    Column("priority", "integer", False, "1", "1 is offered first (1 if left out), up to 99."),
)


def check_substitutes(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
        other = checking.resolve(row, "substitute_sku", "items", "SKU", "items.csv")
        if not within(checking, row, "priority", 1, 99) or item is None or other is None:
            return None
        if item == other:
            checking.problem(row, "substitute_sku", f"{row['sku']} cannot be a substitute of itself; name another item")
            return None
        return f"{row['sku']}→{row['substitute_sku']}", present(
            row, {"item_id": item, "substitute_id": other}, {"priority": "priority"}
        )

    checking.upsert(
        SUBSTITUTES, ItemSubstitute, entries(rows, build), key=("item_id", "substitute_id"), defaults={"priority": 1}
    )


SUBSTITUTES = Kind(
    "substitutes",
    "Substitutes",
    SUBSTITUTE_COLUMNS,
    ("sku", "substitute_sku"),
    ("items",),
    check_substitutes,
    "Approved substitutes: items the assistant may offer when one is short.",
)

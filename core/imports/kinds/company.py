"""The group's frame: legal entities, warehouses, currency rates and intercompany markups."""

from core.bulk import Row
from core.imports.kinds.common import amount, currency, entries, present, used_by_any, used_ids
from core.imports.plan import Checking, Frozen
from core.imports.spec import Column, Kind, SourceRow
from core.masterdata.models import CurrencyRate, IntercompanyRule, LegalEntity, Warehouse
from core.purchasing.models import PurchaseOrder
from core.sales.models import SalesOrder
from core.stock.models import LedgerEntry

ENTITY_COLUMNS = (
    Column("code", "code", True, "NA", "The legal entity's code, used by every other file to name it.", 16),
    Column("name", "text", True, "Northwind Americas Inc.", "Its legal name.", 120),
    Column("base_currency", "text", True, "USD", "The currency it books in (ISO 4217).", 3),
    Column("country", "code", True, "US", "Its country (ISO 3166 two letters).", 2),
)
ENTITY_FROZEN = (
    Frozen(
        "base_currency",
        "base_currency",
        "the entity has sales or purchase orders booked in it",
        used_by_any(SalesOrder.entity_id, PurchaseOrder.entity_id),
    ),
)


def check_entities(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        money = currency(checking, row, "base_currency")
        if money is None:
            return None
        return row["code"], present(
            row, {"code": row["code"], "base_currency": money}, {"name": "name", "country": "country"}
        )

    checking.upsert(ENTITIES, LegalEntity, entries(rows, build), key=("code",), code="code", frozen=ENTITY_FROZEN)


ENTITIES = Kind(
    "entities",
    "Legal entities",
    ENTITY_COLUMNS,
    ("code",),
    (),
    check_entities,
    "The companies of the group. Each books in its base currency.",
    ("base_currency, once the entity has sales or purchase orders",),
)

WAREHOUSE_COLUMNS = (
    Column("code", "code", True, "ATL", "The warehouse's code.", 16),
    Column("name", "text", True, "Atlanta DC", "Its name.", 120),
    Column("entity", "code", True, "NA", "The legal entity that owns it (entities.csv or the database)."),
    Column("city", "text", False, "Atlanta", "Its city.", 80),
)
WAREHOUSE_FROZEN = (
    Frozen("entity_id", "entity", "the warehouse has stock movements", used_ids(LedgerEntry.warehouse_id)),
)


def check_warehouses(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        entity = checking.resolve(row, "entity", "entities", "entity", "entities.csv")
        if entity is None:
            return None
        record = present(row, {"code": row["code"], "entity_id": entity}, {"name": "name"})
        return row["code"], record | ({"city": row["city"] or ""} if "city" in row.values else {})

    checking.upsert(
        WAREHOUSES,
        Warehouse,
        entries(rows, build),
        key=("code",),
        code="code",
        defaults={"city": ""},
        frozen=WAREHOUSE_FROZEN,
    )


WAREHOUSES = Kind(
    "warehouses",
    "Warehouses",
    WAREHOUSE_COLUMNS,
    ("code",),
    ("entities",),
    check_warehouses,
    "Where stock is kept; each belongs to one legal entity.",
    ("entity, once the warehouse has stock movements",),
)

RATE_COLUMNS = (
    Column("from_currency", "text", True, "EUR", "The currency converted from (ISO 4217).", 3),
    Column("to_currency", "text", True, "USD", "The currency converted to.", 3),
    Column("rate", "decimal", True, "1.08", "How many units of to_currency one unit of from_currency is worth."),
    Column("valid_from", "date", True, "2026-01-01", "The first day the rate applies."),
)


def check_rates(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        source, target = currency(checking, row, "from_currency"), currency(checking, row, "to_currency")
        if not amount(checking, row, "rate", positive=True) or source is None or target is None:
            return None
        if source == target:
            checking.problem(row, "to_currency", f"a rate converts between two currencies; both are {source}")
            return None
        key = f"{source}/{target} {row['valid_from']}"
        return key, {
            "from_currency": source,
            "to_currency": target,
            "rate": row["rate"],
            "valid_from": row["valid_from"],
        }

    checking.upsert(
        CURRENCY_RATES, CurrencyRate, entries(rows, build), key=("from_currency", "to_currency", "valid_from")
    )


CURRENCY_RATES = Kind(
    "currency_rates",
    "Currency rates",
    RATE_COLUMNS,
    ("from_currency", "to_currency", "valid_from"),
    (),
    check_rates,
    "Exchange rates by day; give each pair both ways if both are used.",
)

INTERCOMPANY_COLUMNS = (
    Column("from_entity", "code", True, "NA", "The selling entity."),
    Column("to_entity", "code", True, "UK", "The buying entity."),
    Column("markup_pct", "decimal", True, "8", "Percent added to standard cost on an intercompany sale."),
)


def check_intercompany(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        seller = checking.resolve(row, "from_entity", "entities", "entity", "entities.csv")
        buyer = checking.resolve(row, "to_entity", "entities", "entity", "entities.csv")
        if not amount(checking, row, "markup_pct") or seller is None or buyer is None:
            return None
        if seller == buyer:
            checking.problem(row, "to_entity", "an intercompany rule joins two different entities")
            return None
        key = f"{row['from_entity']}→{row['to_entity']}"
        return key, {"from_entity_id": seller, "to_entity_id": buyer, "markup_pct": row["markup_pct"]}

    checking.upsert(INTERCOMPANY_RULES, IntercompanyRule, entries(rows, build), key=("from_entity_id", "to_entity_id"))


INTERCOMPANY_RULES = Kind(
    "intercompany_rules",
    "Intercompany rules",
    INTERCOMPANY_COLUMNS,
    ("from_entity", "to_entity"),
    ("entities",),
    check_intercompany,
    "The transfer price between two entities: standard cost plus a markup.",
)

"""Who the group trades with: suppliers and customers, each of one legal entity."""

from sqlalchemy import select

from core.bulk import Row
from core.imports.kinds.common import amount, currency, entries, present, text_or_empty, used_ids, within
from core.imports.plan import Checking, Frozen
from core.imports.spec import Column, Kind, SourceRow
from core.masterdata.models import Customer, PriceList, Supplier
from core.money import round_money
from core.purchasing.models import PurchaseOrder
from core.sales.models import SalesOrder

TIERS = ("A", "B", "C")
MAX_DAYS = 365

SUPPLIER_COLUMNS = (
    Column("code", "code", True, "KEYSTONE", "The supplier's code."),
    Column("name", "text", True, "Keystone Valves Ltd", "Its name.", 160),
    Column("entity", "code", True, "NA", "The legal entity that buys from it."),
    Column("currency", "text", True, "USD", "The currency it invoices in (ISO 4217).", 3),
    Column("lead_time_days", "integer", True, "12", "Days from order to receipt, 0 to 365."),
    Column("payment_terms_days", "integer", False, "30", "Days to pay its invoices (30 if left out)."),
    Column("note", "text", False, "Ships Mondays", "A standing note."),
)
SUPPLIER_FROZEN = tuple(
    Frozen(column, label, "the supplier has purchase orders", used_ids(PurchaseOrder.supplier_id))
    for column, label in (("entity_id", "entity"), ("currency", "currency"))
)


def check_suppliers(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        entity = checking.resolve(row, "entity", "entities", "entity", "entities.csv")
        money = currency(checking, row, "currency")
        days = within(checking, row, "lead_time_days", 0, MAX_DAYS) & within(
            checking, row, "payment_terms_days", 0, MAX_DAYS
        )
        if entity is None or money is None or not days:
            return None
        record = present(row, {"code": row["code"], "entity_id": entity, "currency": money}, {
            "name": "name", "lead_time_days": "lead_time_days", "payment_terms_days": "payment_terms_days"
        })  # fmt: skip
        return row["code"], text_or_empty(row, record, {"note": "note"})

    checking.upsert(
        SUPPLIERS,
        Supplier,
        entries(rows, build),
        key=("code",),
        code="code",
        defaults={"note": "", "payment_terms_days": 30},
        frozen=SUPPLIER_FROZEN,
    )


SUPPLIERS = Kind(
    "suppliers",
    "Suppliers",
    SUPPLIER_COLUMNS,
    ("code",),
    ("entities",),
    check_suppliers,
    "The group's suppliers, each buying entity's own.",
    ("entity and currency, once the supplier has purchase orders",),
)

CUSTOMER_COLUMNS = (
    Column("code", "code", True, "ACME", "The customer's code."),
    Column("name", "text", True, "Acme Plumbing Supply", "Its name.", 160),
    Column("entity", "code", True, "NA", "The legal entity that sells to it; fixed once it has orders."),
    Column("tier", "code", False, "A", "A, B or C (C if left out)."),
    Column("credit_limit", "decimal", False, "60000", "Credit limit in the entity's currency (0 if left out)."),
    Column("payment_terms_days", "integer", False, "30", "Days to pay (30 if left out)."),
    Column("price_list", "code", False, "NA-WHOLESALE", "Its price list (price_lists.csv or the database)."),
    Column("on_credit_hold", "bool", False, "no", "Yes to stop new orders until finance releases it."),
    Column("credit_hold_reason", "text", False, "overdue invoices", "Why it is on hold."),
    Column("note", "text", False, "Dock closes at 4 pm", "A standing note."),
)
CUSTOMER_FROZEN = (Frozen("entity_id", "entity", "the customer has sales orders", used_ids(SalesOrder.customer_id)),)


def _price_list_owners(checking: Checking) -> dict[int, int]:
    """Each price list's entity, as the database has it and as the price_lists file sets it."""
    owners = {i: e for i, e in checking.session.execute(select(PriceList.id, PriceList.entity_id))}
    for plan in checking.plans:
        if plan.model is PriceList:
            owners |= {r["id"]: r["entity_id"] for r in plan.inserts + plan.updates}
    return owners


def check_customers(checking: Checking, rows: list[SourceRow]) -> None:
    owners = _price_list_owners(checking)

    def build(row: SourceRow) -> tuple[str, Row] | None:
        entity = checking.resolve(row, "entity", "entities", "entity", "entities.csv")
        price_list = checking.resolve(row, "price_list", "price_lists", "price list", "price_lists.csv")
        ok = amount(checking, row, "credit_limit") & within(checking, row, "payment_terms_days", 0, MAX_DAYS)
        if row["tier"] is not None and row["tier"] not in TIERS:
            checking.problem(row, "tier", f"'{row['tier']}' is not a tier: write A, B or C")
            ok = False
        if entity is None or not ok or (row["price_list"] is not None and price_list is None):
            return None
        if price_list is not None and owners.get(price_list) != entity:
            checking.problem(
                row, "price_list", f"price list {row['price_list']} is another entity's; give one of {row['entity']}'s"
            )
            return None
        fields = ("name", "tier", "payment_terms_days", "on_credit_hold")
        record = present(row, {"code": row["code"], "entity_id": entity}, {f: f for f in fields})
        record |= {"credit_limit": round_money(row["credit_limit"])} if row["credit_limit"] is not None else {}
        record |= {"price_list_id": price_list} if "price_list" in row.values else {}
        record |= {"credit_hold_reason": row["credit_hold_reason"]} if "credit_hold_reason" in row.values else {}
        return row["code"], text_or_empty(row, record, {"note": "note"})

    defaults = {"tier": "C", "credit_limit": 0, "payment_terms_days": 30, "on_credit_hold": False, "note": ""}
    checking.upsert(
        CUSTOMERS, Customer, entries(rows, build), key=("code",), code="code", defaults=defaults, frozen=CUSTOMER_FROZEN
    )


CUSTOMERS = Kind(
    "customers",
    "Customers",
    CUSTOMER_COLUMNS,
    ("code",),
    ("entities", "price_lists"),
    check_customers,
    "Customers, each of one legal entity, with credit terms and an optional price list. Importing is a setup "
    "act by an admin: credit limits set here take effect without a finance draft.",
    ("entity, once the customer has sales orders",),
)

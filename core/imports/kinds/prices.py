"""Prices: price lists (a header per list), their prices per item, and customers' contract prices."""

from core.bulk import Row
from core.imports.kinds.common import amount, currency, entries, present, used_ids
from core.imports.plan import Checking, Frozen
from core.imports.spec import Column, Kind, SourceRow
from core.masterdata.models import ContractPrice, Customer, PriceList, PriceListItem
from core.money import round_unit_price

PRICE_LIST_COLUMNS = (
    Column("code", "code", True, "NA-WHOLESALE", "The price list's code."),
    Column("name", "text", True, "Wholesale (NA)", "Its name.", 120),
    Column("entity", "code", True, "NA", "The legal entity whose customers use it."),
    Column("currency", "text", True, "USD", "The currency of its prices (ISO 4217).", 3),
)
PRICE_LIST_FROZEN = tuple(
    Frozen(column, label, "customers use the price list", used_ids(Customer.price_list_id))
    for column, label in (("currency", "currency"), ("entity_id", "entity"))
)


def check_price_lists(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        entity = checking.resolve(row, "entity", "entities", "entity", "entities.csv")
        money = currency(checking, row, "currency")
        if entity is None or money is None:
            return None
        return row["code"], present(
            row, {"code": row["code"], "entity_id": entity, "currency": money}, {"name": "name"}
        )

    checking.upsert(PRICE_LISTS, PriceList, entries(rows, build), key=("code",), code="code", frozen=PRICE_LIST_FROZEN)


PRICE_LISTS = Kind(
    "price_lists",
    "Price lists",
    PRICE_LIST_COLUMNS,
    ("code",),
    ("entities",),
    check_price_lists,
    "The header of each price list; its prices are in price_list_items.",
    ("currency and entity, once customers use the list",),
)

PRICE_COLUMNS = (
    Column("price_list", "code", True, "NA-WHOLESALE", "The price list (price_lists.csv or the database)."),
    Column("sku", "text", True, "V-200", "The item (items.csv or the database)."),
    Column("unit_price", "decimal", True, "17.50", "The price in the list's currency."),
)


def check_prices(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        price_list = checking.resolve(row, "price_list", "price_lists", "price list", "price_lists.csv")
        item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
        if not amount(checking, row, "unit_price") or price_list is None or item is None:
            return None
        price = round_unit_price(row["unit_price"])
        return f"{row['price_list']} {row['sku']}", {"price_list_id": price_list, "item_id": item, "unit_price": price}

    checking.upsert(PRICE_LIST_ITEMS, PriceListItem, entries(rows, build), key=("price_list_id", "item_id"))


PRICE_LIST_ITEMS = Kind(
    "price_list_items",
    "Price-list prices",
    PRICE_COLUMNS,
    ("price_list", "sku"),
    ("price_lists", "items"),
    check_prices,
    "One row per item on a price list.",
)

CONTRACT_COLUMNS = (
    Column("customer", "code", True, "ACME", "The customer (customers.csv or the database)."),
    Column("sku", "text", True, "V-200", "The item."),
    Column("unit_price", "decimal", True, "16.90", "The agreed price in the customer's entity currency."),
    Column("valid_from", "date", True, "2026-01-01", "The first day it applies."),
    Column("valid_to", "date", False, "2026-12-31", "The last day it applies (open-ended if empty)."),
)


def check_contracts(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        customer = checking.resolve(row, "customer", "customers", "customer", "customers.csv")
        item = checking.resolve(row, "sku", "items", "SKU", "items.csv")
        if not amount(checking, row, "unit_price") or customer is None or item is None:
            return None
        start, end = row["valid_from"], row["valid_to"]
        if end is not None and end < start:
            checking.problem(row, "valid_to", f"{end} is before valid_from {start}; give a later day or leave it empty")
            return None
        record = {"customer_id": customer, "item_id": item, "valid_from": start}
        record |= {"unit_price": round_unit_price(row["unit_price"]), "valid_to": end}
        return f"{row['customer']} {row['sku']} from {start}", record

    checking.upsert(CONTRACT_PRICES, ContractPrice, entries(rows, build), key=("customer_id", "item_id", "valid_from"))


CONTRACT_PRICES = Kind(
    "contract_prices",
    "Contract prices",
    CONTRACT_COLUMNS,
    ("customer", "sku", "valid_from"),
    ("customers", "items"),
    check_contracts,
    "A customer's agreed price for an item from a day on, keyed by customer, item and first day.",
)

"""Every kind of import file, in load order: a kind comes after the kinds it refers to.

To add a kind (the opening balances do), write its `Kind` and append it to `KINDS`; if later kinds refer to its
records by code, give it a loader in `CODE_LOADERS`.
"""

from collections.abc import Callable

from sqlalchemy.orm import Session

from core.imports.kinds.catalogue import ITEMS, SUBSTITUTES
from core.imports.kinds.common import code_ids
from core.imports.kinds.company import CURRENCY_RATES, ENTITIES, INTERCOMPANY_RULES, WAREHOUSES
from core.imports.kinds.opening import OPENING_KINDS
from core.imports.kinds.parties import CUSTOMERS, SUPPLIERS
from core.imports.kinds.people import USER_SCOPES, USERS
from core.imports.kinds.prices import CONTRACT_PRICES, PRICE_LIST_ITEMS, PRICE_LISTS
from core.imports.spec import Kind
from core.masterdata.models import Customer, Item, LegalEntity, PriceList, Supplier, User, Warehouse

KINDS: list[Kind] = [
    ENTITIES,
    WAREHOUSES,
    CURRENCY_RATES,
    INTERCOMPANY_RULES,
    ITEMS,
    SUBSTITUTES,
    SUPPLIERS,
    PRICE_LISTS,
    PRICE_LIST_ITEMS,
    CUSTOMERS,
    CONTRACT_PRICES,
    USERS,
    USER_SCOPES,
    *OPENING_KINDS,  # opening balances, after all the master data they name
]

# How a kind's codes are read from the database when its file is not imported, so other files may name them.
CODE_LOADERS: dict[str, Callable[[Session], dict[str, int]]] = {
    "entities": code_ids(LegalEntity.code, LegalEntity.id),
    "warehouses": code_ids(Warehouse.code, Warehouse.id),
    "items": code_ids(Item.sku, Item.id),
    "suppliers": code_ids(Supplier.code, Supplier.id),
    "price_lists": code_ids(PriceList.code, PriceList.id),
    "customers": code_ids(Customer.code, Customer.id),
    "users": code_ids(User.username, User.id),
}


def kind_named(name: str) -> Kind | None:
    """The kind a file or sheet is named after, or None."""
    return next((k for k in KINDS if k.name == name), None)


def kind_names() -> list[str]:
    return [k.name for k in KINDS]

"""Exporting a company as the import's own files: one CSV per kind, with the kind's columns, so that an export
imports into an empty database (`erp-assistant import run FOLDER`) and gives the same stock, open orders and
receivables.

What the files carry, and what they do not:
- Master data as it is; users without passwords (an admin sets them again: `erp-assistant password USERNAME`).
- Opening stock: on hand per item x warehouse, valued at the item's standard cost converted from the group
  currency (USD) into the warehouse entity's currency at today's rate (the opening entries' own cost is not kept:
  the ledger's history before the export is not carried).
- Open purchase orders: every line of orders still open or partly received, with what was ordered and received.
- Open sales orders: the lines of confirmed, held or partly shipped orders still to ship, at their net price;
  drafts, shipments and their milestones are history and are not carried.
- Open receivables: each invoice's open amount (`core.receivables.sums.open_items`: invoiced minus credited minus
  applied payments). Cash received and not applied to an invoice is not carried.
- Not carried at all: transfers (in transit or not), stock history, closed documents, drafts, cases, audit.

A document keeps its number in the source system as its reference (`external_ref`, or its number here).
"""

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.errors import MissingRate
from core.finance.models import Invoice
from core.fx import rates_on
from core.imports.kinds import KINDS
from core.imports.service import require_admin
from core.imports.spec import Kind
from core.masterdata.models import (
    ContractPrice,
    CurrencyRate,
    Customer,
    IntercompanyRule,
    Item,
    ItemSubstitute,
    LegalEntity,
    PriceList,
    PriceListItem,
    Supplier,
    User,
    UserEntityScope,
    UserRole,
    Warehouse,
)
from core.money import round_unit_price
from core.numbering import INVOICE, PURCHASE_ORDER, SALES_ORDER
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from core.receivables.sums import open_items
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.sales.pricing import GROUP_CURRENCY
from core.stock.models import StockBalance

Record = dict[str, Any]
OPEN_PURCHASE = (PurchaseOrderStatus.OPEN.value, PurchaseOrderStatus.PARTIALLY_RECEIVED.value)
OPEN_SALES = (OrderStatus.CONFIRMED.value, OrderStatus.ON_HOLD.value, OrderStatus.PARTIALLY_SHIPPED.value)


@dataclass(frozen=True)
class ExportedFile:
    """One kind's file: its name (KIND.csv), its CSV text and how many rows it holds."""

    name: str
    text: str
    rows: int


def export_company(session: Session, actor: Actor) -> list[ExportedFile]:
    """The company's master data and opening balances as import files, in load order (admins only: it holds every
    entity's customers, prices and users)."""
    require_admin(actor)
    codes = _Codes(session)
    return [_file(kind, EXPORTERS[kind.name](session, codes)) for kind in KINDS]


def _file(kind: Kind, records: Iterable[Record]) -> ExportedFile:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in kind.columns])
    count = 0
    for record in records:
        writer.writerow([_cell(record.get(c.name)) for c in kind.columns])
        count += 1
    return ExportedFile(f"{kind.name}.csv", out.getvalue(), count)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | float):
        text = format(Decimal(str(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ";".join(str(v) for v in value)
    return str(value)


class _Codes:
    """Id → code of the records other files name, read once."""

    def __init__(self, session: Session) -> None:
        self.entities = _map(session, LegalEntity.id, LegalEntity.code)
        self.warehouses = _map(session, Warehouse.id, Warehouse.code)
        self.items = _map(session, Item.id, Item.sku)
        self.suppliers = _map(session, Supplier.id, Supplier.code)
        self.customers = _map(session, Customer.id, Customer.code)
        self.price_lists = _map(session, PriceList.id, PriceList.code)
        self.users = _map(session, User.id, User.username)


def _map(session: Session, key: Any, value: Any) -> dict[int, str]:
    return {k: v for k, v in session.execute(select(key, value))}


# --- Master data ----------------------------------------------------------------------------------------------


def _entities(session: Session, codes: _Codes) -> Iterable[Record]:
    for e in session.scalars(select(LegalEntity).order_by(LegalEntity.id)):
        yield {"code": e.code, "name": e.name, "base_currency": e.base_currency, "country": e.country}


def _warehouses(session: Session, codes: _Codes) -> Iterable[Record]:
    for w in session.scalars(select(Warehouse).order_by(Warehouse.id)):
        yield {"code": w.code, "name": w.name, "entity": codes.entities[w.entity_id], "city": w.city}


def _rates(session: Session, codes: _Codes) -> Iterable[Record]:
    for r in session.scalars(select(CurrencyRate).order_by(CurrencyRate.id)):
        yield {
            "from_currency": r.from_currency,
            "to_currency": r.to_currency,
            "rate": r.rate,
            "valid_from": r.valid_from,
        }


def _intercompany(session: Session, codes: _Codes) -> Iterable[Record]:
    for r in session.scalars(select(IntercompanyRule)):
        yield {
            "from_entity": codes.entities[r.from_entity_id],
            "to_entity": codes.entities[r.to_entity_id],
            "markup_pct": r.markup_pct,
        }


def _items(session: Session, codes: _Codes) -> Iterable[Record]:
    fields = ("sku", "name", "category", "standard_cost", "list_price", "uom", "description", "active")
    for item in session.scalars(select(Item).order_by(Item.id)):
        yield {f: getattr(item, f) for f in fields}


def _substitutes(session: Session, codes: _Codes) -> Iterable[Record]:
    for s in session.scalars(select(ItemSubstitute)):
        yield {"sku": codes.items[s.item_id], "substitute_sku": codes.items[s.substitute_id], "priority": s.priority}


def _suppliers(session: Session, codes: _Codes) -> Iterable[Record]:
    fields = ("code", "name", "currency", "lead_time_days", "payment_terms_days", "note")
    for s in session.scalars(select(Supplier).order_by(Supplier.id)):
        yield {f: getattr(s, f) for f in fields} | {"entity": codes.entities[s.entity_id]}


def _price_lists(session: Session, codes: _Codes) -> Iterable[Record]:
    for p in session.scalars(select(PriceList).order_by(PriceList.id)):
        yield {"code": p.code, "name": p.name, "entity": codes.entities[p.entity_id], "currency": p.currency}


def _price_list_items(session: Session, codes: _Codes) -> Iterable[Record]:
    for p in session.scalars(select(PriceListItem)):
        yield {
            "price_list": codes.price_lists[p.price_list_id],
            "sku": codes.items[p.item_id],
            "unit_price": p.unit_price,
        }


def _customers(session: Session, codes: _Codes) -> Iterable[Record]:
    fields = ("code", "name", "tier", "credit_limit", "payment_terms_days", "on_credit_hold", "credit_hold_reason")
    for c in session.scalars(select(Customer).order_by(Customer.id)):
        price_list = codes.price_lists.get(c.price_list_id) if c.price_list_id is not None else None
        yield {f: getattr(c, f) for f in fields} | {
            "entity": codes.entities[c.entity_id],
            "price_list": price_list,
            "note": c.note,
        }


def _contract_prices(session: Session, codes: _Codes) -> Iterable[Record]:
    for p in session.scalars(select(ContractPrice).order_by(ContractPrice.id)):
        yield {
            "customer": codes.customers[p.customer_id],
            "sku": codes.items[p.item_id],
            "unit_price": p.unit_price,
            "valid_from": p.valid_from,
            "valid_to": p.valid_to,
        }


def _users(session: Session, codes: _Codes) -> Iterable[Record]:
    roles: dict[int, list[str]] = {}
    for user_id, role in session.execute(select(UserRole.user_id, UserRole.role).order_by(UserRole.role)):
        roles.setdefault(user_id, []).append(role)
    for u in session.scalars(select(User).order_by(User.id)):
        if not roles.get(u.id):
            continue  # a user without roles cannot be imported (roles are required); none in a working company
        yield {
            "username": u.username,
            "display_name": u.display_name,
            "email": u.email,
            "roles": roles[u.id],
            "active": u.active,
        }


def _user_scopes(session: Session, codes: _Codes) -> Iterable[Record]:
    with_roles = set(session.scalars(select(UserRole.user_id)))
    for s in session.scalars(select(UserEntityScope)):
        if s.user_id in with_roles:
            yield {
                "username": codes.users[s.user_id],
                "entity": codes.entities[s.entity_id],
                "approval_limit": s.approval_limit,
            }


# --- Opening balances -----------------------------------------------------------------------------------------


def _opening_stock(session: Session, codes: _Codes) -> Iterable[Record]:
    """On hand per item x warehouse, at standard cost converted into the warehouse entity's currency."""
    currency_of = {
        w: c
        for w, c in session.execute(
            select(Warehouse.id, LegalEntity.base_currency).join(LegalEntity, LegalEntity.id == Warehouse.entity_id)
        )
    }
    rates = _rates_from_group(session, set(currency_of.values()))
    costs = {i: Decimal(c) for i, c in session.execute(select(Item.id, Item.standard_cost))}
    balances = session.execute(
        select(StockBalance.item_id, StockBalance.warehouse_id, StockBalance.on_hand)
        .where(StockBalance.on_hand > 0)
        .order_by(StockBalance.warehouse_id, StockBalance.item_id)
    )
    for item_id, warehouse_id, on_hand in balances:
        rate = rates[currency_of[warehouse_id]]
        yield {
            "warehouse": codes.warehouses[warehouse_id],
            "sku": codes.items[item_id],
            "quantity": on_hand,
            "unit_cost": round_unit_price(costs[item_id] * rate),
        }


def _rates_from_group(session: Session, currencies: set[str]) -> dict[str, Decimal]:
    """Today's rate from the group currency into each currency (1 where there is no rate: the cost then stays as
    the items file has it, in the group currency)."""
    found: dict[str, Decimal] = {}
    for currency in currencies:
        try:
            found[currency] = rates_on(session, [(GROUP_CURRENCY, currency)], clock.today())[
                (GROUP_CURRENCY, currency)
            ].rate
        except MissingRate:
            found[currency] = Decimal(1)
    return found


def _open_purchase_orders(session: Session, codes: _Codes) -> Iterable[Record]:
    orders = session.scalars(
        select(PurchaseOrder).where(PurchaseOrder.status.in_(OPEN_PURCHASE)).order_by(PurchaseOrder.id)
    )
    for order in orders:
        lines = sorted(order.lines, key=lambda ln: ln.id)
        if all(ln.qty_received >= ln.quantity for ln in lines):
            continue
        head = {
            "reference": order.external_ref or PURCHASE_ORDER.format(order.id),
            "supplier": codes.suppliers[order.supplier_id],
            "warehouse": codes.warehouses[order.warehouse_id],
            "expected_date": order.expected_date,
            "order_date": order.order_date,
        }
        for line in lines:
            yield head | _purchase_line(line, codes)


def _purchase_line(line: PurchaseOrderLine, codes: _Codes) -> Record:
    return {
        "sku": codes.items[line.item_id],
        "quantity": line.quantity,
        "received": line.qty_received,
        "unit_price": line.unit_cost,
    }


def _open_sales_orders(session: Session, codes: _Codes) -> Iterable[Record]:
    orders = session.scalars(select(SalesOrder).where(SalesOrder.status.in_(OPEN_SALES)).order_by(SalesOrder.id))
    for order in orders:
        head = {
            "reference": order.external_ref or SALES_ORDER.format(order.id),
            "customer": codes.customers[order.customer_id],
            "order_date": order.order_date,
            "requested_date": order.requested_date,
            "customer_reference": order.customer_reference,
        }
        for line in sorted(order.lines, key=lambda ln: ln.line_no):
            if line.quantity > line.qty_shipped:
                yield head | _sales_line(line, codes)


def _sales_line(line: SalesOrderLine, codes: _Codes) -> Record:
    return {
        "warehouse": codes.warehouses[line.warehouse_id],
        "sku": codes.items[line.item_id],
        "quantity": line.quantity - line.qty_shipped,
        "unit_price": line.net_price,
    }


def _open_receivables(session: Session, codes: _Codes) -> Iterable[Record]:
    items = open_items(session)
    refs = {
        i: ref
        for i, ref in session.execute(
            select(Invoice.id, Invoice.external_ref).where(Invoice.id.in_([it.invoice_id for it in items]))
        )
    }
    for item in sorted(items, key=lambda it: it.invoice_id):
        yield {
            "customer": codes.customers[item.customer_id],
            "reference": refs.get(item.invoice_id) or INVOICE.format(item.invoice_id),
            "invoice_date": item.issued_on,
            "due_date": item.due_on,
            "amount": item.open,
            "currency": item.currency,
        }


EXPORTERS: dict[str, Callable[[Session, _Codes], Iterable[Record]]] = {
    "entities": _entities,
    "warehouses": _warehouses,
    "currency_rates": _rates,
    "intercompany_rules": _intercompany,
    "items": _items,
    "substitutes": _substitutes,
    "suppliers": _suppliers,
    "price_lists": _price_lists,
    "price_list_items": _price_list_items,
    "customers": _customers,
    "contract_prices": _contract_prices,
    "users": _users,
    "user_scopes": _user_scopes,
    "opening_stock": _opening_stock,
    "open_purchase_orders": _open_purchase_orders,
    "open_sales_orders": _open_sales_orders,
    "open_receivables": _open_receivables,
}

"""Reading one master-data record as people read it: an item, customer, supplier or price list, with its prices,
contract prices or substitutes."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.errors import InvalidInput, NotFound
from core.masterdata.changes import unit, yes_no
from core.masterdata.models import ContractPrice, Customer, Item, ItemSubstitute, LegalEntity, PriceList, PriceListItem
from core.masterdata.service import get_customer, get_item, get_supplier


@dataclass(frozen=True)
class RecordView:
    """A master-data record as people read it: its fields in order, and related rows (prices, substitutes)."""

    record: str
    code: str
    entity: str | None
    fields: list[tuple[str, str]]
    related: list[str]


def record_view(session: Session, actor: Actor, *, record: str, code: str) -> RecordView:
    """One item, customer, supplier or price list, with its prices or substitutes (at most 50 rows)."""
    if record == "item":
        return _item_view(session, get_item(session, sku=code))
    if record == "customer":
        return _customer_view(session, get_customer(session, actor, code=code))
    if record == "supplier":
        supplier = get_supplier(session, code=code, suggest_for=actor)
        actor.require_entity(supplier.entity_id, f"supplier {code.strip()}")
        entity = session.get(LegalEntity, supplier.entity_id)
        fields = [
            ("name", supplier.name),
            ("currency", supplier.currency),
            ("lead time", f"{supplier.lead_time_days} days"),
            ("note", supplier.note or "(none)"),
        ]
        return RecordView("supplier", supplier.code, entity.code if entity else None, fields, [])
    if record == "price_list":
        return _price_list_view(session, actor, code)
    raise InvalidInput(f"unknown record '{record}'; records are item, customer, supplier, price_list")


def _item_view(session: Session, item: Item) -> RecordView:
    fields = [
        ("name", item.name),
        ("category", item.category),
        ("unit", item.uom),
        ("cost", f"USD {unit(Decimal(item.standard_cost))}"),
        ("list price", f"USD {unit(Decimal(item.list_price))}"),
        ("active", yes_no(item.active)),
    ]
    subs = session.execute(
        select(Item.sku, ItemSubstitute.priority)
        .join(ItemSubstitute, ItemSubstitute.substitute_id == Item.id)
        .where(ItemSubstitute.item_id == item.id)
        .order_by(ItemSubstitute.priority, Item.sku)
    ).all()
    return RecordView("item", item.sku, None, fields, [f"substitute {sku} (priority {p})" for sku, p in subs])


def _customer_view(session: Session, customer: Customer) -> RecordView:
    entity = session.get(LegalEntity, customer.entity_id)
    assert entity is not None
    price_list = session.get(PriceList, customer.price_list_id) if customer.price_list_id else None
    hold = f"yes: {customer.credit_hold_reason or 'no reason given'}" if customer.on_credit_hold else "no"
    fields = [
        ("name", customer.name),
        ("tier", customer.tier),
        ("credit limit", f"{entity.base_currency} {unit(Decimal(customer.credit_limit))}"),
        ("payment terms", f"{customer.payment_terms_days} days"),
        ("price list", price_list.code if price_list else "none"),
        ("credit hold", hold),
        ("note", customer.note or "(none)"),
    ]
    contracts = session.execute(
        select(Item.sku, ContractPrice.unit_price, ContractPrice.valid_from, ContractPrice.valid_to)
        .join(Item, Item.id == ContractPrice.item_id)
        .where(ContractPrice.customer_id == customer.id)
        .order_by(Item.sku, ContractPrice.valid_from)
        .limit(50)
    ).all()
    related = [
        f"contract {sku} {entity.base_currency} {unit(Decimal(p))} from {start} to {end or 'open'}"
        for sku, p, start, end in contracts
    ]
    return RecordView("customer", customer.code, entity.code, fields, related)


def _price_list_view(session: Session, actor: Actor, code: str) -> RecordView:
    chosen = session.scalars(select(PriceList).where(PriceList.code == code.strip().upper())).first()
    if chosen is None:
        visible = list(session.scalars(select(PriceList.code).where(PriceList.entity_id.in_(actor.entity_ids))))
        raise NotFound("price list", code, visible)
    actor.require_entity(chosen.entity_id, f"price list {code.strip()}")
    entity = session.get(LegalEntity, chosen.entity_id)
    rows = session.execute(
        select(Item.sku, PriceListItem.unit_price)
        .join(Item, Item.id == PriceListItem.item_id)
        .where(PriceListItem.price_list_id == chosen.id)
        .order_by(Item.sku)
        .limit(50)
    ).all()
    fields = [("name", chosen.name), ("currency", chosen.currency)]
    related = [f"{sku} {chosen.currency} {unit(Decimal(p))}" for sku, p in rows]
    return RecordView("price_list", chosen.code, entity.code if entity else None, fields, related)

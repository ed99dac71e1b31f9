"""Creating and changing master data: items, customers, suppliers, price-list and contract prices, substitutes.

Each command validates what it is given (saying what to fix), writes the record, and returns the change as a
diff, field by field (before → after), which the write gate shows in its preview. Nothing here touches a
posted document: order lines, invoices and purchase orders keep the prices and costs they were made with.
Who may ask is `Permission.EDIT_MASTER_DATA`; whether a change needs someone's approval is the policy's call
(`core.drafts.masterdata` gives it the facts: how far a cost moves, whether a price falls below cost).
"""

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.errors import DuplicateCode, InvalidInput, NotFound
from core.masterdata.models import (
    ContractPrice,
    CurrencyRate,
    Customer,
    Item,
    ItemSubstitute,
    LegalEntity,
    PriceList,
    PriceListItem,
    Supplier,
)
from core.masterdata.service import (
    convert,
    exchange_rate,
    get_customer,
    get_entity,
    get_item,
    get_supplier,
    sku_key,
)
from core.money import round_money, round_unit_price
from core.sales.pricing import GROUP_CURRENCY, round_percent

Record = Literal["item", "customer", "supplier", "price", "contract", "substitute"]
RECORDS: tuple[Record, ...] = ("item", "customer", "supplier", "price", "contract", "substitute")
TIERS = ("A", "B", "C")
MAX_DAYS = 365
CODE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
ISO_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class FieldChange:
    """One field of a record: its value before (None: a new record) and after, as people read them."""

    name: str
    before: str | None
    after: str

    def line(self, label: str) -> str:
        if self.before is None:
            return f"{label}: {self.name} {self.after}"
        return f"{label}: {self.name} {self.before} → {self.after}"


@dataclass(frozen=True)
class Change:
    """What one master-data command did: the record, its entity, and the diff; plus what the policy judges."""

    record: Record
    label: str  # "item V-200", "price NA-WHOLESALE V-200", "contract ACME P-100"
    key: str  # the record's code, short enough for a draft's result: "V-200", "ACME/P-100"
    entity_id: int
    currency: str  # the currency the record's money is in
    created: bool
    fields: list[FieldChange] = field(default_factory=list)
    cost_change_pct: Decimal = Decimal(0)
    below_cost: bool = False
    removed: bool = False

    def lines(self) -> list[str]:
        """The diff as preview lines: "item V-200: cost USD 40.00 → USD 41.50"."""
        if self.removed:
            return [f"{self.label}: removed"]
        head = [f"{self.label}: new"] if self.created else []
        return head + [f.line(self.label) for f in self.fields]


# --- Shared checks -------------------------------------------------------------------------------------


def unit(value: Decimal) -> str:
    """A unit price or cost as people read it: cents, or four places when it carries sub-cent precision."""
    rounded = round_unit_price(Decimal(value))
    return f"{rounded:,.2f}" if rounded == rounded.quantize(Decimal("0.01")) else f"{rounded:,.4f}"


def _amount(value: Decimal, what: str) -> Decimal:
    """A price or cost: never negative, kept to four places."""
    if not Decimal(value).is_finite():
        raise InvalidInput(f"{what} must be a number, got {value}")
    if value < 0:
        raise InvalidInput(f"{what} cannot be negative ({value}); give 0 or more")
    return round_unit_price(Decimal(value))


def _days(value: int, what: str) -> int:
    if not 0 <= value <= MAX_DAYS:
        raise InvalidInput(f"{what} must be between 0 and {MAX_DAYS} days, got {value}")
    return value


def _text(value: str, what: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{what} cannot be empty")
    if len(cleaned) > limit or "\x00" in cleaned:
        raise InvalidInput(f"{what} must be at most {limit} characters of text")
    return cleaned


def _code(value: str, kind: str) -> str:
    code = value.strip().upper()
    if not CODE.fullmatch(code):
        raise InvalidInput(
            f"a {kind} code is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit; got '{value}'"
        )
    return code


def _tier(value: str) -> str:
    tier = value.strip().upper()
    if tier not in TIERS:
        raise InvalidInput(f"tier must be one of {', '.join(TIERS)}, got '{value}'")
    return tier


def trading_currencies(session: Session) -> list[str]:
    """The currencies the group books in or has a rate for."""
    booked = set(session.scalars(select(LegalEntity.base_currency)))
    rated = set(session.scalars(select(CurrencyRate.from_currency))) | set(
        session.scalars(select(CurrencyRate.to_currency))
    )
    return sorted(booked | rated)


def _currency(session: Session, value: str) -> str:
    currency = value.strip().upper()
    known = trading_currencies(session)
    if not ISO_CURRENCY.fullmatch(currency):
        raise InvalidInput(f"currency must be a three-letter ISO 4217 code such as {', '.join(known)}; got '{value}'")
    if currency not in known:
        raise InvalidInput(
            f"the group has no exchange rate for {currency}; it trades in {', '.join(known)} (add a rate first)"
        )
    return currency


# Advisory-lock key space ("MD") in which two requests creating the same code queue on PostgreSQL.
CODE_LOCK_SPACE = 0x4D44


def claim_code(session: Session, kind: str, code: str) -> None:
    """Wait for any other transaction creating a `kind` with this code, so the uniqueness check that follows sees
    it (SQLite's write units already hold its single write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(f"SELECT pg_advisory_xact_lock({CODE_LOCK_SPACE}, hashtext(:key))"), {"key": f"{kind}:{code}"}
        )


def locked(session: Session, record: object) -> None:
    """Lock a record's row for this change, and read it afresh: the diff's "before" is what this change replaces.

    The lock is taken on the row alone (its eager joins would put FOR UPDATE on an outer join, which PostgreSQL
    refuses); SQLite's write units already hold its single write lock."""
    state = inspect(record)
    columns = state.mapper.primary_key
    assert state.identity is not None
    session.execute(
        select(*columns).where(*(c == v for c, v in zip(columns, state.identity, strict=True))).with_for_update()
    )
    session.refresh(record)


def _require(actor: Actor, entity_id: int, what: str) -> None:
    actor.require(Permission.EDIT_MASTER_DATA)
    actor.require_entity(entity_id, what)


def catalogue_entity(session: Session, actor: Actor) -> LegalEntity:
    """The entity a change to the group's catalogue (items, substitutes) is drafted in: the requester's first."""
    if not actor.entity_ids:
        raise InvalidInput(f"{actor.username} has no legal entity in scope")
    entity = session.get(LegalEntity, min(actor.entity_ids))
    assert entity is not None
    return entity


def _changed(changes: list[FieldChange], name: str, before: str | None, after: str) -> None:
    if before != after:
        changes.append(FieldChange(name, before, after))


def _noted(changes: list[FieldChange], before: str | None, note: str) -> str:
    """A customer's or supplier's new note, checked, with its change recorded (`before` None: a new record)."""
    cleaned = note.strip()
    if len(cleaned) > 2000 or "\x00" in cleaned:
        raise InvalidInput("a note must be at most 2,000 characters of text")
    _changed(changes, "note", None if before is None else (before or "(none)"), cleaned or "(none)")
    return cleaned


def _nothing_changes(label: str, changes: list[FieldChange]) -> None:
    if not changes:
        raise InvalidInput(f"{label} already has those values; nothing would change")


def _finished(session: Session, change: Change) -> Change:
    """A command's change, written: a change to an existing record must change something."""
    if not change.created:
        _nothing_changes(change.label, change.fields)
    session.flush()
    return change


def _percent_moved(before: Decimal, after: Decimal) -> Decimal:
    if before == after:
        return Decimal(0)
    if before == 0:
        return Decimal(100)
    return round_percent(abs(after - before) / before * 100)


def _cost_in(session: Session, item: Item, currency: str) -> Decimal:
    rate = exchange_rate(session, from_currency=GROUP_CURRENCY, to_currency=currency, on=clock.today())
    return convert(Decimal(item.standard_cost), rate)


# --- Items ---------------------------------------------------------------------------------------------


def change_item(
    session: Session,
    actor: Actor,
    *,
    sku: str,
    create: bool = False,
    name: str | None = None,
    category: str | None = None,
    cost: Decimal | None = None,
    list_price: Decimal | None = None,
    active: bool | None = None,
    uom: str | None = None,
) -> Change:
    """Create an item (SKU, name, category, cost, list price) or change one; costs and prices are in USD."""
    actor.require(Permission.EDIT_MASTER_DATA)
    entity = catalogue_entity(session, actor)
    if create:
        item = _new_item(session, sku, name, category, cost, list_price, uom)
        before_cost = Decimal(item.standard_cost)
    else:
        if uom is not None:
            raise InvalidInput("the unit of measure of an existing item does not change (stock is counted in it)")
        item = get_item(session, sku=sku)
        locked(session, item)
        before_cost = Decimal(item.standard_cost)
    label = f"item {item.sku}"
    changes: list[FieldChange] = []
    if create:
        changes += [
            FieldChange("name", None, item.name),
            FieldChange("category", None, item.category),
            FieldChange("unit", None, item.uom),
        ]
    else:
        if name is not None:
            _changed(changes, "name", item.name, _text(name, "name", 160))
            item.name = _text(name, "name", 160)
        if category is not None:
            _changed(changes, "category", item.category, _text(category, "category", 60))
            item.category = _text(category, "category", 60)
    money_before = (None, None) if create else (Decimal(item.standard_cost), Decimal(item.list_price))
    if cost is not None:
        item.standard_cost = _amount(cost, "cost")
    if list_price is not None:
        item.list_price = _amount(list_price, "list price")
    for what, old, new in (
        ("cost", money_before[0], Decimal(item.standard_cost)),
        ("list price", money_before[1], Decimal(item.list_price)),
    ):
        _changed(changes, what, None if old is None else f"USD {unit(old)}", f"USD {unit(new)}")
    if active is not None:
        _changed(changes, "active", None if create else yes_no(item.active), yes_no(active))
        item.active = active
    return _finished(
        session,
        Change(
            record="item",
            label=label,
            key=item.sku,
            entity_id=entity.id,
            currency=GROUP_CURRENCY,
            created=create,
            fields=changes,
            cost_change_pct=Decimal(0) if create else _percent_moved(before_cost, Decimal(item.standard_cost)),
            below_cost=Decimal(item.list_price) < Decimal(item.standard_cost),
        ),
    )


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _new_item(
    session: Session,
    sku: str,
    name: str | None,
    category: str | None,
    cost: Decimal | None,
    list_price: Decimal | None,
    uom: str | None,
) -> Item:
    code = _text(sku, "SKU", 40).upper()
    key = sku_key(code)
    if not key:
        raise InvalidInput(f"a SKU needs letters or digits, got '{sku}'")
    claim_code(session, "item", key)
    holder = session.scalars(select(Item).where(Item.sku_key == key)).first()
    if holder is not None:
        raise DuplicateCode("item", code, f"item {holder.sku} ({holder.name})")
    missing = [
        n for n, v in (("name", name), ("category", category), ("cost", cost), ("list price", list_price)) if v is None
    ]
    if missing:
        raise InvalidInput(f"a new item needs {', '.join(missing)}")
    assert name is not None and category is not None
    item = Item(
        sku=code,
        sku_key=key,
        name=_text(name, "name", 160),
        description=_text(name, "name", 160),
        category=_text(category, "category", 60),
        uom=_text(uom or "EA", "unit", 8).upper(),
        standard_cost=Decimal(0),
        list_price=Decimal(0),
        active=True,
    )
    session.add(item)
    return item


# --- Customers -----------------------------------------------------------------------------------------


def change_customer(
    session: Session,
    actor: Actor,
    *,
    code: str,
    create: bool = False,
    name: str | None = None,
    entity: str | None = None,
    tier: str | None = None,
    terms_days: int | None = None,
    price_list: str | None = None,
    note: str | None = None,
    credit_limit: Decimal | None = None,
) -> Change:
    """Create a customer of an entity (with a starting credit limit) or change its name, tier, payment terms,
    price list or note. An existing customer's credit limit changes only through `change_credit_limit`."""
    actor.require(Permission.EDIT_MASTER_DATA)
    if create:
        customer = _new_customer(session, actor, code, name, entity, credit_limit)
    else:
        if credit_limit is not None:
            raise InvalidInput("a credit limit changes on its own (a credit_limit_change draft, judged by finance)")
        if entity is not None:
            raise InvalidInput("a customer stays with its legal entity; create a customer in the other entity")
        customer = get_customer(session, actor, code=code)
        locked(session, customer)
    home = session.get(LegalEntity, customer.entity_id)
    assert home is not None
    _require(actor, customer.entity_id, f"customer {customer.code}")
    label = f"customer {customer.code}"
    changes: list[FieldChange] = []
    if create:
        changes += [
            FieldChange("name", None, customer.name),
            FieldChange("entity", None, home.code),
            FieldChange("credit limit", None, f"{home.base_currency} {unit(Decimal(customer.credit_limit))}"),
        ]
    elif name is not None:
        _changed(changes, "name", customer.name, _text(name, "name", 160))
        customer.name = _text(name, "name", 160)
    if tier is not None or create:
        new_tier = _tier(tier or "C")
        _changed(changes, "tier", None if create else customer.tier, new_tier)
        customer.tier = new_tier
    if terms_days is not None or create:
        days = _days(30 if terms_days is None else terms_days, "payment terms")
        _changed(changes, "payment terms", None if create else f"{customer.payment_terms_days} days", f"{days} days")
        customer.payment_terms_days = days
    if price_list is not None:
        chosen = _price_list_for(session, home, price_list)
        old = session.get(PriceList, customer.price_list_id) if customer.price_list_id else None
        _changed(
            changes, "price list", None if create else (old.code if old else "none"), chosen.code if chosen else "none"
        )
        customer.price_list_id = chosen.id if chosen else None
    if note is not None:
        customer.note = _noted(changes, None if create else customer.note, note)
    return _finished(
        session,
        Change(
            record="customer",
            label=label,
            key=customer.code,
            entity_id=customer.entity_id,
            currency=home.base_currency,
            created=create,
            fields=changes,
        ),
    )


def _new_customer(
    session: Session, actor: Actor, code: str, name: str | None, entity: str | None, credit_limit: Decimal | None
) -> Customer:
    wanted = _code(code, "customer")
    claim_code(session, "customer", wanted)
    holder = session.scalars(select(Customer).where(Customer.code == wanted)).first()
    if holder is not None:
        # the clash is named by code only when the holder is in scope: another entity's customer stays unnamed
        where = holder.name if actor.can_see(holder.entity_id) else "a customer of another entity"
        raise DuplicateCode("customer", wanted, where)
    if name is None:
        raise InvalidInput("a new customer needs a name")
    home = _entity_for(session, actor, entity)
    customer = Customer(
        code=wanted,
        name=_text(name, "name", 160),
        entity_id=home.id,
        tier="C",
        credit_limit=round_money(_amount(credit_limit or Decimal(0), "credit limit")),
        payment_terms_days=30,
        note="",
    )
    session.add(customer)
    return customer


def _entity_for(session: Session, actor: Actor, entity: str | None) -> LegalEntity:
    if entity is None:
        if len(actor.entity_ids) != 1:
            raise InvalidInput("say which legal entity the new record belongs to (entity)")
        found = session.get(LegalEntity, next(iter(actor.entity_ids)))
        assert found is not None
        return found
    found = get_entity(session, code=entity)
    actor.require_entity(found.id, f"entity {found.code}")
    return found


def _price_list_for(session: Session, home: LegalEntity, code: str) -> PriceList | None:
    """The price list a customer of `home` may use ("none": no price list, list prices apply)."""
    if code.strip().lower() in ("", "none"):
        return None
    chosen = session.scalars(select(PriceList).where(PriceList.code == code.strip().upper())).first()
    own = list(session.scalars(select(PriceList.code).where(PriceList.entity_id == home.id).order_by(PriceList.code)))
    if chosen is None or chosen.entity_id != home.id:
        raise NotFound("price list", code, own)
    if chosen.currency != home.base_currency:
        raise InvalidInput(
            f"price list {chosen.code} is in {chosen.currency} but {home.code} customers buy in {home.base_currency}"
        )
    return chosen


# --- Suppliers -----------------------------------------------------------------------------------------


def change_supplier(
    session: Session,
    actor: Actor,
    *,
    code: str,
    create: bool = False,
    name: str | None = None,
    entity: str | None = None,
    lead_time_days: int | None = None,
    currency: str | None = None,
    note: str | None = None,
) -> Change:
    """Create a supplier of an entity or change its name, lead time, currency or note; open purchase orders keep
    the currency and dates they were placed with."""
    actor.require(Permission.EDIT_MASTER_DATA)
    if create:
        supplier = _new_supplier(session, actor, code, name, entity, lead_time_days, currency)
    else:
        if entity is not None:
            raise InvalidInput("a supplier stays with its legal entity; create a supplier in the other entity")
        supplier = get_supplier(session, code=code, suggest_for=actor)
        _require(actor, supplier.entity_id, f"supplier {supplier.code}")  # before its row is locked
        locked(session, supplier)
    home = session.get(LegalEntity, supplier.entity_id)
    assert home is not None
    label = f"supplier {supplier.code}"
    changes: list[FieldChange] = []
    if create:
        changes += [
            FieldChange("name", None, supplier.name),
            FieldChange("entity", None, home.code),
            FieldChange("currency", None, supplier.currency),
            FieldChange("lead time", None, f"{supplier.lead_time_days} days"),
        ]
    else:
        if name is not None:
            _changed(changes, "name", supplier.name, _text(name, "name", 160))
            supplier.name = _text(name, "name", 160)
        if lead_time_days is not None:
            days = _days(lead_time_days, "lead time")
            _changed(changes, "lead time", f"{supplier.lead_time_days} days", f"{days} days")
            supplier.lead_time_days = days
        if currency is not None:
            chosen = _currency(session, currency)
            _changed(changes, "currency", supplier.currency, chosen)
            supplier.currency = chosen
    if note is not None:
        supplier.note = _noted(changes, None if create else supplier.note, note)
    return _finished(
        session,
        Change(
            record="supplier",
            label=label,
            key=supplier.code,
            entity_id=supplier.entity_id,
            currency=supplier.currency,
            created=create,
            fields=changes,
        ),
    )


def _new_supplier(
    session: Session,
    actor: Actor,
    code: str,
    name: str | None,
    entity: str | None,
    lead_time_days: int | None,
    currency: str | None,
) -> Supplier:
    wanted = _code(code, "supplier")
    claim_code(session, "supplier", wanted)
    holder = session.scalars(select(Supplier).where(Supplier.code == wanted)).first()
    if holder is not None:
        where = holder.name if actor.can_see(holder.entity_id) else "a supplier of another entity"
        raise DuplicateCode("supplier", wanted, where)
    missing = [n for n, v in (("name", name), ("lead time", lead_time_days)) if v is None]
    if missing:
        raise InvalidInput(f"a new supplier needs {', '.join(missing)}")
    assert name is not None and lead_time_days is not None
    home = _entity_for(session, actor, entity)
    supplier = Supplier(
        code=wanted,
        name=_text(name, "name", 160),
        entity_id=home.id,
        currency=_currency(session, currency) if currency else home.base_currency,
        lead_time_days=_days(lead_time_days, "lead time"),
        note="",
    )
    session.add(supplier)
    return supplier


# --- Prices --------------------------------------------------------------------------------------------


def set_price_list_price(
    session: Session, actor: Actor, *, price_list: str, sku: str, price: Decimal | None = None, remove: bool = False
) -> Change:
    """Set an item's price on a price list (in the list's currency), or take the item off the list (`remove`:
    its customers then pay the list price). Orders already placed keep their prices."""
    actor.require(Permission.EDIT_MASTER_DATA)
    chosen = session.scalars(select(PriceList).where(PriceList.code == price_list.strip().upper())).first()
    if chosen is None:
        visible = list(
            session.scalars(
                select(PriceList.code).where(PriceList.entity_id.in_(actor.entity_ids)).order_by(PriceList.code)
            )
        )
        raise NotFound("price list", price_list, visible)
    _require(actor, chosen.entity_id, f"price list {chosen.code}")
    locked(session, chosen)  # one change at a time per price list: the "before" is what this one replaces
    item = get_item(session, sku=sku)
    row = session.get(PriceListItem, (chosen.id, item.id))
    label = f"price {chosen.code} {item.sku}"
    base = Change("price", label, f"{chosen.code}/{item.sku}"[:32], chosen.entity_id, chosen.currency, False)
    if remove:
        if price is not None:
            raise InvalidInput("give a price, or remove the item from the list, not both")
        if row is None:
            raise InvalidInput(f"{item.sku} is not on price list {chosen.code}; nothing to remove")
        session.execute(
            delete(PriceListItem).where(PriceListItem.price_list_id == chosen.id, PriceListItem.item_id == item.id)
        )
        session.flush()
        return _with(
            base, removed=True, fields=[FieldChange("price", f"{chosen.currency} {unit(row.unit_price)}", "none")]
        )
    if price is None:
        raise InvalidInput(f"give the price of {item.sku} on {chosen.code} (in {chosen.currency}), or remove it")
    new = _amount(price, "price")
    before = None if row is None else f"{chosen.currency} {unit(Decimal(row.unit_price))}"
    if row is None:
        row = PriceListItem(price_list_id=chosen.id, item_id=item.id, unit_price=new)
        session.add(row)
    elif Decimal(row.unit_price) == new:
        raise InvalidInput(
            f"{item.sku} is already {chosen.currency} {unit(new)} on {chosen.code}; nothing would change"
        )
    row.unit_price = new
    session.flush()
    cost = _cost_in(session, item, chosen.currency)
    return _with(
        base,
        created=before is None,
        fields=[FieldChange("price", before, f"{chosen.currency} {unit(new)}"), _cost_field(chosen.currency, cost)],
        below_cost=new < cost,
    )


def _cost_field(currency: str, cost: Decimal) -> FieldChange:
    return FieldChange("standard cost (for reference)", None, f"{currency} {unit(cost)}")


def _with(change: Change, **fields: object) -> Change:
    return replace(change, **fields)  # type: ignore[arg-type]


def set_contract_price(
    session: Session,
    actor: Actor,
    *,
    customer: str,
    sku: str,
    price: Decimal | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> Change:
    """A customer's contract price for an item, in the customer's currency, from `valid_from` (today or later).

    A contract already running is ended the day before the new one starts, so the earlier price stays on record
    for the orders it priced; the same start day changes that contract. Only `valid_to` ends the running one."""
    actor.require(Permission.EDIT_MASTER_DATA)
    cust = get_customer(session, actor, code=customer)
    _require(actor, cust.entity_id, f"customer {cust.code}")
    locked(session, cust)  # one contract change at a time per customer
    home = session.get(LegalEntity, cust.entity_id)
    assert home is not None
    item = get_item(session, sku=sku)
    today = clock.today()
    start = valid_from or today
    if start < today:
        raise InvalidInput(f"a contract price starts today ({today}) or later, not {start}: posted orders keep theirs")
    if valid_to is not None and valid_to < start:
        raise InvalidInput(f"valid_to {valid_to} is before valid_from {start}")
    rows = list(
        session.scalars(
            select(ContractPrice)
            .where(ContractPrice.customer_id == cust.id, ContractPrice.item_id == item.id)
            .order_by(ContractPrice.valid_from)
        )
    )
    running = next((r for r in rows if r.valid_from <= start and (r.valid_to is None or r.valid_to >= start)), None)
    label = f"contract {cust.code} {item.sku}"
    base = Change("contract", label, f"{cust.code}/{item.sku}"[:32], cust.entity_id, home.base_currency, False)
    cur = home.base_currency
    if price is None:
        if valid_to is None:
            raise InvalidInput(
                f"give the contract price of {item.sku} for {cust.code} (in {cur}), or valid_to to end it"
            )
        if running is None:
            raise InvalidInput(f"{cust.code} has no contract price for {item.sku} running on {start} to end")
        before = str(running.valid_to) if running.valid_to else "open"
        running.valid_to = valid_to
        session.flush()
        return _with(base, fields=[FieldChange("valid to", before, str(valid_to))])
    new = _amount(price, "contract price")
    later = next((r for r in rows if r.valid_from > start), None)
    if later is not None and (valid_to is None or valid_to >= later.valid_from):
        raise InvalidInput(
            f"{cust.code} already has a contract price for {item.sku} from {later.valid_from}; "
            f"end this one before it (valid_to) or change that one"
        )
    changes: list[FieldChange] = []
    if running is not None and running.valid_from == start:
        _changed(changes, "price", f"{cur} {unit(Decimal(running.unit_price))}", f"{cur} {unit(new)}")
        _changed(changes, "valid to", str(running.valid_to or "open"), str(valid_to or "open"))
        _nothing_changes(label, changes)
        running.unit_price, running.valid_to = new, valid_to
        created = False
    else:
        if running is not None:
            ended = start - timedelta(days=1)
            changes.append(
                FieldChange(
                    f"earlier price {cur} {unit(Decimal(running.unit_price))} valid to",
                    str(running.valid_to or "open"),
                    str(ended),
                )
            )
            running.valid_to = ended
        session.add(
            ContractPrice(customer_id=cust.id, item_id=item.id, unit_price=new, valid_from=start, valid_to=valid_to)
        )
        changes += [
            FieldChange("price", None, f"{cur} {unit(new)}"),
            FieldChange("valid", None, f"{start} to {valid_to or 'open'}"),
        ]
        created = True
    session.flush()
    cost = _cost_in(session, item, cur)
    return _with(base, created=created, fields=[*changes, _cost_field(cur, cost)], below_cost=new < cost)


# --- Substitutes ---------------------------------------------------------------------------------------


def change_substitute(
    session: Session, actor: Actor, *, sku: str, substitute: str, remove: bool = False, priority: int | None = None
) -> Change:
    """Approve `substitute` as a substitute of `sku` (priority 1 is offered first), or withdraw it (`remove`).
    Order lines already substituted stay as they are."""
    actor.require(Permission.EDIT_MASTER_DATA)
    entity = catalogue_entity(session, actor)
    item, other = get_item(session, sku=sku), get_item(session, sku=substitute)
    if item.id == other.id:
        raise InvalidInput(f"{item.sku} cannot be a substitute of itself; name another item")
    locked(session, item)  # one change at a time to an item's substitutes
    row = session.get(ItemSubstitute, (item.id, other.id))
    label = f"substitute {item.sku} → {other.sku}"
    base = Change("substitute", label, f"{item.sku}>{other.sku}"[:32], entity.id, GROUP_CURRENCY, False)
    if remove:
        if row is None:
            raise InvalidInput(f"{other.sku} is not an approved substitute of {item.sku}; nothing to remove")
        session.execute(
            delete(ItemSubstitute).where(ItemSubstitute.item_id == item.id, ItemSubstitute.substitute_id == other.id)
        )
        session.flush()
        return _with(base, removed=True)
    if priority is not None and not 1 <= priority <= 99:
        raise InvalidInput(f"priority is 1 (offered first) to 99, got {priority}")
    if row is not None:
        if priority is None or priority == row.priority:
            raise InvalidInput(f"{other.sku} is already an approved substitute of {item.sku} (priority {row.priority})")
        change = [FieldChange("priority", str(row.priority), str(priority))]
        row.priority = priority
        session.flush()
        return _with(base, fields=change)
    if not other.active:
        raise InvalidInput(f"{other.sku} is inactive; activate it before approving it as a substitute")
    taken = session.scalars(select(ItemSubstitute.priority).where(ItemSubstitute.item_id == item.id)).all()
    rank = priority or (max(taken, default=0) + 1)
    session.add(ItemSubstitute(item_id=item.id, substitute_id=other.id, priority=rank))
    session.flush()
    return _with(base, created=True, fields=[FieldChange("priority", None, str(rank))])

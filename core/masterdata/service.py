"""Master-data look-ups by business key, with close-match suggestions, and currency conversion."""

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.actor import Actor, Role
from core.errors import InvalidInput, InvalidState, NotFound
from core.fx import convert as convert  # re-exported: conversion lives in core.fx
from core.fx import exchange_rate as exchange_rate
from core.masterdata.models import (
    Customer,
    IntercompanyRule,
    Item,
    ItemSubstitute,
    LegalEntity,
    Supplier,
    User,
    UserEntityScope,
    UserRole,
    Warehouse,
)


def sku_key(sku: str) -> str:
    """The SKU as it is matched: upper case, letters and digits only ("v 200" -> "V200")."""
    return re.sub(r"[^0-9A-Z]", "", sku.upper())


def _closest(key: str, candidates: Sequence[str], limit: int = 3) -> list[str]:
    return difflib.get_close_matches(key.upper(), [c.upper() for c in candidates], n=limit, cutoff=0.5)


def _originals(matches: list[str], candidates: Sequence[str]) -> list[str]:
    by_upper = {c.upper(): c for c in candidates}
    return [by_upper[m] for m in matches]


def get_item(session: Session, *, sku: str) -> Item:
    """The item with this SKU (exact, or equal once punctuation and case are ignored)."""
    key = sku_key(sku)
    if not key:
        raise InvalidInput("a SKU is required")
    item = session.scalars(select(Item).where(Item.sku == sku.strip())).first()
    if item is None:
        item = session.scalars(select(Item).where(Item.sku_key == key).order_by(Item.id)).first()
    if item is None:
        raise NotFound("SKU", sku, suggest_skus(session, sku))
    return item


# Letters typed for the digits they look like ("V-2OO" for V-200): SKUs equal once folded are suggested first.
LOOK_ALIKES = str.maketrans("OIL", "011")


def suggest_skus(session: Session, sku: str, limit: int = 3) -> list[str]:
    """SKUs that look like `sku`; scans only SKUs sharing its first letter, so it stays cheap."""
    key = sku_key(sku)
    prefix = key[:1]
    keys = session.execute(select(Item.sku_key, Item.sku).where(Item.sku_key.like(f"{prefix}%")).limit(20000)).all()
    by_key = {k: s for k, s in keys}
    folded = key[:1] + key[1:].translate(LOOK_ALIKES)
    look_alikes = [s for k, s in by_key.items() if k[:1] + k[1:].translate(LOOK_ALIKES) == folded and k != key]
    close = [by_key[m] for m in difflib.get_close_matches(key, list(by_key), n=limit, cutoff=0.6)]
    return list(dict.fromkeys(look_alikes + close))[:limit]


def get_items(session: Session, *, skus: Sequence[str]) -> dict[str, Item]:
    """Items by SKU in one query; unknown SKUs are refused together, each with suggestions."""
    wanted = {sku_key(s): s for s in skus}
    rows = session.scalars(select(Item).where(Item.sku_key.in_(list(wanted)))).all()
    found = {sku_key(item.sku): item for item in rows}
    missing = [original for key, original in wanted.items() if key not in found]
    if missing:
        if len(missing) == 1:
            raise NotFound("SKU", missing[0], suggest_skus(session, missing[0]))
        raise NotFound("SKU", ", ".join(missing))
    return {original: found[key] for key, original in wanted.items()}


def require_active(session: Session, items: Sequence[Item], doing: str) -> None:
    """Refuse inactive items for a new sale or purchase, naming their active substitutes (stock already held can
    still move, be counted or be returned)."""
    inactive = [item for item in items if not item.active]
    if not inactive:
        return
    rows = session.execute(
        select(ItemSubstitute.item_id, Item.sku)
        .join(Item, Item.id == ItemSubstitute.substitute_id)
        .where(ItemSubstitute.item_id.in_([i.id for i in inactive]), Item.active.is_(True))
        .order_by(ItemSubstitute.item_id, ItemSubstitute.priority, Item.sku)
    ).all()
    substitutes: dict[int, list[str]] = {}
    for item_id, sku in rows:
        substitutes.setdefault(item_id, []).append(sku)
    named = [
        f"{i.sku} (substitutes: {', '.join(substitutes[i.id])})" if i.id in substitutes else i.sku for i in inactive
    ]
    raise InvalidState(
        f"inactive items cannot be {doing}: {'; '.join(named)}",
        inactive=[i.sku for i in inactive],
        suggestions=[sku for i in inactive for sku in substitutes.get(i.id, [])],
    )


def get_warehouse(session: Session, *, code: str, suggest_for: Actor | None = None) -> Warehouse:
    """The warehouse with this code, city or name (case-insensitive), suggesting codes or cities on a miss
    (only the warehouses of `suggest_for`'s entities, when given, so a miss reveals nothing else)."""
    warehouses = session.scalars(select(Warehouse)).all()
    wanted = code.strip().upper()
    for warehouse in warehouses:
        if wanted in (
            warehouse.code.upper(),
            warehouse.city.upper(),
            warehouse.name.upper(),
        ):
            return warehouse
    visible = [w for w in warehouses if suggest_for is None or suggest_for.can_see(w.entity_id)]
    names = [w.code for w in visible] + [w.city for w in visible]
    suggestions = _originals(_closest(wanted, names), names)
    raise NotFound("warehouse", code, suggestions or [w.code for w in visible])


def get_warehouse_in_scope(session: Session, actor: Actor, *, code: str) -> Warehouse:
    """The warehouse this code, city or name means, refused unless it is in the actor's scope.

    Neither a miss nor the refusal names another entity's warehouse: suggestions come from the actor's own,
    and the refusal repeats the asker's words (asked for "Manchester", it does not answer with its code).
    """
    warehouse = get_warehouse(session, code=code, suggest_for=actor)
    actor.require_entity(warehouse.entity_id, f"warehouse {code.strip()}")
    return warehouse


def get_entity(session: Session, *, code: str) -> LegalEntity:
    """The legal entity with this code."""
    entity = session.scalars(select(LegalEntity).where(LegalEntity.code == code.strip().upper())).first()
    if entity is None:
        codes = list(session.scalars(select(LegalEntity.code)))
        raise NotFound("legal entity", code, codes)
    return entity


def entity_codes(session: Session, entity_ids: Iterable[int]) -> dict[int, str]:
    """The code of each of these legal entities, by id."""
    ids = set(entity_ids)
    rows = session.execute(select(LegalEntity.id, LegalEntity.code).where(LegalEntity.id.in_(ids)))
    return {entity_id: code for entity_id, code in rows}


def has_entities(session: Session) -> bool:
    """Whether any legal entity exists yet (an empty database needs its company loaded first)."""
    return session.scalar(select(LegalEntity.id).limit(1)) is not None


@dataclass(frozen=True)
class Site:
    """A warehouse with the legal entity that owns it."""

    entity: str
    entity_name: str
    currency: str
    warehouse: str


def sites(session: Session) -> list[Site]:
    """Every warehouse with its legal entity, by entity code then warehouse code."""
    rows = session.execute(
        select(LegalEntity.code, LegalEntity.name, LegalEntity.base_currency, Warehouse.code)
        .join(Warehouse, Warehouse.entity_id == LegalEntity.id)
        .order_by(LegalEntity.code, Warehouse.code)
    )
    return [Site(entity, name, currency, warehouse) for entity, name, currency, warehouse in rows]


def item_count(session: Session) -> int:
    """How many items the catalogue holds."""
    return int(session.scalar(select(func.count()).select_from(Item)) or 0)


def item_skus(session: Session, *, item_ids: Iterable[int]) -> dict[int, str]:
    """The SKU of each of these items, by id."""
    rows = session.execute(select(Item.id, Item.sku).where(Item.id.in_(set(item_ids))))
    return {item_id: sku for item_id, sku in rows}


def warehouse_codes(session: Session, *, warehouse_ids: Iterable[int]) -> dict[int, str]:
    """The code of each of these warehouses, by id."""
    rows = session.execute(select(Warehouse.id, Warehouse.code).where(Warehouse.id.in_(set(warehouse_ids))))
    return {warehouse_id: code for warehouse_id, code in rows}


def display_names(session: Session, *, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Users' display names by id, in one query (a missing id, None, is skipped)."""
    return _users_by_id(session, User.display_name, user_ids)


def usernames(session: Session, *, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Users' usernames by id, in one query (a missing id, None, is skipped)."""
    return _users_by_id(session, User.username, user_ids)


def _users_by_id(
    session: Session, column: InstrumentedAttribute[str], user_ids: Iterable[int | None]
) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return {user_id: value for user_id, value in session.execute(select(User.id, column).where(User.id.in_(ids)))}


def _labelled(session: Session, wanted: str) -> Customer | None:
    """The customer written as results label it, code then name ("MAGNOLIA2 Magnolia Mechanical Co."), when both
    agree: a caller that copies the label back means that customer."""
    head, _, rest = wanted.partition(" ")
    customer = session.scalars(select(Customer).where(Customer.code == head.upper())).first() if rest else None
    return customer if customer is not None and customer.name.casefold() == rest.strip().casefold() else None


def get_customer(session: Session, actor: Actor, *, code: str) -> Customer:
    """The customer with this code, or whose name is this (case-insensitive), if in the actor's scope.

    Suggestions on a miss come only from the actor's own entities, so they reveal nothing else.
    """
    wanted = code.strip()
    customer = session.scalars(select(Customer).where(Customer.code == wanted.upper())).first()
    if customer is None:
        customer = session.scalars(select(Customer).where(Customer.name.ilike(wanted)).order_by(Customer.id)).first()
    if customer is None:
        customer = _labelled(session, wanted)
    if customer is None:
        rows = session.execute(
            select(Customer.code, Customer.name).where(Customer.entity_id.in_(actor.entity_ids))
        ).all()
        names = [r.code for r in rows] + [r.name for r in rows]
        raise NotFound("customer", code, _originals(_closest(wanted, names), names))
    actor.require_entity(customer.entity_id, f"customer {wanted}")  # in the asker's words: no code revealed
    return customer


def get_supplier(session: Session, *, code: str, suggest_for: Actor | None = None) -> Supplier:
    """The supplier with this code; on a miss, suggestions only from `suggest_for`'s entities when given."""
    supplier = session.scalars(select(Supplier).where(Supplier.code == code.strip().upper())).first()
    if supplier is None:
        visible = [] if suggest_for is None else [Supplier.entity_id.in_(suggest_for.entity_ids)]
        codes = list(session.scalars(select(Supplier.code).where(*visible)))
        raise NotFound("supplier", code, _originals(_closest(code, codes), codes))
    return supplier


def load_actor(session: Session, *, username: str) -> Actor:
    """The acting identity of an active user: roles and the entities in scope."""
    user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        usernames = list(session.scalars(select(User.username)))
        raise NotFound("user", username, _originals(_closest(username, usernames), usernames))
    roles = frozenset(Role(r) for r in session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
    entities = frozenset(session.scalars(select(UserEntityScope.entity_id).where(UserEntityScope.user_id == user.id)))
    return Actor(user_id=user.id, username=user.username, roles=roles, entity_ids=entities)


def role_sets(session: Session) -> list[frozenset[Role]]:
    """The distinct sets of roles the active users hold, the set most users hold first (ties: fewer roles first),
    for warming one prompt per set before anyone asks. Names no user."""
    held: dict[int, set[Role]] = {}
    rows = session.execute(select(UserRole.user_id, UserRole.role).join(User).where(User.active.is_(True)))
    for user_id, role in rows:
        held.setdefault(user_id, set()).add(Role(role))
    counts: dict[frozenset[Role], int] = {}
    for roles in held.values():
        counts[frozenset(roles)] = counts.get(frozenset(roles), 0) + 1
    return sorted(counts, key=lambda roles: (-counts[roles], len(roles), sorted(roles)))


def intercompany_markup(session: Session, *, from_entity_id: int, to_entity_id: int) -> Decimal:
    """The markup percent on standard cost for goods sold from one entity to another."""
    rule = session.get(IntercompanyRule, (from_entity_id, to_entity_id))
    if rule is None:
        raise InvalidInput("no intercompany pricing rule between these entities; ask finance to add one")
    return Decimal(rule.markup_pct)


def is_entity_code(session: Session, code: str) -> bool:
    """Whether `code` names a legal entity (any entity: scope is checked where the entity is used)."""
    return session.scalar(select(LegalEntity.id).where(LegalEntity.code == code)) is not None

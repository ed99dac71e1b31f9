"""Master data of the demo company: written in bulk with explicit ids, returned as a `Company`."""

import math
import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.bulk import Row, insert_rows
from core.demo.catalog import ANCHORS, CatalogItem, build_catalog
from core.demo.company import (
    Company,
    CustomerRef,
    EntityRef,
    Horizon,
    ItemRef,
    PriceBook,
    RateBook,
    SupplierRef,
    WarehouseRef,
)
from core.demo.directory import (
    ACME_CODE,
    ACME_NAME,
    DELIVERY_NOTES,
    EMAIL_DOMAIN,
    ENTITIES,
    INTERCOMPANY_MARKUP,
    PRICE_LISTS,
    SUPPLIERS,
    USD_RATES,
    USERS,
    WAREHOUSES,
    CustomerNamer,
)
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
from core.masterdata.service import convert, sku_key
from core.purchasing.models import ItemSource
from core.sales.pricing import net_price

ABC_SHARES = (("A", 0.70), ("B", 0.90))  # cumulative share of demand up to which an item is A, then B
OBSOLETE_SHARE = 0.03  # of C items: stock nobody buys any more
INACTIVE_SHARE = 0.01  # of C items: discontinued, neither stocked nor sold
TIERS = (("A", 0.15), ("B", 0.35), ("C", 0.50))
TIER_ORDER_WEIGHT = {"A": 6.0, "B": 2.5, "C": 1.0}
TIER_CREDIT_USD = {"A": 60_000, "B": 25_000, "C": 8_000}
PRICE_LIST_CHANCE = {"A": 0.7, "B": 0.4, "C": 0.1}
CONTRACT_CHANCE = 0.5  # of A-tier customers
SUBSTITUTES_PER_ITEM = 2


def nice(amount: float) -> Decimal:
    """An amount rounded to two significant figures, as limits are usually set."""
    if amount <= 0:
        return Decimal(0)
    step = 10 ** max(0, int(math.log10(amount)) - 1)
    return Decimal(round(amount / step) * step)


def _entities(session: Session) -> list[EntityRef]:
    refs = [EntityRef(i, spec) for i, spec in enumerate(ENTITIES, start=1)]
    insert_rows(
        session,
        LegalEntity,
        (
            {"id": e.id, "code": e.code, "name": e.spec.name, "base_currency": e.currency, "country": e.spec.country}
            for e in refs
        ),
    )
    return refs


def _warehouses(session: Session, entity_ids: dict[str, int]) -> list[WarehouseRef]:
    refs = [WarehouseRef(i, spec, entity_ids[spec.entity]) for i, spec in enumerate(WAREHOUSES, start=1)]
    rows = (
        {"id": w.id, "code": w.code, "name": w.spec.name, "city": w.spec.city, "entity_id": w.entity_id} for w in refs
    )
    insert_rows(session, Warehouse, rows)
    return refs


def _rate_rows(rng: random.Random, horizon: Horizon) -> list[tuple[str, str, Decimal, date]]:
    """Quarterly rates from a year before the history, drifting a little each quarter, every pair both ways."""
    first = date(horizon.start.year - 1, 3 * ((horizon.start.month - 1) // 3) + 1, 1)
    usd = dict(USD_RATES)
    rows: list[tuple[str, str, Decimal, date]] = []
    quarter = first
    while quarter <= horizon.as_of:
        for source in usd:
            for target in usd:
                if source != target:
                    rows.append((source, target, Decimal(str(round(usd[target] / usd[source], 6))), quarter))
        usd = {c: r if c == "USD" else r * math.exp(rng.gauss(0, 0.015)) for c, r in usd.items()}
        month = quarter.month + 3
        quarter = date(quarter.year + (month > 12), (month - 1) % 12 + 1, 1)
    return rows


def _rates(session: Session, rng: random.Random, horizon: Horizon) -> RateBook:
    rows = _rate_rows(rng, horizon)
    insert_rows(
        session,
        CurrencyRate,
        (
            {"id": i, "from_currency": s, "to_currency": t, "rate": r, "valid_from": d}
            for i, (s, t, r, d) in enumerate(rows, start=1)
        ),
    )
    return RateBook(rows)


def _intercompany(session: Session, entity_ids: dict[str, int]) -> dict[tuple[int, int], Decimal]:
    markups = {(entity_ids[a], entity_ids[b]): Decimal(pct) for (a, b), pct in INTERCOMPANY_MARKUP.items()}
    rows = ({"from_entity_id": a, "to_entity_id": b, "markup_pct": pct} for (a, b), pct in markups.items())
    insert_rows(session, IntercompanyRule, rows)
    return markups


def _abc(catalog: list[CatalogItem]) -> list[str]:
    """A, B or C per item by its share of demand, most popular first."""
    total = sum(item.popularity for item in catalog)
    classes = ["C"] * len(catalog)
    running = 0.0
    for index in sorted(range(len(catalog)), key=lambda i: (-catalog[i].popularity, i)):
        running += catalog[index].popularity
        classes[index] = next((cls for cls, share in ABC_SHARES if running <= share * total), "C")
    return classes


def _item_refs(rng: random.Random, catalog: list[CatalogItem]) -> list[ItemRef]:
    pinned = {a.sku for a in ANCHORS}
    refs = []
    for index, (item, abc) in enumerate(zip(catalog, _abc(catalog), strict=True)):
        draw = rng.random() if abc == "C" and item.sku not in pinned else 1.0
        active = draw >= INACTIVE_SHARE
        weight = item.popularity if draw >= INACTIVE_SHARE + OBSOLETE_SHARE else 0.0
        typical = max(1, round(40 / float(item.standard_cost) ** 0.7))
        refs.append(ItemRef(index + 1, item, weight, abc, typical, active))
    return refs


def _items(session: Session, rng: random.Random, count: int) -> list[ItemRef]:
    refs = _item_refs(rng, build_catalog(rng, count))
    rows = (
        {
            "id": r.id,
            "sku": r.sku,
            "sku_key": sku_key(r.sku),
            "name": r.item.name,
            "description": r.item.description,
            "category": r.item.category,
            "uom": r.item.uom,
            "standard_cost": r.item.standard_cost,
            "list_price": r.item.list_price,
            "active": r.active,
        }
        for r in refs
    )
    insert_rows(session, Item, rows)
    return refs


def _substitutes(session: Session, items: list[ItemRef]) -> None:
    """Items of one group (same kind, size and pack) stand in for each other; the group's first ones first."""
    groups: dict[str, list[int]] = {}
    for item in items:
        groups.setdefault(item.item.group, []).append(item.id)

    def rows() -> list[Row]:
        out = []
        for members in groups.values():
            for item_id in members:
                others = [m for m in members if m != item_id][:SUBSTITUTES_PER_ITEM]
                out += [{"item_id": item_id, "substitute_id": s, "priority": p} for p, s in enumerate(others, start=1)]
        return out

    insert_rows(session, ItemSubstitute, rows())


def _users(session: Session, entity_ids: dict[str, int]) -> dict[str, int]:
    ids = {spec.username: i for i, spec in enumerate(USERS, start=1)}
    currency = {e.code: e.currency for e in ENTITIES}
    insert_rows(
        session,
        User,
        (
            {
                "id": ids[u.username],
                "username": u.username,
                "display_name": u.display_name,
                "email": f"{u.username}@{EMAIL_DOMAIN}",
                "active": True,
            }
            for u in USERS
        ),
    )
    insert_rows(session, UserRole, ({"user_id": ids[u.username], "role": r.value} for u in USERS for r in u.roles))
    insert_rows(
        session,
        UserEntityScope,
        (
            {
                "user_id": ids[u.username],
                "entity_id": entity_ids[e],
                "approval_limit": nice(u.approval_limit_usd * USD_RATES[currency[e]]),
            }
            for u in USERS
            for e in u.entities
        ),
    )
    return ids


def _suppliers(session: Session, entity_ids: dict[str, int]) -> list[SupplierRef]:
    refs = [SupplierRef(i, spec, entity_ids[spec.entity]) for i, spec in enumerate(SUPPLIERS, start=1)]
    rows = (
        {
            "id": s.id,
            "code": s.code,
            "name": s.spec.name,
            "entity_id": s.entity_id,
            "currency": s.spec.currency,
            "lead_time_days": s.spec.lead_time_days,
            "note": s.spec.note,
        }
        for s in refs
    )
    insert_rows(session, Supplier, rows)
    return refs


def _price_lists(
    session: Session, items: list[ItemRef], entities: dict[str, EntityRef], rates: RateBook, on: date
) -> PriceBook:
    """Each entity's lists in its currency, covering the A and B items at a fixed discount off list."""
    book = PriceBook()
    insert_rows(
        session,
        PriceList,
        (
            {
                "id": i,
                "code": p.code,
                "name": p.name,
                "entity_id": entities[p.entity].id,
                "currency": entities[p.entity].currency,
            }
            for i, p in enumerate(PRICE_LISTS, start=1)
        ),
    )
    for list_id, spec in enumerate(PRICE_LISTS, start=1):
        rate = rates.from_usd(entities[spec.entity].currency, on)
        for item in items:
            if item.abc != "C" and item.active:
                listed = convert(item.item.list_price, rate)
                book.listed[(list_id, item.id)] = net_price(listed, Decimal(spec.discount_pct))
    insert_rows(
        session,
        PriceListItem,
        ({"price_list_id": pl, "item_id": item, "unit_price": price} for (pl, item), price in book.listed.items()),
    )
    return book


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _customer_counts(total: int) -> dict[str, int]:
    counts = {e.code: int(total * e.order_share) for e in ENTITIES}
    counts[ENTITIES[0].code] += total - sum(counts.values())
    return counts


class CustomerMaker:
    """Builds the customers of each entity, ACME first, with tiers, homes, terms and price lists."""

    def __init__(self, rng: random.Random, entities: list[EntityRef], warehouses: list[WarehouseRef]) -> None:
        self.rng = rng
        self.namer = CustomerNamer(rng)
        self.entities = entities
        self.warehouses = warehouses
        self.rows: list[Row] = []
        self.refs: list[CustomerRef] = []

    def _home(self, entity: EntityRef, acme: bool) -> WarehouseRef:
        options = [w for w in self.warehouses if w.entity_id == entity.id]
        if acme:
            return next(w for w in options if w.code == "ATL")
        return self.rng.choices(options, weights=[w.spec.share for w in options])[0]

    def _terms(self, entity: EntityRef, tier: str) -> int:
        if entity.code == "NA" and tier == "A":
            return self.rng.choice((30, 45, 60))
        return self.rng.choice((30, 30, 30, 60))

    def _price_list(self, entity: EntityRef, tier: str, acme: bool) -> int | None:
        lists = [i for i, p in enumerate(PRICE_LISTS, start=1) if p.entity == entity.code]
        if acme:
            return lists[0]
        return self.rng.choice(lists) if self.rng.random() < PRICE_LIST_CHANCE[tier] else None

    def add(self, entity: EntityRef, index: int) -> None:
        acme = entity.code == "NA" and index == 0
        name = ACME_NAME if acme else self.namer.name(entity.code, index)
        code = ACME_CODE if acme else self.namer.code(name)
        tier = "A" if acme else _weighted(self.rng, TIERS)
        home = self._home(entity, acme)
        ref = CustomerRef(
            id=len(self.refs) + 1,
            code=code,
            entity_id=entity.id,
            tier=tier,
            home_id=home.id,
            terms_days=self._terms(entity, tier),
            weight=TIER_ORDER_WEIGHT[tier] * self.rng.lognormvariate(0, 0.4) * (2.5 if acme else 1.0),
            price_list_id=self._price_list(entity, tier, acme),
            on_hold=False,
        )
        self.refs.append(ref)
        note = f"Served from {home.code}. {self.rng.choice(DELIVERY_NOTES)}".strip()
        limit = nice(TIER_CREDIT_USD[tier] * USD_RATES[entity.currency])
        self.rows.append(
            {
                "id": ref.id,
                "code": code,
                "name": name,
                "entity_id": entity.id,
                "tier": tier,
                "credit_limit": limit,
                "payment_terms_days": ref.terms_days,
                "price_list_id": ref.price_list_id,
                "on_credit_hold": False,
                "credit_hold_reason": None,
                "note": note,
            }
        )

    def put_on_hold(self, count: int) -> None:
        """Stop `count` B-tier customers of NA and UK; the reason is written once their overdue invoices are known."""
        candidates = [r.id for r in self.refs if r.tier == "B" and self.entities[r.entity_id - 1].code != "SEA"]
        for customer_id in sorted(self.rng.sample(candidates, min(count, len(candidates)))):
            self.refs[customer_id - 1] = replace(self.refs[customer_id - 1], on_hold=True)
            self.rows[customer_id - 1].update(on_credit_hold=True, credit_hold_reason="overdue invoices")


def _customers(
    session: Session, rng: random.Random, count: int, entities: list[EntityRef], warehouses: list[WarehouseRef]
) -> list[CustomerRef]:
    maker = CustomerMaker(rng, entities, warehouses)
    counts = _customer_counts(count)
    for entity in entities:
        for index in range(counts[entity.code]):
            maker.add(entity, index)
    maker.put_on_hold(min(3, max(1, count // 60)))
    insert_rows(session, Customer, maker.rows)
    return maker.refs


def _contracts(session: Session, rng: random.Random, company: Company) -> None:
    """Contract prices for about half the A-tier customers (always ACME): popular items 10-18% off, a few expired."""
    start = company.horizon.start
    popular = [i for i in company.items if i.weight > 0]
    weights = [i.weight for i in popular]
    rows: list[Row] = []
    for customer in company.customers:
        if customer.tier != "A" or (customer.code != ACME_CODE and rng.random() >= CONTRACT_CHANCE):
            continue
        currency = company.entity_by_id[customer.entity_id].currency
        rate = company.rates.from_usd(currency, start)
        chosen = {i.id: i for i in rng.choices(popular, weights=weights, k=rng.randint(5, 15))}
        for item in chosen.values():
            price = net_price(convert(item.item.list_price, rate), Decimal(rng.randint(10, 18)))
            valid_from = start - timedelta(days=rng.randint(30, 400))
            valid_to = start + timedelta(days=rng.randint(30, 200)) if rng.random() < 0.2 else None
            company.prices.contracts.setdefault((customer.id, item.id), []).append((valid_from, valid_to, price))
            rows.append(
                {
                    "id": len(rows) + 1,
                    "customer_id": customer.id,
                    "item_id": item.id,
                    "unit_price": price,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                }
            )
    insert_rows(session, ContractPrice, rows)


def create_master_data(session: Session, rng: random.Random, horizon: Horizon, items: int, customers: int) -> Company:
    """Entities, warehouses, rates, items, users, suppliers, price lists, customers and contracts."""
    entities = _entities(session)
    entity_ids = {e.code: e.id for e in entities}
    warehouses = _warehouses(session, entity_ids)
    rates = _rates(session, rng, horizon)
    markups = _intercompany(session, entity_ids)
    item_refs = _items(session, rng, items)
    _substitutes(session, item_refs)
    users = _users(session, entity_ids)
    suppliers = _suppliers(session, entity_ids)
    prices = _price_lists(session, item_refs, {e.code: e for e in entities}, rates, horizon.start)
    customer_refs = _customers(session, rng, customers, entities, warehouses)
    company = Company(horizon, entities, warehouses, item_refs, customer_refs, suppliers, users, rates, prices, markups)
    _contracts(session, rng, company)
    _item_sources(session, company)
    return company


PACK_SIZES = (50, 25, 10, 5, 1)
SMALL_ORDER_USD = 20  # below this unit cost a supplier sells at least two packs


def _item_sources(session: Session, company: Company) -> None:
    """Each entity's supplier of each item (the one its history bought from), with packs and a minimum: the
    biggest usual carton of at most half a usual order line, and two packs for cheap items."""
    rows = []
    for entity in company.entities:
        for item in company.items:
            pack = next(p for p in PACK_SIZES if p <= max(1, item.typical_qty // 2))
            moq = pack * 2 if item.item.standard_cost < SMALL_ORDER_USD else pack
            supplier = company.supplier_for(item, entity.id)
            rows.append(
                {"item_id": item.id, "entity_id": entity.id, "supplier_id": supplier.id, "moq": moq, "pack_size": pack}
            )
    insert_rows(session, ItemSource, rows)

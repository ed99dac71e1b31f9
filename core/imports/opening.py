"""Opening stock: the on-hand a company brings from its previous system, loaded as `opening` ledger receipts.

Each item x warehouse figure becomes an `OpeningStock` entry (valued at the unit cost the old system held), its
ledger row (movement `opening`) and the balance, in the caller's transaction, so ledger = balance from the first
minute. The volumes are a whole catalogue (100,000 items x 6 warehouses), so new figures are written set-based,
many rows per statement (`core.bulk`); only a pair with backorders waiting goes through the core's `Posting`, which
hands them the stock as a receipt would.

Loading again is safe: the same figures change nothing; a different figure for a pair that only opening entries
have moved posts the difference as another opening entry (the ledger stays append-only); once anything else has
moved the pair (a receipt, a shipment, a count), its opening figure is history and the change is refused with the
reason: correct stock with a count from then on.

Documents open in the old system (purchase and sales orders, receivables) are in `core.imports.opening_documents`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Insert, bindparam, case, func, insert, literal, select, text
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.audit.service import AuditContext, record_event
from core.bulk import chunks, insert_rows, reset_sequences, table
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.masterdata.models import Item, LegalEntity, Warehouse
from core.money import round_money, round_unit_price
from core.stock.models import OPENING_STOCK_REF, Bucket, LedgerEntry, Movement, OpeningStock, StockBalance
from core.stock.service import Key, open_posting

IMPORT_CHANNEL = "import"
MAX_OPENING_QUANTITY = 100_000_000  # on hand of one item in one warehouse; beyond this the figure is a typo
MAX_UNIT_COST = Decimal("100000000")
# Opening-stock loads queue on this transaction-level lock on PostgreSQL ("OPENSTCK"): they number their entries
# themselves, many per statement.
OPENING_LOCK_KEY = 0x4F50_454E_5354_434B
IN_CHUNK = 900  # ids per IN (...) list: under SQLite's older 999-variable limit

K = TypeVar("K")


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass
class Outcome(Generic[K]):
    """What a load did, per record key: (item id, warehouse id) for stock, the external reference for documents.

    `refused` says why for each record that history forbids changing; `numbers` are the documents created or
    found, by key ("PO-12")."""

    kind: str
    changes: dict[K, Change] = field(default_factory=dict)
    refused: dict[K, str] = field(default_factory=dict)
    numbers: dict[K, str] = field(default_factory=dict)

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes.values() if c is change)

    @property
    def counts(self) -> dict[str, int]:
        """How many records were created, updated, unchanged and refused."""
        return {change.value: self.count(change) for change in Change}

    def note(self, key: K, change: Change, reason: str | None = None) -> None:
        self.changes[key] = change
        if reason is not None:
            self.refused[key] = reason


def require_importer(actor: Actor) -> None:
    """Loading a company's opening balances is a setup act of an administrator (audited, not gated)."""
    if Role.ADMIN not in actor.roles:
        raise PermissionDenied(f"{actor.username} may not load opening balances: needs the role admin")


def record_load(session: Session, actor: Actor, outcome: "Outcome[Any]") -> None:
    """One audit event per kind of record loaded, with the counts, when the load changed anything."""
    if not (outcome.count(Change.CREATED) or outcome.count(Change.UPDATED)):
        return
    record_event(
        session,
        AuditContext(actor_user_id=actor.user_id, channel=IMPORT_CHANNEL),
        action=f"{outcome.kind}_loaded",
        subject_type="import",
        subject_id=outcome.kind,
        data={"counts": outcome.counts, "refused": len(outcome.refused)},
    )


# --- Opening stock -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningStockRow:
    """On hand of one item at one warehouse in the previous system, at its unit cost there (in the warehouse's
    entity currency). Quantities are whole units, as everywhere in the ledger."""

    item_id: int
    warehouse_id: int
    quantity: int
    unit_cost: Decimal


@dataclass(frozen=True)
class _Pair:
    """What the books hold for a pair already: its balance and what the ledger and opening entries say."""

    on_hand: int
    reserved: int
    backordered: int
    opening: int = 0  # units the opening entries posted
    other_movements: int = 0  # ledger rows that are not opening entries
    unit_cost: Decimal | None = None  # of the latest opening entry

    @property
    def moved(self) -> bool:
        return self.opening != 0 or self.other_movements > 0


@dataclass(frozen=True)
class _Post:
    """An opening entry to write: `delta` units (the difference) towards the `row`'s figure."""

    row: OpeningStockRow
    delta: int
    balance_exists: bool


@dataclass
class _Plan:
    posts: list[_Post] = field(default_factory=list)  # set-based
    receipts: list[_Post] = field(default_factory=list)  # through Posting: backorders wait for the stock
    revalued: list[OpeningStockRow] = field(default_factory=list)


def load_opening_stock(session: Session, actor: Actor, rows: Sequence[OpeningStockRow]) -> Outcome[Key]:
    """Post the opening on-hand of each item x warehouse (a ledger receipt of type `opening` and the balance, in
    this transaction); returns per pair whether it was created, updated, unchanged or refused (and why)."""
    require_importer(actor)
    wanted = _checked_rows(rows)
    warehouses = _warehouses(session, actor, {w for _, w in wanted})
    _require_items(session, {i for i, _ in wanted})
    _lock_opening(session)
    books = _books(session, wanted, list(warehouses))
    outcome: Outcome[Key] = Outcome("opening_stock")
    plan = _plan(wanted, books, outcome)
    posted_at, user_id = clock.now(), actor.user_id
    _write_posts(session, plan.posts, warehouses, posted_at, user_id)
    _post_receipts(session, actor, plan.receipts, warehouses)
    _revalue(session, plan.revalued)
    record_load(session, actor, outcome)
    return outcome


def _checked_rows(rows: Sequence[OpeningStockRow]) -> dict[Key, OpeningStockRow]:
    """The rows by pair, costs to four places; a malformed or repeated row is refused (messages built only then)."""
    wanted: dict[Key, OpeningStockRow] = {}
    for row in rows:
        key = (row.item_id, row.warehouse_id)
        quantity, cost = row.quantity, row.unit_cost
        if type(quantity) is not int or not 0 <= quantity <= MAX_OPENING_QUANTITY:
            raise InvalidInput(
                f"opening quantity of {_where(key)} must be a whole number of units from 0 to "
                f"{MAX_OPENING_QUANTITY:,}, got {quantity!r}"
            )
        if not isinstance(cost, Decimal | int) or not Decimal(cost).is_finite() or not 0 <= cost <= MAX_UNIT_COST:
            raise InvalidInput(f"unit cost of {_where(key)} must be a number from 0 to {MAX_UNIT_COST:,}, got {cost}")
        if key in wanted:
            raise InvalidInput(f"{_where(key)} is given twice; give each item's opening stock once per warehouse")
        rounded = round_unit_price(Decimal(cost))
        wanted[key] = row if rounded == cost and isinstance(cost, Decimal) else replace(row, unit_cost=rounded)
    return wanted


def _where(key: Key) -> str:
    return f"item {key[0]} at warehouse {key[1]}"


def _warehouses(session: Session, actor: Actor, ids: set[int]) -> dict[int, tuple[int, str]]:
    """(entity id, currency) of each warehouse, all of which must exist and lie in the actor's scope."""
    found = {
        row.id: (row.entity_id, row.base_currency)
        for row in session.execute(
            select(Warehouse.id, Warehouse.entity_id, LegalEntity.base_currency)
            .join(LegalEntity, LegalEntity.id == Warehouse.entity_id)
            .where(Warehouse.id.in_(sorted(ids)))
        )
    }
    missing = sorted(ids - set(found))
    if missing:
        raise NotFound("warehouse", str(missing[0]))
    for warehouse_id, (entity_id, _currency) in found.items():
        actor.require_entity(entity_id, f"warehouse {warehouse_id}")
    return found


def _require_items(session: Session, ids: set[int]) -> None:
    found: set[int] = set()
    for part in _id_chunks(ids):
        found.update(session.scalars(select(Item.id).where(Item.id.in_(part))))
    missing = sorted(ids - found)
    if missing:
        raise NotFound("item", str(missing[0]))


def _id_chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    return (ordered[i : i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK))


def _lock_opening(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({OPENING_LOCK_KEY})"))


def _books(session: Session, wanted: dict[Key, OpeningStockRow], warehouse_ids: list[int]) -> dict[Key, _Pair]:
    """What the books already hold for the wanted pairs, in a few grouped queries per warehouse set (the ledger is
    read only when some wanted pair has a balance: never on a first load)."""
    balances = {
        (row.item_id, row.warehouse_id): row
        for row in session.execute(
            select(
                StockBalance.item_id,
                StockBalance.warehouse_id,
                StockBalance.on_hand,
                StockBalance.reserved,
                StockBalance.backordered,
            )
            .where(StockBalance.warehouse_id.in_(warehouse_ids))
            .order_by(StockBalance.item_id, StockBalance.warehouse_id)
            .with_for_update()
        )
        if (row.item_id, row.warehouse_id) in wanted
    }
    if not balances:
        return {}
    ledger = _ledger_summary(session, warehouse_ids, set(balances))
    costs = _opening_costs(session, warehouse_ids, set(balances))
    return {
        key: _Pair(
            on_hand=row.on_hand,
            reserved=row.reserved,
            backordered=row.backordered,
            opening=ledger.get(key, (0, 0))[0],
            other_movements=ledger.get(key, (0, 0))[1],
            unit_cost=costs.get(key),
        )
        for key, row in balances.items()
    }


def _ledger_summary(session: Session, warehouse_ids: list[int], keys: set[Key]) -> dict[Key, tuple[int, int]]:
    """(units posted by opening entries, count of other ledger rows) per pair."""
    is_opening = LedgerEntry.movement == Movement.OPENING.value
    rows = session.execute(
        select(
            LedgerEntry.item_id,
            LedgerEntry.warehouse_id,
            func.sum(case((is_opening, LedgerEntry.quantity), else_=0)),
            func.sum(case((is_opening, 0), else_=1)),
        )
        .where(LedgerEntry.warehouse_id.in_(warehouse_ids))
        .group_by(LedgerEntry.item_id, LedgerEntry.warehouse_id)
    )
    return {(i, w): (int(opening), int(other)) for i, w, opening, other in rows if (i, w) in keys}


def _opening_costs(session: Session, warehouse_ids: list[int], keys: set[Key]) -> dict[Key, Decimal]:
    latest = (
        select(func.max(OpeningStock.id))
        .where(OpeningStock.warehouse_id.in_(warehouse_ids))
        .group_by(OpeningStock.item_id, OpeningStock.warehouse_id)
    )
    rows = session.execute(
        select(OpeningStock.item_id, OpeningStock.warehouse_id, OpeningStock.unit_cost).where(
            OpeningStock.id.in_(latest)
        )
    )
    return {(i, w): round_unit_price(Decimal(cost)) for i, w, cost in rows if (i, w) in keys}


def _plan(wanted: dict[Key, OpeningStockRow], books: dict[Key, _Pair], outcome: Outcome[Key]) -> _Plan:
    plan = _Plan()
    changes = outcome.changes
    for key, row in wanted.items():
        pair = books.get(key)
        if pair is None:  # the common case, a first load: no balance yet, nothing to judge
            changes[key] = Change.CREATED if row.quantity > 0 else Change.UNCHANGED
            if row.quantity > 0:
                plan.posts.append(_Post(row, row.quantity, balance_exists=False))
            continue
        change, reason = _judge(row, pair)
        outcome.note(key, change, reason)
        if change is Change.REFUSED or change is Change.UNCHANGED:
            continue
        delta = row.quantity - pair.opening
        if pair.unit_cost is not None and pair.unit_cost != row.unit_cost:
            plan.revalued.append(row)
        if delta == 0:
            continue
        post = _Post(row, delta, balance_exists=True)
        (plan.receipts if pair.backordered > 0 and delta > 0 else plan.posts).append(post)
    return plan


def _judge(row: OpeningStockRow, pair: _Pair | None) -> tuple[Change, str | None]:
    """Created, updated, unchanged, or refused with the reason."""
    if pair is None or not pair.moved:
        return (Change.CREATED, None) if row.quantity > 0 else (Change.UNCHANGED, None)
    same = row.quantity == pair.opening and (pair.unit_cost is None or row.unit_cost == pair.unit_cost)
    if same:
        return Change.UNCHANGED, None
    if pair.other_movements:
        return Change.REFUSED, (
            f"opening stock was {pair.opening} at {pair.unit_cost if pair.unit_cost is not None else '-'} and "
            f"{pair.other_movements} other movement(s) have been posted since; use a stock count instead"
        )
    if row.quantity < pair.reserved:
        return Change.REFUSED, (
            f"{pair.reserved} units are reserved for open orders; the opening stock cannot go below that "
            f"(asked {row.quantity})"
        )
    return Change.UPDATED, None


def _write_posts(
    session: Session,
    posts: list[_Post],
    warehouses: dict[int, tuple[int, str]],
    posted_at: Any,
    user_id: int | None,
) -> None:
    """The entries, many rows per statement; then their ledger rows and new balances derived from them in SQL."""
    if not posts:
        return
    first_id = (session.scalar(select(func.max(OpeningStock.id))) or 0) + 1
    entries = (_entry_row(first_id + n, p, warehouses, posted_at, user_id) for n, p in enumerate(posts))
    insert_rows(session, OpeningStock, entries)
    written = OpeningStock.id.between(first_id, first_id + len(posts) - 1)
    _add_to_balances(session, [p for p in posts if p.balance_exists])
    session.execute(_ledger_from_entries(written))
    session.execute(_balances_from_entries(written))
    reset_sequences(session)


def _entry_row(
    id_: int, post: _Post, warehouses: dict[int, tuple[int, str]], posted_at: Any, user_id: int | None
) -> dict[str, Any]:
    row = post.row
    entity_id, currency = warehouses[row.warehouse_id]
    return {
        "id": id_,
        "item_id": row.item_id,
        "warehouse_id": row.warehouse_id,
        "entity_id": entity_id,
        "quantity": post.delta,
        "on_hand": row.quantity,
        "unit_cost": row.unit_cost,
        "value": round_money(row.unit_cost * post.delta),
        "currency": currency,
        "user_id": user_id,
        "posted_at": posted_at,
    }


def _ledger_from_entries(written: ColumnElement[bool]) -> Insert:
    """One ledger row (movement `opening`, pointing at its entry) per entry just written."""
    columns = ("item_id", "warehouse_id", "bucket", "movement", "quantity", "ref_type", "ref_id", "posted_at")
    source = select(
        OpeningStock.item_id,
        OpeningStock.warehouse_id,
        literal(Bucket.ON_HAND.value),
        literal(Movement.OPENING.value),
        OpeningStock.quantity,
        literal(OPENING_STOCK_REF),
        OpeningStock.id,
        OpeningStock.posted_at,
        OpeningStock.user_id,
        literal(""),
    ).where(written)
    return insert(LedgerEntry).from_select([*columns, "user_id", "note"], source)


def _balances_from_entries(written: ColumnElement[bool]) -> Insert:
    """A balance row holding the entry's units for each pair just written that had none."""
    exists = (
        select(StockBalance.item_id)
        .where(StockBalance.item_id == OpeningStock.item_id, StockBalance.warehouse_id == OpeningStock.warehouse_id)
        .exists()
    )
    zero = literal(0)
    source = select(
        OpeningStock.item_id, OpeningStock.warehouse_id, OpeningStock.quantity, zero, zero, zero, zero
    ).where(written, ~exists)
    columns = ["item_id", "warehouse_id", "on_hand", "reserved", "backordered", "incoming", "in_transit"]
    return insert(StockBalance).from_select(columns, source)


def _add_to_balances(session: Session, posts: list[_Post]) -> None:
    """On hand moves by each entry's units; the CHECK refuses going below what is reserved (judged before)."""
    balances = table(StockBalance)
    statement = (
        balances.update()
        .where(balances.c.item_id == bindparam("k_item"), balances.c.warehouse_id == bindparam("k_warehouse"))
        .values(on_hand=balances.c.on_hand + bindparam("k_delta"))
    )
    for part in chunks({"k_item": p.row.item_id, "k_warehouse": p.row.warehouse_id, "k_delta": p.delta} for p in posts):
        session.execute(statement, part)


def _post_receipts(
    session: Session, actor: Actor, receipts: list[_Post], warehouses: dict[int, tuple[int, str]]
) -> None:
    """Opening stock where backorders wait: posted as the core posts a receipt, which hands them the units."""
    for post in receipts:
        row = post.row
        entity_id, currency = warehouses[row.warehouse_id]
        entry = OpeningStock(
            item_id=row.item_id,
            warehouse_id=row.warehouse_id,
            entity_id=entity_id,
            quantity=post.delta,
            on_hand=row.quantity,
            unit_cost=row.unit_cost,
            value=round_money(row.unit_cost * post.delta),
            currency=currency,
            user_id=actor.user_id,
            posted_at=clock.now(),
        )
        session.add(entry)
        session.flush()
        key = (row.item_id, row.warehouse_id)
        posting = open_posting(session, actor, [key], OPENING_STOCK_REF, entry.id)
        posting.move(key, Bucket.ON_HAND, Movement.OPENING, post.delta)
        posting.allocate_backorders([key])
    session.flush()


def _revalue(session: Session, rows: list[OpeningStockRow]) -> None:
    """Another cost before anything else moved the stock: the pair's opening entries all take it (a correction of
    the figures taken over, not history)."""
    if not rows:
        return
    costs = {(r.item_id, r.warehouse_id): r.unit_cost for r in rows}
    entries = session.scalars(
        select(OpeningStock)
        .where(OpeningStock.warehouse_id.in_(sorted({w for _, w in costs})))
        .order_by(OpeningStock.id)
    )
    for entry in entries:
        cost = costs.get((entry.item_id, entry.warehouse_id))
        if cost is not None:
            entry.unit_cost = cost
            entry.value = round_money(cost * entry.quantity)
    session.flush()

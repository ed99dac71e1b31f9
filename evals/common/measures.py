"""What the core benchmark measures: ATP latency, order throughput and SQL statements per order.

Each measurement takes a prepared `Database` and returns plain, frozen figures; printing and
saving them is the caller's job (tables: `evals.common.tables`).
"""

import math
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

import core
from core import clock
from core.actor import Actor
from core.db import Database
from core.masterdata.models import Customer, Item, LegalEntity, Warehouse
from core.masterdata.service import load_actor
from core.sales.models import OrderStatus
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.models import StockBalance
from core.stock.service import available_to_promise

T = TypeVar("T")

CORE_DIR = Path(core.__file__).resolve().parent
REPO_DIR = CORE_DIR.parent
LINES_PER_ORDER = 3
ATP_DAYS_AHEAD = 30
ATP_USER = "grace"  # a manager over every entity: ATP lists all six warehouses, the widest look-up
SALES_USER = "sam"
SALES_ENTITY = "NA"
ATP_WARMUP = 50


# --- Latency figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Wall-clock latency of `count` calls, in milliseconds."""

    count: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not ordered:
        raise ValueError("no values to take a percentile of")
    rank = math.ceil(fraction * len(ordered) - 1e-9)  # the epsilon keeps 0.95 * 100 at rank 95
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def summarize(seconds: Sequence[float]) -> Latency:
    """p50, p95, mean and max of call durations given in seconds."""
    ordered = sorted(s * 1000 for s in seconds)
    return Latency(
        count=len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        mean_ms=sum(ordered) / len(ordered),
        max_ms=ordered[-1],
    )


def timed(call: Callable[[], T]) -> tuple[float, T]:
    """(seconds taken, result) of one call."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def timed_read(db: Database, query: Callable[[Session], T]) -> tuple[float, T]:
    """(seconds taken, result) of one read transaction, opening and closing the session included."""
    return timed(lambda: db.read(query))


def timed_run(db: Database, command: Callable[[Session], T]) -> tuple[float, T]:
    """(seconds taken, result) of one command, retries included."""
    return timed(lambda: db.run(command))


# --- Available to promise ------------------------------------------------------------------


@dataclass(frozen=True)
class AtpVariant:
    """One shape of ATP question: SKU only, or with a warehouse filter, or on a future date."""

    label: str
    warehouse_filter: bool = False
    on_date: bool = False


ATP_VARIANTS = (
    AtpVariant("sku"),
    AtpVariant("sku + warehouse", warehouse_filter=True),
    AtpVariant(f"sku + date (+{ATP_DAYS_AHEAD} d)", on_date=True),
)


@dataclass(frozen=True)
class AtpResult:
    backend: str
    variant: str
    username: str
    warmup: int
    latency: Latency
    warehouse_rows: int  # warehouses reported over all timed calls: proof the calls did work


def all_skus(db: Database) -> list[str]:
    """Every SKU in id order, so a seeded sample is the same on every backend."""
    return db.read(lambda s: list(s.scalars(select(Item.sku).order_by(Item.id))))


def warehouses_in_scope(db: Database, actor: Actor) -> list[str]:
    """The codes of the warehouses the actor may see."""
    query = select(Warehouse.code).where(Warehouse.entity_id.in_(actor.entity_ids)).order_by(Warehouse.code)
    return db.read(lambda s: list(s.scalars(query)))


def atp_question(variant: AtpVariant, actor: Actor, sku: str, warehouse: str) -> Callable[[Session], int]:
    """One ATP look-up as a read query; returns how many warehouse rows it reported."""
    on_date = clock.today() + timedelta(days=ATP_DAYS_AHEAD) if variant.on_date else None
    where = warehouse if variant.warehouse_filter else None

    def query(session: Session) -> int:
        report = available_to_promise(session, actor, sku=sku, warehouse=where, on_date=on_date)
        return len(report.warehouses)

    return query


def measure_atp(
    db: Database,
    variant: AtpVariant,
    *,
    username: str,
    skus: Sequence[str],
    lookups: int,
    seed: int,
    warmup: int,
) -> AtpResult:
    """Latency of `lookups` ATP calls on random SKUs, each in its own read transaction."""
    actor = db.read(lambda s: load_actor(s, username=username))
    codes = warehouses_in_scope(db, actor)
    rng = random.Random(seed)
    questions = [atp_question(variant, actor, rng.choice(skus), rng.choice(codes)) for _ in range(warmup + lookups)]
    for question in questions[:warmup]:
        db.read(question)
    runs = [timed_read(db, question) for question in questions[warmup:]]
    return AtpResult(
        backend=db.dialect,
        variant=variant.label,
        username=username,
        warmup=warmup,
        latency=summarize([seconds for seconds, _ in runs]),
        warehouse_rows=sum(rows for _, rows in runs),
    )


# --- Sales orders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderPool:
    """What random orders are drawn from: one entity's customers and its SKUs with free stock."""

    entity: str
    customers: tuple[str, ...]
    skus: tuple[str, ...]


def order_pool(db: Database, *, entity: str) -> OrderPool:
    """Customers of `entity` not on credit hold, and SKUs with free stock in its warehouses."""
    customers = (
        select(Customer.code)
        .join(LegalEntity, LegalEntity.id == Customer.entity_id)
        .where(LegalEntity.code == entity, Customer.on_credit_hold.is_(False))
        .order_by(Customer.code)
    )
    skus = (
        select(Item.sku)
        .join(StockBalance, StockBalance.item_id == Item.id)
        .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
        .join(LegalEntity, LegalEntity.id == Warehouse.entity_id)
        .where(
            LegalEntity.code == entity,
            StockBalance.on_hand - StockBalance.reserved - StockBalance.backordered > 0,
        )
        .distinct()
        .order_by(Item.sku)
    )
    pool = db.read(lambda s: OrderPool(entity, tuple(s.scalars(customers)), tuple(s.scalars(skus))))
    if not pool.customers or len(pool.skus) < LINES_PER_ORDER:
        raise RuntimeError(f"entity {entity} needs customers and at least {LINES_PER_ORDER} SKUs in stock")
    return pool


@dataclass(frozen=True)
class OrderRequest:
    customer: str
    lines: tuple[LineRequest, ...]


def random_order(rng: random.Random, pool: OrderPool) -> OrderRequest:
    """A 3-line order of distinct in-stock SKUs, 1 to 5 units each, for a random customer."""
    skus = rng.sample(pool.skus, LINES_PER_ORDER)
    return OrderRequest(rng.choice(pool.customers), tuple(LineRequest(sku, rng.randint(1, 5)) for sku in skus))


def create_command(actor: Actor, request: OrderRequest) -> Callable[[Session], int]:
    """Create the draft order; returns its id."""
    return lambda session: create_order(session, actor, customer=request.customer, lines=request.lines).id


def confirm_command(actor: Actor, order_id: int) -> Callable[[Session], str]:
    """Confirm an order, backordering what is short; returns its status."""
    return lambda session: confirm_order(session, actor, order_number=order_id, allow_backorder=True).status


def sell_command(actor: Actor, request: OrderRequest) -> Callable[[Session], str]:
    """Create and confirm an order as one command (one transaction); returns its status."""

    def command(session: Session) -> str:
        order_id = create_command(actor, request)(session)
        return confirm_command(actor, order_id)(session)

    return command


# --- Orders per second ------------------------------------------------------------------------


@dataclass(frozen=True)
class ThroughputResult:
    backend: str
    clients: int
    seconds: float
    orders_confirmed: int
    orders_per_second: float
    latency: Latency | None
    retries: int
    errors: int
    error_kinds: dict[str, int]
    client_cpu_percent: float  # this process's CPU time over wall time, all threads: 100 is one core busy


@dataclass
class ClientTally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def run_client(db: Database, actor: Actor, pool: OrderPool, rng: random.Random, deadline: float) -> ClientTally:
    """Sell orders one after another until the deadline; count what failed and why."""
    tally = ClientTally()
    while time.monotonic() < deadline:
        command = sell_command(actor, random_order(rng, pool))
        try:
            seconds, status = timed_run(db, command)
        except Exception as error:  # a benchmark counts failures instead of stopping at the first
            tally.errors[f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"] += 1
            continue
        if status == OrderStatus.CONFIRMED:
            tally.latencies.append(seconds)
        else:
            tally.errors[f"order ended {status}, not confirmed"] += 1
    return tally


def measure_throughput(
    db: Database, *, username: str, pool: OrderPool, clients: int, seconds: float, seed: int
) -> ThroughputResult:
    """Orders created and confirmed per second by `clients` threads, each command in its own transaction."""
    actor = db.read(lambda s: load_actor(s, username=username))
    tallies: list[ClientTally] = [ClientTally() for _ in range(clients)]
    retries_before, cpu_before = db.retries, time.process_time()
    started = time.monotonic()
    deadline = started + seconds

    def client(index: int) -> None:
        tallies[index] = run_client(db, actor, pool, random.Random(seed * 1000 + index), deadline)

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = [s for tally in tallies for s in tally.latencies]
    errors = sum((tally.errors for tally in tallies), Counter[str]())
    return ThroughputResult(
        backend=db.dialect,
        clients=clients,
        seconds=elapsed,
        orders_confirmed=len(latencies),
        orders_per_second=len(latencies) / elapsed,
        latency=summarize(latencies) if latencies else None,
        retries=db.retries - retries_before,
        errors=sum(errors.values()),
        error_kinds=dict(errors.most_common()),
        client_cpu_percent=100 * (time.process_time() - cpu_before) / elapsed,
    )


# --- SQL statements per order ------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement sent to the database, and the core code that caused it."""

    sql: str
    origin: str  # innermost core frame, "core/sales/service.py:144 _stock_of"
    call_path: str  # core functions outermost first, "run > create_order > _stock_of"
    executemany: bool
    parameter_sets: int


def _core_frames() -> list[traceback.FrameSummary]:
    return [frame for frame in traceback.extract_stack() if Path(frame.filename).resolve().is_relative_to(CORE_DIR)]


def _statement(sql: str, parameters: Any, executemany: bool) -> Statement:
    frames = _core_frames()
    inner = frames[-1] if frames else None
    origin = (
        f"{Path(inner.filename).resolve().relative_to(REPO_DIR)}:{inner.lineno} {inner.name}"
        if inner
        else "outside core (unit of work)"
    )
    return Statement(
        sql=" ".join(sql.split()),
        origin=origin,
        call_path=" > ".join(frame.name for frame in frames) or "-",
        executemany=executemany,
        parameter_sets=len(parameters) if executemany else 1,
    )


@contextmanager
def recording_statements(engine: Engine) -> Iterator[list[Statement]]:
    """Record every statement the engine sends; a DB-API executemany call counts as one."""
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, executemany: bool) -> None:
        statements.append(_statement(sql, parameters, executemany))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def rolled_back(db: Database, command: Callable[[Session], T]) -> T:
    """Run a command in a write transaction like `db.run`, but roll it back: same statements, no change."""
    with db.session(write=True) as session:
        return command(session)


def counted(db: Database, command: Callable[[Session], T], *, commit: bool = True) -> tuple[T, list[Statement]]:
    """Run one command (committed, or rolled back) and return its result with the statements it sent."""
    with recording_statements(db.engine) as statements:
        result = db.run(command) if commit else rolled_back(db, command)
    return result, list(statements)


@dataclass(frozen=True)
class StatementCount:
    backend: str
    command: str
    count: int
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class StatementReport:
    backend: str
    customer: str
    skus: tuple[str, ...]
    counts: tuple[StatementCount, ...]  # create, confirm, create + confirm
    recount: int  # the same create + confirm on the same state, rolled back: the count must not drift

    def count_of(self, command: str) -> int:
        return next(c.count for c in self.counts if c.command == command)


SELL = "create + confirm"


def statement_customer(db: Database, pool: OrderPool) -> str:
    """A customer with a price list when there is one: the most statements an order can need."""
    with_list = select(Customer.code).where(Customer.code.in_(pool.customers), Customer.price_list_id.is_not(None))
    return db.read(lambda s: s.scalars(with_list.order_by(Customer.code)).first()) or pool.customers[0]


def measure_statements(db: Database, *, username: str, pool: OrderPool, seed: int) -> StatementReport:
    """Statements sent by creating, confirming, and creating-and-confirming one 3-line order."""
    actor = db.read(lambda s: load_actor(s, username=username))
    drawn = random_order(random.Random(seed), pool)
    request = OrderRequest(statement_customer(db, pool), drawn.lines)
    order_id, create = counted(db, create_command(actor, request))
    _, confirm = counted(db, confirm_command(actor, order_id))
    _, again = counted(db, sell_command(actor, request), commit=False)
    _, sell = counted(db, sell_command(actor, request))
    counts = (
        StatementCount(db.dialect, "create", len(create), tuple(create)),
        StatementCount(db.dialect, "confirm", len(confirm), tuple(confirm)),
        StatementCount(db.dialect, SELL, len(sell), tuple(sell)),
    )
    return StatementReport(
        backend=db.dialect,
        customer=request.customer,
        skus=tuple(line.sku for line in request.lines),
        counts=counts,
        recount=len(again),
    )

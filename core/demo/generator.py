"""`load_demo`: the whole demo company, from master data through history to today's open business."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, exc, func, select
from sqlalchemy.orm import Session

from core import clock
from core.bulk import reset_sequences
from core.db import Base, Database
from core.demo.catalog import ANCHORS
from core.demo.company import Company, Horizon, months_before
from core.demo.credit import set_credit_limits
from core.demo.demand import make_orders
from core.demo.directory import USERS
from core.demo.documents import row_budget, write_history_documents
from core.demo.masterdata import create_master_data
from core.demo.present import document_count, make_present
from core.demo.receivables import stage_receivables
from core.demo.scenario import Shortage, pick_shortages
from core.demo.stock import StockHistory, simulate_stock
from core.demo.walkthrough import guarantee_walkthrough_credit, guarantee_walkthrough_stock
from core.errors import InvalidInput, InvalidState
from core.masterdata.models import Customer, Item, LegalEntity, Supplier, User, Warehouse
from core.purchasing.models import PurchaseOrder
from core.sales.models import OrderStatus, SalesOrder
from core.stock.models import LedgerEntry
from core.transfers.models import Transfer

Progress = Callable[[str, int, int], None]
MIN_ITEMS = len(ANCHORS) + 40
MIN_CUSTOMERS = 12
MAX_HISTORY_MONTHS = 60
OPEN_STATUSES = (OrderStatus.DRAFT, OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED)


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 7
    items: int = 500
    customers: int = 150
    history_months: int = 12
    as_of: date | None = None  # default core.clock.today()


@dataclass(frozen=True)
class DemoSummary:
    """Counts of what was created, for the CLI to print."""

    entities: int
    warehouses: int
    items: int
    customers: int
    suppliers: int
    users: int
    sales_orders: int
    open_orders: int  # draft, on hold, confirmed or partly shipped
    purchase_orders: int
    transfers: int
    ledger_rows: int
    demo_users: list[tuple[str, str, str]]  # (username, roles, entities)


DEFAULT_CONFIG = DemoConfig()


class Tally:
    """Counts progress within one phase and reports it."""

    def __init__(self, progress: Progress, phase: str, total: int) -> None:
        self.progress, self.phase, self.total, self.done = progress, phase, max(1, total), 0
        progress(phase, 0, self.total)

    def add(self, count: int) -> None:
        self.done = min(self.total, self.done + count)
        self.progress(self.phase, self.done, self.total)

    def at(self, done: int, total: int) -> None:
        self.progress(self.phase, done, total)

    def finish(self) -> None:
        self.progress(self.phase, self.total, self.total)


def _ignore(_phase: str, _done: int, _total: int) -> None:
    return None


def _rng(seed: int, phase: str) -> random.Random:
    """One independent, reproducible stream per phase, so changing one phase leaves the others' draws alone."""
    return random.Random(f"{seed}:{phase}")


def _business_date(config: DemoConfig) -> date:
    today = clock.today()
    if config.as_of is not None and config.as_of != today:
        raise InvalidInput(
            f"as_of {config.as_of} is not the business date {today}: today's open documents are made by the "
            f"core's services, which date them today; set ERP_TODAY={config.as_of} to build the company as of that day"
        )
    return today


def _check(config: DemoConfig) -> None:
    if config.items < MIN_ITEMS:
        raise InvalidInput(f"the demo company needs at least {MIN_ITEMS} items, got {config.items}")
    if config.customers < MIN_CUSTOMERS:
        raise InvalidInput(f"the demo company needs at least {MIN_CUSTOMERS} customers, got {config.customers}")
    if not 1 <= config.history_months <= MAX_HISTORY_MONTHS:
        raise InvalidInput(f"history_months must be between 1 and {MAX_HISTORY_MONTHS}, got {config.history_months}")


def _refuse_unless_empty(session: Session) -> None:
    """The demo goes into a migrated, empty database only."""
    try:
        filled = [
            m.__tablename__
            for m in (LegalEntity, Item, Customer, User)
            if session.scalar(select(func.count()).select_from(m))
        ]
    except exc.DBAPIError as error:
        raise InvalidState("the database has no ERP schema yet; run the migrations first") from error
    if filled:
        raise InvalidState(
            f"the database already holds data ({', '.join(filled)}); load the demo company into an empty database"
        )


def _load_history(
    session: Session, config: DemoConfig, horizon: Horizon, report: Progress
) -> tuple[Company, StockHistory, list[Shortage]]:
    """Master data and the history before `as_of`, written in bulk in the session's transaction."""
    _refuse_unless_empty(session)
    company = create_master_data(session, _rng(config.seed, "master data"), horizon, config.items, config.customers)
    report("master data", 1, 1)
    shortages = pick_shortages(company, _rng(config.seed, "scenarios"))
    book = make_orders(
        session, company, _rng(config.seed, "orders"), config.customers, Tally(report, "sales history", 1).at
    )
    stock = Tally(report, "stock history", len(company.items))
    history, plans = simulate_stock(company, book, _rng(config.seed, "stock"), shortages, stock.at)
    writing = Tally(report, "writing history", row_budget(history, plans))
    write_history_documents(session, company, book, history, plans, _rng(config.seed, "documents"), writing.add)
    writing.finish()
    reset_sequences(session)
    return company, history, shortages


def load_demo(db: Database, config: DemoConfig = DEFAULT_CONFIG, progress: Progress | None = None) -> DemoSummary:
    """Load the demo company into a migrated, empty database; refuses (InvalidState) one that holds data."""
    report = progress or _ignore
    _check(config)
    as_of = _business_date(config)
    horizon = Horizon(months_before(as_of, config.history_months), as_of)
    with db.session(write=True) as session:
        company, history, shortages = _load_history(session, config, horizon, report)
        session.commit()
    holds = sum(c.on_hold for c in company.customers)
    today = Tally(report, "open documents", document_count(config.items, shortages, holds))
    make_present(db, company, history.end, shortages, _rng(config.seed, "present"), today.add)
    today.finish()
    guarantee_walkthrough_stock(db, company)  # the README's examples work on any day (see walkthrough.py)
    guarantee_walkthrough_credit(db, company)  # ACME never on an overdue hold (before its limit is set)
    report("walk-through stock", 1, 1)
    set_credit_limits(db, company, _rng(config.seed, "credit"))
    report("credit limits", 1, 1)
    stage_receivables(db, company)  # one customer long overdue, one late with cash on account
    report("receivables", 1, 1)
    db.refresh_statistics()  # a bulk load leaves the planner guessing: KPIs took seconds on PostgreSQL
    report("statistics", 1, 1)
    return db.read(_summary)


def _count(session: Session, model: type[Base], *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _summary(session: Session) -> DemoSummary:
    return DemoSummary(
        entities=_count(session, LegalEntity),
        warehouses=_count(session, Warehouse),
        items=_count(session, Item),
        customers=_count(session, Customer),
        suppliers=_count(session, Supplier),
        users=_count(session, User),
        sales_orders=_count(session, SalesOrder),
        open_orders=_count(session, SalesOrder, SalesOrder.status.in_([s.value for s in OPEN_STATUSES])),
        purchase_orders=_count(session, PurchaseOrder),
        transfers=_count(session, Transfer),
        ledger_rows=_count(session, LedgerEntry),
        demo_users=[(u.username, ",".join(r.value for r in u.roles), ",".join(u.entities)) for u in USERS],
    )

"""The opening-stock benchmark: a catalogue's on-hand in every warehouse, loaded into a fresh SQLite database.

    nice -n 19 .venv/bin/python -m evals.bench.opening_stock_bench [--items 100000] [--warehouses 6]

Creates one entity, its warehouses, an admin and the items (bulk inserts, as the import's item kind would),
then loads the opening stock of every item in every warehouse with `load_opening_stock` in one transaction,
checks ledger = balance, loads the same figures again (all unchanged), and prints the seconds of each step.
Issue 20 asks for 100,000 items x 6 warehouses in at most 60 s together with the items. Not a timed test.
"""

import argparse
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import schema
from core.actor import Role
from core.bulk import insert_rows
from core.db import Database
from core.imports.opening import Change, OpeningStockRow, load_opening_stock
from core.masterdata.models import Item, LegalEntity, User, UserEntityScope, UserRole, Warehouse
from core.masterdata.service import load_actor
from core.stock.models import LedgerEntry, StockBalance
from core.stock.reconciliation import stock_disagreements


def _company(session: Session, warehouses: int) -> None:
    session.add(LegalEntity(id=1, code="BYO", name="Bring Your Own Ltd", base_currency="EUR", country="DE"))
    session.add_all(
        Warehouse(id=n, code=f"WH{n}", name=f"Warehouse {n}", city=f"City {n}", entity_id=1)
        for n in range(1, warehouses + 1)
    )
    session.add(User(id=1, username="admin", display_name="Admin", email="admin@example.test"))
    session.flush()
    session.add(UserRole(user_id=1, role=Role.ADMIN.value))
    session.add(UserEntityScope(user_id=1, entity_id=1, approval_limit=Decimal(0)))


def _items(session: Session, count: int) -> None:
    rng = random.Random(20)
    rows = (
        {
            "id": n,
            "sku": f"SKU-{n:06d}",
            "sku_key": f"SKU{n:06d}",
            "name": f"Item {n}",
            "description": f"Item {n}",
            "category": f"cat{n % 40}",
            "uom": "EA",
            "standard_cost": Decimal(rng.randint(100, 90_000)) / 100,
            "list_price": Decimal(rng.randint(100, 150_000)) / 100,
            "active": True,
        }
        for n in range(1, count + 1)
    )
    insert_rows(session, Item, rows)


def _stock_rows(items: int, warehouses: int) -> list[OpeningStockRow]:
    rng = random.Random(6)
    return [
        OpeningStockRow(item, warehouse, rng.randint(1, 500), Decimal(rng.randint(100, 90_000)) / 100)
        for item in range(1, items + 1)
        for warehouse in range(1, warehouses + 1)
    ]


def run(items: int, warehouses: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = Database.from_url(f"sqlite:///{Path(folder) / 'opening.db'}")
        schema.upgrade(db.engine)
        db.run(lambda s: _company(s, warehouses))
        started = time.perf_counter()
        db.run(lambda s: _items(s, items))
        items_seconds = time.perf_counter() - started
        admin = db.read(lambda s: load_actor(s, username="admin"))
        rows = _stock_rows(items, warehouses)
        started = time.perf_counter()
        outcome = db.run(lambda s: load_opening_stock(s, admin, rows))
        stock_seconds = time.perf_counter() - started
        assert outcome.count(Change.CREATED) == items * warehouses, outcome.counts
        started = time.perf_counter()
        again = db.run(lambda s: load_opening_stock(s, admin, rows))
        rerun_seconds = time.perf_counter() - started
        assert again.count(Change.UNCHANGED) == items * warehouses, again.counts
        counts = db.read(
            lambda s: (
                s.scalar(select(func.count()).select_from(LedgerEntry)),
                s.scalar(select(func.count()).select_from(StockBalance)),
            )
        )
        assert counts == (items * warehouses, items * warehouses), counts
        started = time.perf_counter()
        assert db.read(stock_disagreements) == []
        check_seconds = time.perf_counter() - started
        db.dispose()
    return {
        "items": items_seconds,
        "opening_stock": stock_seconds,
        "items_and_stock": items_seconds + stock_seconds,
        "rerun_unchanged": rerun_seconds,
        "reconciliation": check_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--warehouses", type=int, default=6)
    args = parser.parse_args()
    figures = run(args.items, args.warehouses)
    rows = args.items * args.warehouses
    print(f"{args.items:,} items x {args.warehouses} warehouses = {rows:,} opening-stock rows on SQLite")
    for name, seconds in figures.items():
        print(f"  {name:<18} {seconds:7.1f} s")


if __name__ == "__main__":
    main()

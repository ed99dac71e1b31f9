"""The demo company exported as import files and imported into an empty database gives the same company: the
same on hand per item x warehouse, the same ATP, the same open orders and receivables per customer, and the
same answers from the assistant's read tools, on SQLite and PostgreSQL.

What an export does not carry is left out of the comparison explicitly, each with the reason (see
`core.imports.export`): transfers (stock in transit and promised to a transfer), shipments' milestones, drafts,
history, and cash not applied to an invoice.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.db import Database
from core.imports import ImportReport, Problems, import_master_data, importing_actor, read_files
from core.imports.export import OPEN_PURCHASE, OPEN_SALES, export_company
from core.masterdata.models import Customer, Item, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder, PurchaseOrderLine
from core.receivables.sums import open_items
from core.sales.models import SalesOrder, SalesOrderLine
from core.stock.models import StockBalance
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from core.transfers.models import Transfer
from tools import ToolContext, default_registry

REGISTRY = default_registry()
Pair = tuple[str, str]


@dataclass
class Copies:
    demo: Database
    copy: Database
    report: ImportReport


def _export(db: Database, folder: Path) -> Path:
    def write(session: Session) -> None:
        for exported in export_company(session, load_actor(session, username="admin")):
            (folder / exported.name).write_text(exported.text, encoding="utf-8")

    folder.mkdir(parents=True, exist_ok=True)
    db.read(write)
    return folder


def _import(db: Database, folder: Path) -> ImportReport:
    problems = Problems()
    tables = read_files([folder], problems)
    actor = db.read(lambda s: importing_actor(s, username=None))
    return import_master_data(db, actor, tables, problems)


@pytest.fixture
def copies(demo_db: Database, db: Database, tmp_path: Path) -> Copies:
    report = _import(db, _export(demo_db, tmp_path / "export"))
    return Copies(demo_db, db, report)


def test_the_demo_exported_imports_into_an_empty_database_without_problems(copies: Copies) -> None:
    assert copies.report.ok and copies.report.applied, [p.line() for p in copies.report.problems][:20]
    assert all(not k.refused for k in copies.report.kinds)
    assert copies.copy.read(stock_disagreements) == []

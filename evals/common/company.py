"""The demo company a run works on: built at a chosen size, the options that choose it, and the records a run
picks from it; and its state, to compare before and after a request."""

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditEvent
from core.conversations.models import Conversation, ConversationTurn
from core.db import Database
from core.drafts.models import DraftAction, DraftApproval
from core.exceptions.models import CaseEvent
from core.identity import ApiToken, WebSession
from core.masterdata.models import Customer, Item, LegalEntity, Warehouse
from core.purchasing.models import PurchaseOrder
from core.sales.models import SalesOrder
from core.stock.models import StockBalance
from core.transfers.models import Transfer
from evals.common.datasets import DatasetSpec, PostgresStore, SqliteStore, Store, dataset
from evals.common.results import RESULTS_DIR
from evals.common.state import snapshot

BUSINESS_DATE = "2026-11-20"  # the demo company's business date (core.demo builds it as of ERP_TODAY)
KEPT_DIR = Path("data") / "bench"  # where `--keep` keeps the demo company (shared with the core benchmark)


@contextmanager
def demo_company(backend: str, *, items: int, months: int, seed: int, keep: bool, pool_size: int) -> Iterator[Database]:
    """The demo company on `backend` for one run, removed afterwards (a copy of the kept one with `keep`)."""
    spec = DatasetSpec(items=items, history_months=months, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        store: Store = (
            PostgresStore(work=f"erp_hardening_{os.getpid()}")
            if backend == "postgresql"
            else SqliteStore(workdir=Path(folder), cache_dir=KEPT_DIR)
        )
        with dataset(store, spec, cache_dir=KEPT_DIR if keep else None, pool_size=pool_size) as (db, _load):
            yield db


def add_company_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the demo company and where results go, shared by the hardening runs."""
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo company and of every pick")
    parser.add_argument("--demo-items", type=int, default=500, help="items in the demo company (default 500)")
    parser.add_argument("--demo-months", type=int, default=3, help="months of history in the demo (default 3)")
    parser.add_argument("--keep", action="store_true", help=f"keep the demo company in {KEPT_DIR}/ and reuse it")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the results go")


def company_label(args: argparse.Namespace) -> str:
    return f"demo company (seed {args.seed}), {args.demo_items} items, {args.demo_months} months of history"


def most_available_sku(session: Session, warehouse: str) -> str:
    """The SKU with the most free stock at a warehouse (ties by SKU): a good subject for a test order."""
    free = StockBalance.on_hand - StockBalance.reserved - StockBalance.backordered
    row = session.execute(
        select(Item.sku)
        .join(StockBalance, StockBalance.item_id == Item.id)
        .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
        .where(Warehouse.code == warehouse)
        .order_by(free.desc(), Item.sku)
        .limit(1)
    ).scalar_one()
    return str(row)


def entity_id_of(session: Session, code: str) -> int:
    """The id of the legal entity with this code."""
    return int(session.scalars(select(LegalEntity.id).where(LegalEntity.code == code)).one())


def fingerprint(session: Session) -> dict[str, Any]:
    """Drafts (and their statuses), stock, cases and their timelines, approvals, documents, the audit log,
    conversations and live credentials: equal before and after a refused request."""
    state = snapshot(session)
    counts = {
        name: session.scalar(select(func.count()).select_from(model).where(*where)) for name, model, where in COUNTED
    }
    statuses = session.execute(select(DraftAction.id, DraftAction.status).order_by(DraftAction.id)).all()
    last_audit = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    return {
        "drafts": sorted(state.draft_ids),
        "draft statuses": [tuple(row) for row in statuses],
        "stock": state.stock,
        "cases": state.cases,
        "last audit hash": last_audit,
        **counts,
    }


COUNTED: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("audit events", AuditEvent, ()),
    ("case events", CaseEvent, ()),
    ("draft decisions", DraftApproval, ()),
    ("sales orders", SalesOrder, ()),
    ("transfers", Transfer, ()),
    ("purchase orders", PurchaseOrder, ()),
    ("customers on hold", Customer, (Customer.on_credit_hold.is_(True),)),
    ("conversations", Conversation, ()),
    ("turns", ConversationTurn, ()),
    ("live API tokens", ApiToken, (ApiToken.revoked_at.is_(None),)),
    ("live web sessions", WebSession, (WebSession.revoked_at.is_(None),)),
]

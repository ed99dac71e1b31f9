"""What a run changed: new drafts, cases, and a fingerprint of the stock."""

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.drafts.models import DraftAction
from core.exceptions import ExceptionCase
from core.masterdata.models import User
from core.stock.models import StockBalance
from evals.common.resolved import resolved_payload


@dataclass(frozen=True)
class Snapshot:
    draft_ids: frozenset[int]
    stock: str  # sha256 of every balance row
    cases: dict[str, tuple[str, str | None]]  # number -> (status, owner username)


def snapshot(session: Session) -> Snapshot:
    rows = session.execute(
        select(
            StockBalance.item_id,
            StockBalance.warehouse_id,
            StockBalance.on_hand,
            StockBalance.reserved,
            StockBalance.backordered,
            StockBalance.incoming,
            StockBalance.in_transit,
        ).order_by(StockBalance.item_id, StockBalance.warehouse_id)
    ).all()
    owners = {row.id: row.username for row in session.execute(select(User.id, User.username))}
    cases = {
        c.number: (c.status, owners.get(c.owner_user_id) if c.owner_user_id else None)
        for c in session.scalars(select(ExceptionCase))
    }
    return Snapshot(
        draft_ids=frozenset(session.scalars(select(DraftAction.id))),
        stock=hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest(),
        cases=cases,
    )


def new_drafts(session: Session, before: Snapshot) -> list[dict[str, Any]]:
    """The drafts made since `before`, as plain data: the payload as typed, and as the core resolved it."""
    drafts = session.scalars(
        select(DraftAction).where(DraftAction.id.not_in(before.draft_ids)).order_by(DraftAction.id)
    )
    return [
        {
            "number": d.number,
            "kind": d.kind,
            "status": d.status,
            "payload": d.payload,
            "resolved": resolved_payload(session, d),
        }
        for d in drafts
    ]

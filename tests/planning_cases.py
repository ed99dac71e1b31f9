"""Findings with proposed drafts, raised straight into the exception queue as an analysis's run would (for tests
of the doors: REST, CLI, board)."""

from sqlalchemy.orm import Session

from core.db import Database
from core.exceptions.findings import Finding, Proposal, sync_findings
from core.exceptions.models import ExceptionType, Severity
from core.masterdata.service import get_entity

SMALL_PO = Proposal(
    "purchase_order",
    {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 10}]},
    "PO to KEYSTONE for 10 V-200 into DAL",
)
LARGE_PO = Proposal(  # far above the USD 10,000 a buyer may commit alone: a manager approves it
    "purchase_order",
    {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5000}]},
    "PO to KEYSTONE for 5,000 V-200 into DAL",
)


def raise_proposals(db: Database, proposals: dict[str, Proposal | None], entity: str = "NA") -> dict[str, str]:
    """One replenishment case per key, each with its proposal (or none), in `entity`; their numbers by key."""

    def command(s: Session) -> dict[str, str]:
        entity_id = get_entity(s, code=entity).id
        findings = [
            Finding(
                type=ExceptionType.REPLENISHMENT,
                entity_id=entity_id,
                key=key,
                severity=Severity.MEDIUM,
                title=f"{key}: stock runs out within the lead time",
                detail="demand over lead time 120, safety stock 30, on hand 40, on order 0",
                evidence={"demand_over_lead_time": 120, "safety_stock": 30, "on_hand": 40, "on_order": 0},
                proposal=proposal,
            )
            for key, proposal in proposals.items()
        ]
        synced = sync_findings(s, ExceptionType.REPLENISHMENT, findings, scope=[entity_id])
        return {str(c.condition_key): c.number for c in synced.raised}

    return db.run(command)

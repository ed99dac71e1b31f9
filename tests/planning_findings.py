"""Hand-made finding cases for the briefing, priorities and planning-tool tests: seeded as the analyses would,
through `sync_findings`, with evidence and (for replenishment) a proposed purchase order."""

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.exceptions.findings import Finding, Proposal, sync_findings
from core.exceptions.models import ExceptionType, Severity
from core.masterdata.models import LegalEntity


def replenishment(entity_id: int, sku: str, warehouse: str, quantity: int, impact: str) -> Finding:
    """A stock-out within the lead time at `warehouse`, with a proposed PO to VALVECO (the world's NA supplier)."""
    evidence: dict[str, Any] = {
        "sku": sku,
        "warehouse": warehouse,
        "on_hand": 12,
        "on_order": 0,
        "demand_over_lead_time": 40,
        "safety_stock": 8,
        "lead_time_days": 10,
        "stockout_on": "2026-11-27",
        "lines": [{"sku": sku, "warehouse": warehouse, "stockout_within_lead_time": True}],  # as replenishment's
    }
    proposal = Proposal(
        "purchase_order",
        {"supplier": "VALVECO", "warehouse": warehouse, "lines": [{"sku": sku, "quantity": quantity}]},
        f"PO to VALVECO for {quantity} {sku} into {warehouse}",
    )
    return Finding(
        ExceptionType.REPLENISHMENT,
        entity_id,
        f"replenishment:{sku}:{warehouse}",
        Severity.HIGH,
        f"{sku} will stock out at {warehouse} on 2026-11-27, within its 10-day lead time",
        f"Demand over the lead time 40 + safety stock 8 exceeds on hand 12 + on order 0: order {quantity}.",
        evidence,
        Decimal(impact),
        proposal,
    )


def late_order(entity_id: int, order: str) -> Finding:
    return Finding(
        ExceptionType.LATE_ORDER_RISK,
        entity_id,
        f"late_order_risk:{order}",
        Severity.MEDIUM,
        f"{order} at risk of missing its promise date",
        "No stock until the next receipt.",
        {"sales_order": order, "customer": "ACME"},
        Decimal("500"),
    )


def entity_ids(session: Session) -> dict[str, int]:
    return {e.code: e.id for e in session.query(LegalEntity)}


def seed(session: Session) -> dict[str, str]:
    """Two replenishment findings at DAL (X-900 with the larger value at risk), one at BHM (UK), one late order in
    NA; returns each finding's key -> its case number."""
    ids = entity_ids(session)
    refill = [
        replenishment(ids["NA"], "V-200", "DAL", 50, "400.00"),
        replenishment(ids["NA"], "X-900", "DAL", 2, "8000.00"),
        replenishment(ids["UK"], "F-300", "BHM", 100, "300.00"),
    ]
    raised = sync_findings(session, ExceptionType.REPLENISHMENT, refill).raised
    raised += sync_findings(session, ExceptionType.LATE_ORDER_RISK, [late_order(ids["NA"], "SO-1042")]).raised
    return {str(case.condition_key): case.number for case in raised}

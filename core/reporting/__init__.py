"""Reporting: KPIs per legal entity for people and the assistant, each figure with how it was computed."""

from core.reporting.adjustments import AdjustmentLine, AdjustmentReport, adjustment_report
from core.reporting.service import (
    ApprovalStats,
    EntityKpis,
    ExceptionAging,
    approval_stats,
    entity_kpis,
    exception_aging,
)

__all__ = [
    "AdjustmentLine",
    "AdjustmentReport",
    "ApprovalStats",
    "EntityKpis",
    "ExceptionAging",
    "adjustment_report",
    "approval_stats",
    "entity_kpis",
    "exception_aging",
]

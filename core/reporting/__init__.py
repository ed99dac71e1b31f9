"""Reporting: KPIs per legal entity for people and the assistant, each figure with how it was computed."""

from core.reporting.service import (
    ApprovalStats,
    EntityKpis,
    ExceptionAging,
    approval_stats,
    entity_kpis,
    exception_aging,
)

__all__ = [
    "ApprovalStats",
    "EntityKpis",
    "ExceptionAging",
    "approval_stats",
    "entity_kpis",
    "exception_aging",
]

"""Exception cases and their event timeline."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.numbering import EXCEPTION_CASE


class ExceptionType(StrEnum):
    SHORTAGE = "shortage"
    CREDIT_HOLD = "credit_hold"
    PRICE_DEVIATION = "price_deviation"
    LATE_SUPPLIER = "late_supplier"
    APPROVAL_OVERDUE = "approval_overdue"
    RECEIPT_VARIANCE = "receipt_variance"
    TRANSFER_DISCREPANCY = "transfer_discrepancy"
    INVOICE_MISMATCH = "invoice_mismatch"
    OVERDUE_RECEIVABLES = "overdue_receivables"
    # Raised by the planning analyses (core/planning), through core/exceptions/findings.py.
    REPLENISHMENT = "replenishment"
    DEMAND_ANOMALY = "demand_anomaly"
    LATE_ORDER_RISK = "late_order_risk"
    SUPPLIER_RISK = "supplier_risk"
    MARGIN_LEAKAGE = "margin_leakage"


class CaseStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


ACTIVE_STATUSES = (CaseStatus.OPEN, CaseStatus.ASSIGNED)
CLOSED_STATUSES = (CaseStatus.RESOLVED, CaseStatus.DISMISSED)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class EventKind(StrEnum):
    RAISED = "raised"
    ROUTED = "routed"
    ASSIGNED = "assigned"
    COMMENTED = "commented"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"
    REOPENED = "reopened"


class ExceptionCase(Base):
    """Something that needs a person: raised once per `dedup_key`, routed by rule, tracked to the end."""

    __tablename__ = "exception_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    severity: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    # What makes two detections the same case; unique, so a case is raised once, ever.
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    # For a condition that can come back (a customer's credit hold, a line's shortage): the condition this case is
    # one episode of, and when detection saw that episode end. A new episode is a new case with its own dedup_key.
    condition_key: Mapped[str | None] = mapped_column(String(120), index=True)
    ended_at: Mapped[datetime | None]
    related: Mapped[dict[str, Any]] = mapped_column(JSON)
    suggestions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    owner_role: Mapped[str | None] = mapped_column(String(16))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12))
    sla_due_at: Mapped[datetime]
    routing_rule_id: Mapped[str] = mapped_column(String(64))
    routing_reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    events: Mapped[list["CaseEvent"]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_exception_cases_entity_status", "entity_id", "status"),
        Index("ix_exception_cases_owner_user", "owner_user_id"),
    )

    @property
    def number(self) -> str:
        return EXCEPTION_CASE.format(self.id)


class CaseEvent(Base):
    """One entry of a case's timeline; never updated or deleted."""

    __tablename__ = "exception_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("exception_cases.id"))
    at: Mapped[datetime]
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    case: Mapped[ExceptionCase] = relationship(back_populates="events")

    __table_args__ = (Index("ix_exception_events_case", "case_id"),)

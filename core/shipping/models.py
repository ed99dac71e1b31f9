"""Shipment milestones: when a shipment was picked, packed, shipped and delivered, and who said so."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Milestone(StrEnum):
    """In the order they happen."""

    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


MILESTONE_ORDER = tuple(Milestone)


class ShipmentMilestone(Base):
    """One milestone of a shipment, once: the time it happened and who recorded it (possibly later)."""

    __tablename__ = "shipment_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    milestone: Mapped[str] = mapped_column(String(12))
    happened_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        Index("ix_shipment_milestones_shipment", "shipment_id", "milestone", unique=True),
        CheckConstraint(
            "milestone IN ('picked', 'packed', 'shipped', 'delivered')", name="ck_shipment_milestones_milestone"
        ),
    )

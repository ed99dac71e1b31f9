"""The record of each planning run: when, why, by whom, how long, and what every analysis did."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # every analysis ran; some may have failed on their own (see `errors`)
    FAILED = "failed"  # the run broke off (the database went away, say); analyses finished before that are kept
    ABANDONED = "abandoned"  # its worker stopped mid-run; found by the next run


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    CLI = "cli"
    API = "api"


class PlanningRun(Base):
    """One run of detection and the planning analyses."""

    __tablename__ = "planning_runs"
    __table_args__ = (Index("ix_planning_runs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    as_of: Mapped[date]
    scope: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))  # entity ids; None = every entity
    only: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))  # the analyses asked for; None = all
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    lease_until: Mapped[datetime]  # a running run older than this is taken for abandoned (SQLite's lease)
    finished_at: Mapped[datetime | None]
    seconds: Mapped[float | None] = mapped_column(Float)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per analysis: raised, refreshed, ...
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{analysis, error}]

"""When the planning analyses run inside the service: every N minutes, or once a day at a time, or never.

Every worker polls (`tick_seconds`); a poll asks `run_planning` for a scheduled run that is due, i.e. no whole
run started after `not_since`. The database decides which worker runs it (core/planning/runner.py), so the
period holds however many workers there are and whenever they started.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core import clock
from core.db import Database
from core.planning.models import Trigger
from core.planning.runner import RunOutcome, run_planning
from core.settings import Settings, get_settings

DEFAULT_EVERY_MINUTES = 60  # under `erp-assistant run` and `serve` when ERP_PLANNING_EVERY_MINUTES is unset
MAX_TICK_SECONDS = 60.0


@dataclass(frozen=True)
class Schedule:
    """Run every `every_minutes` (0 = off), or, with `at`, once a day at that time."""

    every_minutes: int = 0
    at: time | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Schedule":
        """The schedule the settings give (ERP_PLANNING_AT, else ERP_PLANNING_EVERY_MINUTES; unset is off)."""
        settings = settings or get_settings()
        return cls(every_minutes=settings.planning_every_minutes or 0, at=settings.planning_at)

    @property
    def is_on(self) -> bool:
        return self.at is not None or self.every_minutes > 0

    @property
    def tick_seconds(self) -> float:
        """How often a worker asks whether a run is due."""
        if self.at is not None:
            return MAX_TICK_SECONDS
        return min(MAX_TICK_SECONDS, self.every_minutes * 60.0)

    def not_since(self, now: datetime) -> datetime | None:
        """A run is due at `now` when no whole run started after this; None: not time yet (or off)."""
        if self.at is not None:
            today_at = datetime.combine(now.date(), self.at)
            return today_at - timedelta(microseconds=1) if now >= today_at else None
        if self.every_minutes > 0:
            return now - timedelta(minutes=self.every_minutes)
        return None

    def describe(self) -> str:
        if self.at is not None:
            return f"daily at {self.at:%H:%M}"
        return f"every {self.every_minutes} min" if self.every_minutes else "off"


def scheduled_run(db: Database, schedule: Schedule) -> RunOutcome | None:
    """The scheduled run if it is due now and no other worker runs it; None when it is not time yet."""
    since = schedule.not_since(clock.now())
    if since is None:
        return None
    return run_planning(db, trigger=Trigger.SCHEDULE, not_since=since)

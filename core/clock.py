"""The business date and time. `ERP_TODAY` (ISO date) pins the date for demos and tests."""

import os
from datetime import UTC, date, datetime


def today() -> date:
    """Today's business date."""
    pinned = os.environ.get("ERP_TODAY")
    return date.fromisoformat(pinned) if pinned else date.today()


def now() -> datetime:
    """The current time, naive UTC (both databases store it so), on the business date."""
    current = datetime.now(UTC).replace(tzinfo=None)
    return datetime.combine(today(), current.time())

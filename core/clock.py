"""The business date and time. `ERP_TODAY` (ISO date) pins the date for demos and tests."""

from datetime import UTC, date, datetime

from core.settings import get_settings


def today() -> date:
    """Today's business date."""
    return get_settings().today or date.today()


def now() -> datetime:
    """The current time, naive UTC (both databases store it so), on the business date."""
    current = datetime.now(UTC).replace(tzinfo=None)
    return datetime.combine(today(), current.time())

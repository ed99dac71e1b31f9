"""Ageing buckets: the one rule that sorts an open amount by days past its due date, for receivables and payables."""

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")  # days past due


def bucket_of(days_past_due: int) -> str:
    """The ageing bucket of an amount this many days past its due date (0 or less: current, not yet due)."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    return "61-90" if days_past_due <= 90 else "90+"

"""Available-to-promise as pure arithmetic over a balance and its dated incoming supply."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Supply:
    due_date: date
    quantity: int
    source: str


def free_stock(on_hand: int, reserved: int, backordered: int) -> int:
    """Physical stock nobody has claimed, and that no waiting backorder is owed."""
    return max(0, on_hand - reserved - backordered)


def available_on(
    on_hand: int,
    reserved: int,
    backordered: int,
    incoming: Sequence[Supply],
    on_date: date,
) -> int:
    """ATP on a date: on-hand - reserved - backordered + supply due by that date (never below 0)."""
    due = sum(s.quantity for s in incoming if s.due_date <= on_date)
    return max(0, on_hand - reserved - backordered + due)


def earliest_date_for(
    quantity: int,
    on_hand: int,
    reserved: int,
    backordered: int,
    incoming: Sequence[Supply],
    today: date,
) -> date | None:
    """The first date by which `quantity` can be promised, or None if known supply never covers it."""
    running = on_hand - reserved - backordered
    if running >= quantity:
        return today
    for supply in sorted(incoming, key=lambda s: s.due_date):
        running += supply.quantity
        if running >= quantity:
            return max(today, supply.due_date)
    return None

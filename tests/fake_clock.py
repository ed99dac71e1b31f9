"""A clock tests move by hand: `core.clock.now` replaced for one test."""

from datetime import datetime, timedelta

import pytest

from core import clock

START = datetime(2026, 11, 20, 9, 0)


class FakeClock:
    """Stands still until a test advances it."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def freeze(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace `core.clock.now` with a FakeClock for the rest of the test."""
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", fake)
    return fake

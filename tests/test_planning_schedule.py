"""The planning schedule: when a run is due (every N minutes, or daily at a time), read from the settings, and
several polls of one period making one run."""

from datetime import datetime, time, timedelta

import pytest

from core.planning.schedule import Schedule, scheduled_run
from core.settings import SettingsError, load_settings
from tests.world import World

NOON = datetime(2026, 11, 20, 12, 0)


def test_an_interval_schedule_is_due_when_no_run_started_within_the_interval() -> None:
    hourly = Schedule(every_minutes=60)
    assert hourly.is_on and hourly.not_since(NOON) == datetime(2026, 11, 20, 11, 0)
    assert hourly.tick_seconds == 60.0 and Schedule(every_minutes=1).tick_seconds == 60.0


def test_a_daily_schedule_waits_for_its_time_then_is_due_until_a_run_starts_after_it() -> None:
    daily = Schedule(every_minutes=60, at=time(6, 30))  # the daily time wins over the interval
    assert daily.not_since(datetime(2026, 11, 20, 6, 29)) is None
    assert daily.not_since(NOON) == datetime(2026, 11, 20, 6, 30) - timedelta(microseconds=1)
    assert daily.describe() == "daily at 06:30"


def test_the_schedule_is_off_by_default_and_zero_minutes_is_off() -> None:
    for schedule in (Schedule.from_settings(load_settings({})), Schedule(every_minutes=0)):
        assert not schedule.is_on and schedule.not_since(NOON) is None and schedule.describe() == "off"


def test_the_schedule_comes_from_the_settings_and_a_bad_time_is_named() -> None:
    settings = load_settings({"ERP_PLANNING_EVERY_MINUTES": "15", "ERP_PLANNING_AT": "06:30"})
    assert Schedule.from_settings(settings) == Schedule(every_minutes=15, at=time(6, 30))
    with pytest.raises(SettingsError, match="ERP_PLANNING_AT must be a time of day as HH:MM, such as 06:30"):
        load_settings({"ERP_PLANNING_AT": "25:00"})
    with pytest.raises(SettingsError, match="ERP_PLANNING_EVERY_MINUTES must be a whole number, at least 0"):
        load_settings({"ERP_PLANNING_EVERY_MINUTES": "-5"})


def test_polls_within_one_day_make_one_daily_run(world: World) -> None:
    daily = Schedule(at=time(0, 0))
    first, second = scheduled_run(world.db, daily), scheduled_run(world.db, daily)
    assert first is not None and first.run is not None and first.run.trigger == "schedule"
    assert second is not None and second.run is None and (second.skipped or "").startswith("not due")

"""The planning schedule inside the service: a background task of the web app's lifespan, one per worker.

Each worker asks every tick whether a scheduled run is due; the database lets exactly one of them run it
(core/planning/runner.py). A run's duration and counts are logged by the runner ("erp.planning").
"""

import asyncio
import contextlib
import logging

from core.db import Database
from core.planning.schedule import Schedule, scheduled_run

log = logging.getLogger("erp.planning")


async def keep_schedule(db: Database, schedule: Schedule) -> None:
    """Run the planning analyses when due, until cancelled (the app shutting down); a failed run is logged."""
    log.info("planning analyses run %s", schedule.describe())
    while True:
        try:
            await asyncio.to_thread(scheduled_run, db, schedule)
        except Exception:  # the database away, say: try again at the next tick, the service stays up
            log.exception("scheduled planning run failed")
        await asyncio.sleep(schedule.tick_seconds)


def start_schedule(db: Database, schedule: Schedule) -> "asyncio.Task[None] | None":
    """The schedule's task, started now; None when the schedule is off."""
    if not schedule.is_on:
        return None
    return asyncio.create_task(keep_schedule(db, schedule), name="planning-schedule")


async def stop_schedule(task: "asyncio.Task[None] | None") -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

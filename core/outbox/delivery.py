"""One webhook delivery pass, by one worker at a time: sequence, fan out, then post each due delivery.

The pass claims due deliveries in one transaction, posts each OUTSIDE any transaction through `post` (the
channel layer's HTTP client: the core makes no HTTP call), and records each outcome in a transaction of its own,
so a slow receiver never holds a database lock. Delivery is at least once: a worker killed between posting and
recording leaves the delivery pending, and the next pass posts it again (receivers de-duplicate on the event id).

Only one worker delivers at a time, so an event is not posted twice at once and per-document order holds:
- PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) held on its own connection for the pass; the
  server drops it when the connection dies, so a killed worker never blocks the next;
- SQLite: a lease on the webhook consumer's row, taken under the single write lock, that lapses on its own
  (ERP_WEBHOOK_TIMEOUT_SECONDS plus a margin after the worker's last sign of life).
"""

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text

from core.db import Database
from core.outbox.service import release_lease, sequence_events, take_lease
from core.outbox.webhooks import WEBHOOKS_CONSUMER, DeliveryJob, due_deliveries, fan_out, record_attempt
from core.settings import get_settings

log = logging.getLogger("erp.webhooks")

DELIVERY_LOCK_KEY = 0x4552505745424B53  # "ERPWEBKS": the webhook deliverer's advisory lock
LEASE_MARGIN_S = 30.0
CLAIM_BATCH = 100
DEFAULT_WEBHOOKS_EVERY_SECONDS = 5  # under `erp-assistant serve` and `run`, unless ERP_WEBHOOKS_EVERY_SECONDS says


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (no answer in time, refused the connection, or answered non-2xx)."""


Poster = Callable[[DeliveryJob], None]  # posts the job, or raises DeliveryFailed saying why


@dataclass(frozen=True)
class PassReport:
    """What one pass did, or why it did nothing (`skipped`)."""

    sequenced: int = 0
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    skipped: str | None = None


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


@contextmanager
def deliverer_lock(db: Database) -> Iterator[bool]:
    """Whether this worker may deliver now; held until the block ends."""
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": DELIVERY_LOCK_KEY}).scalar())
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": DELIVERY_LOCK_KEY})
        return
    holder, seconds = _holder(), _lease_seconds()
    held = db.run(lambda s: take_lease(s, WEBHOOKS_CONSUMER, holder, seconds=seconds))
    try:
        yield held
    finally:
        if held:
            db.run(lambda s: release_lease(s, WEBHOOKS_CONSUMER, holder))


def _lease_seconds() -> float:
    return get_settings().webhook_timeout_seconds + LEASE_MARGIN_S


def deliver_pass(db: Database, post: Poster, *, batch: int = CLAIM_BATCH) -> PassReport:
    """Sequence new events, fan them out to subscriptions, and post what is due, unless another worker is
    delivering now; one receiver failing only backs its delivery off."""
    with deliverer_lock(db) as held:
        if not held:
            return PassReport(skipped="another worker is delivering")
        sequenced = _sequence_all(db)
        fanned = _fan_out_all(db)
        jobs = db.read(lambda s: due_deliveries(s, limit=batch))
        delivered = failed = dead = 0
        failing: set[int] = set()  # a receiver that just failed is not tried again in this pass (one timeout each)
        for job in jobs:
            if job.subscription_id in failing:
                continue
            status = _attempt(db, post, job)
            if status != "delivered":
                failing.add(job.subscription_id)
            delivered += status == "delivered"
            failed += status == "pending"
            dead += status == "dead"
    if jobs:
        log.info("webhooks: %d delivered, %d to retry, %d dead", delivered, failed, dead)
    return PassReport(sequenced, fanned, delivered, failed, dead)


def _sequence_all(db: Database) -> int:
    total = 0
    while True:
        done = db.run(sequence_events)
        total += done
        if done == 0:
            return total


def _fan_out_all(db: Database) -> int:
    total = 0
    while True:
        step = db.run(fan_out)
        total += step.deliveries
        if step.events == 0:
            return total


def _attempt(db: Database, post: Poster, job: DeliveryJob) -> str:
    """Post one delivery (no transaction open) and record what came of it; its status after."""
    try:
        post(job)
        error = None
    except DeliveryFailed as failure:
        error = str(failure) or type(failure).__name__
    delivery = db.run(lambda s: record_attempt(s, delivery_id=job.delivery_id, error=error))
    if error is not None:
        log.warning("webhook delivery %s of event %s to %s failed: %s", job.delivery_id, job.event_id, job.url, error)
    if db.dialect != "postgresql":
        holder, seconds = _holder(), _lease_seconds()
        db.run(lambda s: take_lease(s, WEBHOOKS_CONSUMER, holder, seconds=seconds))  # still alive: keep the lease
    return delivery.status

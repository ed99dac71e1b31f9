"""Posting webhook deliveries over HTTP (httpx), and keeping delivery going inside the service.

The core decides what is due and records what came of it (core/outbox/delivery.py); this module is only the
door: one POST per delivery with the signed headers and a timeout, and a loop that runs a pass every
ERP_WEBHOOKS_EVERY_SECONDS. Every worker runs the loop; the database lets one of them deliver at a time.
"""

import asyncio
import contextlib
import logging
import time

import httpx

from core.db import Database
from core.outbox.delivery import DeliveryFailed, PassReport, Poster, deliver_pass
from core.outbox.webhooks import DeliveryJob
from core.settings import get_settings

log = logging.getLogger("erp.webhooks")
MAX_ERROR_BODY = 200


def http_poster(timeout_s: float | None = None) -> Poster:
    """A poster over one httpx client: 2xx is delivered; anything else, or no answer in time, is a failure."""
    timeout = timeout_s if timeout_s is not None else get_settings().webhook_timeout_seconds
    client = httpx.Client(timeout=timeout, follow_redirects=False)

    def post(job: DeliveryJob) -> None:
        try:
            response = client.post(job.url, content=job.body, headers=job.headers())
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:MAX_ERROR_BODY]}")

    return post


def run_pass(db: Database, poster: Poster | None = None) -> PassReport:
    """One delivery pass now (the CLI's `deliver --once`, and each tick of the loops)."""
    return deliver_pass(db, poster or http_poster())


def deliver_forever(db: Database, *, every_s: float, poster: Poster | None = None) -> None:
    """Run a pass every `every_s` seconds until interrupted (the CLI's `deliver`); a failed pass is logged."""
    post = poster or http_poster()
    while True:
        try:
            deliver_pass(db, post)
        except Exception:  # the database away, say: try again at the next tick
            log.exception("webhook delivery pass failed")
        time.sleep(every_s)


async def keep_delivering(db: Database, every_s: float) -> None:
    """The service's loop: a pass in a worker thread every `every_s` seconds, never blocking a request."""
    post = http_poster()
    log.info("webhook delivery every %.1f s", every_s)
    while True:
        try:
            await asyncio.to_thread(deliver_pass, db, post)
        except Exception:
            log.exception("webhook delivery pass failed")
        await asyncio.sleep(every_s)


def start_delivery(db: Database, every_s: float | None = None) -> "asyncio.Task[None] | None":
    """The delivery loop's task, started now; None when delivery is off (ERP_WEBHOOKS_EVERY_SECONDS unset or 0)."""
    every = (get_settings().webhooks_every_seconds or 0) if every_s is None else every_s
    if every <= 0:
        return None
    return asyncio.create_task(keep_delivering(db, every), name="webhook-delivery")


async def stop_delivery(task: "asyncio.Task[None] | None") -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

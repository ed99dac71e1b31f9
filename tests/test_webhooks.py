"""Webhooks against a real HTTP receiver on 127.0.0.1: down then up, signed bodies exactly as recorded, order per
document, back-off and dead letters with replay, a killed deliverer losing nothing, and one deliverer at a time."""

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from assistant.channels.webhooks.delivery import http_poster
from core.db import Database
from core.errors import InvalidInput, PermissionDenied
from core.outbox import OutboxEvent
from core.outbox.delivery import PassReport, deliver_pass
from core.outbox.models import WebhookDelivery
from core.outbox.service import event_body, take_lease
from core.outbox.signature import SIGNATURE_HEADER, sign, verify_signature
from core.outbox.webhooks import WEBHOOKS_CONSUMER, add_subscription, dead_deliveries, replay
from core.sales.service import LineRequest
from core.settings import override_settings
from core.shipping.service import ship_order
from tests.fake_clock import FakeClock
from tests.webhook_receiver import receiver
from tests.world import World

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def quick() -> Iterator[None]:
    """Short waits: 1 s after the first failure, doubling to at most 4 s; three attempts; a 5 s timeout."""
    with override_settings(
        webhook_backoff_seconds=1.0, webhook_backoff_cap_seconds=4.0, webhook_max_attempts=3, webhook_timeout_seconds=5
    ):
        yield


def _subscribe(world: World, url: str, **filters: list[str]) -> str:
    root = world.actor("root")
    return world.run(lambda s: add_subscription(s, root, url=url, **filters).secret)  # type: ignore[arg-type]


def _pass(db: Database) -> PassReport:
    return deliver_pass(db, http_poster(5))


def _until_quiet(db: Database, most: int = 20) -> int:
    """Run passes until one delivers nothing; how many were delivered."""
    total = 0
    for _ in range(most):
        report = _pass(db)
        total += report.delivered
        if report.delivered == 0:
            return total
    raise AssertionError("delivery never settled")


def _recorded(db: Database) -> list[OutboxEvent]:
    return db.read(lambda s: list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.position))))


def _ship_an_order(world: World, units: int = 3) -> str:
    number = world.place_order("ACME", LineRequest("V-200", units, "DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=number))
    return number


def test_a_receiver_down_then_up_gets_every_event_exactly_as_recorded_in_order(
    world: World, fake_clock: FakeClock
) -> None:
    with receiver(up=False) as hook:
        secret = _subscribe(world, hook.url)
        first = _ship_an_order(world)  # confirmed, shipped, invoiced: three events of one order
        second = world.place_order("ACME", LineRequest("V-220", 2, "DAL"), confirm=True)

        down = _pass(world.db)
        # A receiver that is down is tried once a pass: the first event of one order; the order's later events wait
        assert (down.sequenced, down.fanned_out, down.delivered, down.failed) == (4, 4, 0, 1)
        assert _pass(world.db).failed == 1  # the other order's first event
        assert _pass(world.db).failed == 0  # backing off: nothing is due yet

        fake_clock.advance(seconds=1)
        hook.start()
        assert _until_quiet(world.db) == 4

    recorded = _recorded(world.db)
    assert sorted(hook.bodies()) == sorted(event_body(e) for e in recorded)  # each once, byte for byte
    by_document = [r.body for r in hook.got if f'"number":"{first}"'.encode() in r.body]
    assert by_document == [event_body(e) for e in recorded if e.document_number == first]  # in order
    assert {e.document_number for e in recorded} == {first, second}
    for got in hook.got:
        assert verify_signature(secret, got.headers[SIGNATURE_HEADER.lower()], got.body)
        event = next(e for e in recorded if event_body(e) == got.body)
        assert (got.headers["x-erp-event-id"], got.headers["x-erp-event-type"]) == (str(event.id), event.type)


def test_a_bad_signature_a_changed_body_or_an_old_one_is_detected() -> None:
    body = b'{"id":1,"type":"sales_order.confirmed"}'
    header = sign("s3cret-of-the-receiver", body, timestamp=1_800_000_000)
    assert verify_signature("s3cret-of-the-receiver", header, body, 300, now=1_800_000_100)
    assert not verify_signature("another-secret-entirely", header, body, 300, now=1_800_000_100)
    assert not verify_signature("s3cret-of-the-receiver", header, body.replace(b"1", b"2"), 300, now=1_800_000_100)
    assert not verify_signature("s3cret-of-the-receiver", header, body, 300, now=1_800_000_301)  # a replay, later
    assert not verify_signature("s3cret-of-the-receiver", "v1=deadbeef", body)
    assert not verify_signature("s3cret-of-the-receiver", "t=abc,v1=00", body)
    forged = header.split(",v1=")[0] + ",v1=" + "0" * 64
    assert not verify_signature("s3cret-of-the-receiver", forged, body, 300, now=1_800_000_100)


def test_failures_back_off_then_go_dead_and_a_replay_delivers_in_order(world: World, fake_clock: FakeClock) -> None:
    with receiver() as hook:
        hook.status = 500
        _subscribe(world, hook.url)
        number = _ship_an_order(world)

        def attempts() -> list[tuple[str, int]]:
            rows = world.read(lambda s: list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.position))))
            return [(d.status, d.attempts) for d in rows]

        assert _pass(world.db).failed == 1
        assert attempts() == [("pending", 1), ("pending", 0), ("pending", 0)]  # the later events wait their turn
        fake_clock.advance(seconds=0.9)
        assert _pass(world.db).failed == 0  # 1 s back-off
        fake_clock.advance(seconds=0.1)
        assert _pass(world.db).failed == 1
        fake_clock.advance(seconds=1.5)
        assert _pass(world.db).failed == 0  # doubled: 2 s
        fake_clock.advance(seconds=0.5)
        assert _pass(world.db).dead == 1
        assert attempts() == [("dead", 3), ("pending", 0), ("pending", 0)]
        assert len(hook.got) == 3

        root = world.actor("root")
        dead = world.read(lambda s: dead_deliveries(s, root))
        assert [(e.type, e.document_number) for _, e in dead] == [("sales_order.confirmed", number)]
        assert dead[0][0].last_error is not None and "HTTP 500" in dead[0][0].last_error
        hook.status = 200
        fake_clock.advance(seconds=60)
        assert _pass(world.db).delivered == 0  # a dead event holds its document's later events back

        world.run(lambda s: replay(s, root, delivery_ids=[dead[0][0].id]))
        assert _until_quiet(world.db) == 3
    assert attempts() == [("delivered", 1), ("delivered", 1), ("delivered", 1)]
    delivered = [r.body for r in hook.got[3:]]
    assert delivered == [event_body(e) for e in _recorded(world.db)]


def test_only_an_admin_manages_webhooks_and_filters_choose_the_events(world: World) -> None:
    sam = world.actor("sam")
    with pytest.raises(PermissionDenied, match="admin"):
        world.run(lambda s: add_subscription(s, sam, url="http://127.0.0.1:1/x"))
    with pytest.raises(InvalidInput, match="no event type"):
        _subscribe(world, "http://127.0.0.1:1/x", event_types=["sales_order.exploded"])
    with pytest.raises(InvalidInput, match="not an http"):
        _subscribe(world, "ftp://example.com/x")
    with receiver() as hook:
        _subscribe(world, hook.url, entities=["UK"], event_types=["sales_order.*"])
        _ship_an_order(world)  # NA: not for this webhook
        uk = world.place_order("BRIT", LineRequest("F-300", 1, "BHM"), user="uma", confirm=True)
        assert _until_quiet(world.db) == 1
    assert [r.headers["x-erp-event-type"] for r in hook.got] == ["sales_order.confirmed"]
    assert f'"number":"{uk}"'.encode() in hook.got[0].body


def test_on_sqlite_a_live_lease_keeps_a_second_deliverer_off(sqlite_world: World, fake_clock: FakeClock) -> None:
    sqlite_world.run(lambda s: take_lease(s, WEBHOOKS_CONSUMER, "other-host:1", seconds=30))
    assert _pass(sqlite_world.db).skipped == "another worker is delivering"
    fake_clock.advance(seconds=31)  # the other worker stopped renewing it: it lapses
    assert _pass(sqlite_world.db).skipped is None


def test_two_deliverers_at_once_deliver_each_event_once(pg_world: World) -> None:
    with receiver() as hook:
        _subscribe(pg_world, hook.url)
        for units in range(1, 7):
            pg_world.place_order("ACME", LineRequest("V-200", units, "DAL"), confirm=True)
        start = threading.Barrier(2)
        reports: list[PassReport] = []

        def deliverer() -> None:
            start.wait()
            reports.append(_pass(pg_world.db))

        threads = [threading.Thread(target=deliverer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        _until_quiet(pg_world.db)
    ids = Counter(r.headers["x-erp-event-id"] for r in hook.got)
    assert len(ids) == 6 and set(ids.values()) == {1}
    assert sum(r.delivered for r in reports) == 6


def _deliverer(db: Database, *args: str) -> "subprocess.Popen[bytes]":
    """`erp-assistant webhooks deliver ...` in its own process, on this test's database."""
    env = {
        **os.environ,
        "ERP_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "PYTHONPATH": str(ROOT),
        "ERP_WEBHOOK_TIMEOUT_SECONDS": "30",
    }
    command = [sys.executable, "-c", "from assistant.cli import app; app()", "webhooks", "deliver", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_killed_deliverer_loses_no_event(pg_world: World) -> None:
    """kill -9 while the receiver holds the request: the delivery was never recorded, so the restarted service
    posts it again (at least once) and records it."""
    with receiver() as hook:
        hook.hang = threading.Event()
        _subscribe(pg_world, hook.url)
        number = pg_world.place_order("ACME", LineRequest("V-200", 2, "DAL"), confirm=True)  # committed
        service = _deliverer(pg_world.db, "--every", "0.2")
        try:
            assert hook.arrived.wait(90), "the deliverer never posted"
        finally:
            service.send_signal(signal.SIGKILL)
            service.wait(30)
        hook.hang.set()
        hook.hang = None
        statuses = pg_world.read(lambda s: [d.status for d in s.scalars(select(WebhookDelivery))])
        assert statuses == ["pending"]

        again = _deliverer(pg_world.db, "--once")
        output = again.communicate(timeout=120)[0].decode()
        assert again.returncode == 0, output
    statuses = pg_world.read(lambda s: [d.status for d in s.scalars(select(WebhookDelivery))])
    assert statuses == ["delivered"]
    [event] = _recorded(pg_world.db)
    assert event.document_number == number
    assert hook.bodies() == [event_body(event), event_body(event)]  # posted before the kill, and after

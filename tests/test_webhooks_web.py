"""The events' HTTP doors on the demo: polling in the caller's scope (cookie or API token), and the admin's webhook
routes (add, list, remove, dead letters, replay)."""

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from assistant.channels.webhooks.delivery import http_poster
from core.db import Database
from core.masterdata.service import load_actor
from core.outbox.delivery import deliver_pass
from core.outbox.webhooks import add_subscription
from core.sales.service import LineRequest, confirm_order, create_order
from core.settings import override_settings
from tests import web
from tests.webhook_receiver import free_port, receiver


def _confirm(demo: Database, username: str, customer: str, sku: str) -> str:
    actor = demo.read(lambda s: load_actor(s, username=username))

    def command(s: Session) -> str:
        order = create_order(s, actor, customer=customer, lines=[LineRequest(sku, 1)])
        confirm_order(s, actor, order_number=order.id, allow_backorder=True)
        return order.number

    return demo.run(command)


def _all_events(client: TestClient, headers: dict[str, str]) -> tuple[list[dict[str, object]], int]:
    events: list[dict[str, object]] = []
    cursor = 0
    while True:
        page = client.get(f"/api/events?after={cursor}&limit=500", headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["events"]
        if body["next"] == cursor:
            return events, cursor
        cursor = body["next"]


def test_polling_with_an_api_token_shows_only_the_callers_entities_after_the_cursor(
    client: TestClient, demo: Database
) -> None:
    uma_csrf = web.sign_in(client, "uma")
    token = client.post("/api/tokens", json={"name": "events"}, headers=uma_csrf).json()["token"]
    client.cookies.clear()
    program = {"Authorization": f"Bearer {token}"}
    seen, cursor = _all_events(client, program)
    uk = demo.read(lambda s: load_actor(s, username="uma")).entity_ids
    assert seen and all(e["entity_id"] in uk or e["counterparty_entity_id"] in uk for e in seen)

    web.set_passwords(demo, "admin")
    admin = web.sign_in(client, "admin")
    everything, end = _all_events(client, admin)
    assert len(everything) > len(seen) and {e["id"] for e in seen} <= {e["id"] for e in everything}

    na_order = _confirm(demo, "maria", "ACME", "V-200")
    assert client.get(f"/api/events?after={cursor}", headers=program).json() == {"events": [], "next": cursor}
    page = client.get(f"/api/events?after={end}", headers=admin).json()
    assert [(e["type"], e["document"]["number"]) for e in page["events"]] == [("sales_order.confirmed", na_order)]
    assert page["events"][0]["position"] == page["next"] > end
    assert client.get("/api/events?after=-1", headers=admin).status_code == 422


def test_only_an_admin_manages_webhooks_and_replays_dead_deliveries(client: TestClient, demo: Database) -> None:
    sam = web.sign_in(client, "sam")
    refused = client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=sam)
    assert refused.status_code == 403
    assert client.get("/api/webhooks", headers=sam).status_code == 403
    client.cookies.clear()
    web.set_passwords(demo, "admin")
    admin = web.sign_in(client, "admin")
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    made = client.post("/api/webhooks", json={"url": url, "event_types": ["sales_order.*"]}, headers=admin)
    assert made.status_code == 201, made.text
    assert len(made.json()["secret"]) == 64
    listed = client.get("/api/webhooks", headers=admin).json()["webhooks"]
    assert [(w["id"], w["url"], w["event_types"]) for w in listed] == [(made.json()["id"], url, ["sales_order.*"])]
    assert "secret" not in listed[0]

    number = _confirm(demo, "maria", "ACME", "V-200")
    with override_settings(webhook_max_attempts=1):
        report = deliver_pass(demo, http_poster(2))
    assert report.dead == 1
    dead = client.get("/api/webhooks/dead", headers=admin).json()["deliveries"]
    assert [(d["event"]["document"]["number"], d["attempts"]) for d in dead] == [(number, 1)]
    replayed = client.post("/api/webhooks/dead/replay", json={}, headers=admin).json()
    assert replayed == {"replayed": [dead[0]["id"]]}
    assert client.get("/api/webhooks/dead", headers=admin).json()["deliveries"] == []

    removed = client.delete(f"/api/webhooks/{made.json()['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["active"] is False
    assert client.get("/api/webhooks", headers=admin).json()["webhooks"] == []
    assert client.delete(f"/api/webhooks/{made.json()['id']}", headers=admin).status_code == 409


def test_the_service_delivers_in_the_background_while_it_serves(demo: Database, tmp_path: Path) -> None:
    with receiver() as hook:
        admin = demo.read(lambda s: load_actor(s, username="admin"))
        demo.run(lambda s: add_subscription(s, admin, url=hook.url, event_types=["sales_order.confirmed"]))
        with web.app(demo, tmp_path, webhooks_every_s=0.1) as c:
            number = _confirm(demo, "maria", "ACME", "V-200")
            assert c.get("/healthz").status_code == 200  # requests are served meanwhile
            assert hook.arrived.wait(120), "the service never delivered"
    assert f'"number":"{number}"'.encode() in hook.got[0].body

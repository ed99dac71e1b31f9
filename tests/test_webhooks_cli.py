"""`erp-assistant webhooks add|list|remove|dead|replay|deliver` on the small world (SQLite), with a real receiver."""

from sqlalchemy import select
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.outbox.models import WebhookDelivery
from core.outbox.signature import verify_signature
from core.sales.service import LineRequest
from tests.webhook_receiver import receiver
from tests.world import World


def _cli(db: Database, *args: str, **env: str) -> Result:
    url = db.engine.url.render_as_string(hide_password=False)
    variables = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20", **env}
    return CliRunner().invoke(app, list(args), env=variables)


def test_an_admin_adds_a_webhook_delivers_by_hand_and_replays_what_died(
    sqlite_world: World, wide_console: None
) -> None:
    db = sqlite_world.db
    refused = _cli(db, "webhooks", "add", "http://127.0.0.1:9/x", "--user", "sam")
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    with receiver() as hook:
        hook.status = 503
        added = _cli(db, "webhooks", "add", hook.url, "--event", "sales_order.confirmed", "--user", "root")
        assert added.exit_code == 0, added.output
        secret = added.output.split("shown once): ")[1].split()[0]
        listed = _cli(db, "webhooks", "list", "--user", "root")
        assert hook.url in listed.output and "sales_order.confirmed" in listed.output

        number = sqlite_world.place_order("ACME", LineRequest("V-200", 1, "DAL"), confirm=True)
        once = _cli(db, "webhooks", "deliver", "--once", ERP_WEBHOOK_MAX_ATTEMPTS="1")
        assert once.exit_code == 0 and "1 dead" in once.output, once.output
        dead = _cli(db, "webhooks", "dead", "--user", "root")
        assert number in dead.output and "HTTP 503" in dead.output

        hook.status = 200
        assert _cli(db, "webhooks", "replay", "--user", "root").output.startswith("1 delivery queued again")
        delivered = _cli(db, "webhooks", "deliver", "--once")
        assert "1 delivered" in delivered.output, delivered.output
    assert verify_signature(secret, hook.got[-1].headers["x-erp-signature"], hook.got[-1].body)
    assert sqlite_world.read(lambda s: [d.status for d in s.scalars(select(WebhookDelivery))]) == ["delivered"]
    removed = _cli(db, "webhooks", "remove", "1", "--user", "root")
    assert removed.exit_code == 0 and "no webhook yet" in _cli(db, "webhooks", "list", "--user", "root").output

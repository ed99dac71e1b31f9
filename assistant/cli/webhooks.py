"""`erp-assistant webhooks`: subscribe URLs to the business events, see and replay dead deliveries, and deliver by
hand (the service delivers on its own every ERP_WEBHOOKS_EVERY_SECONDS). Managing webhooks takes the admin role."""

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from assistant.channels.terminal.console import act, ask, console, fail
from assistant.channels.webhooks.delivery import deliver_forever, run_pass
from core.actor import Actor
from core.db import open_database
from core.errors import ErpError
from core.outbox.delivery import DEFAULT_WEBHOOKS_EVERY_SECONDS
from core.outbox.service import EVENT_TYPES
from core.outbox.webhooks import (
    add_subscription,
    dead_deliveries,
    entity_codes_of,
    list_subscriptions,
    remove_subscription,
    replay,
)
from core.settings import get_settings

webhooks_app = typer.Typer(help="Webhooks: send the business events to other systems.", no_args_is_help=True)
User = Annotated[str, typer.Option(help="Act as this user (an admin).")]
ADMIN = "admin"


@webhooks_app.command("add")
def add_command(
    url: Annotated[str, typer.Argument(help="The receiver's URL (http or https).")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help=f"Only this event type, or a family like sales_order.* (repeatable): {', '.join(EVENT_TYPES)}.",
        ),
    ] = None,
    entity: Annotated[
        list[str] | None, typer.Option("--entity", help="Only this entity's events (repeatable).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="The signing secret (16-128 characters); default: made now.")
    ] = None,
    user: User = ADMIN,
) -> None:
    """Send every future event (or those chosen) to URL, signed; prints the secret the receiver checks with."""

    def command(s: Session, a: Actor) -> tuple[int, str]:
        made = add_subscription(s, a, url=url, event_types=event or [], entities=entity or [], secret=secret)
        return made.subscription.id, made.secret

    made = act(user, command)
    console.print(f"webhook {made[0]} added for {url}", highlight=False)
    console.print(f"secret (give it to the receiver; shown once): {made[1]}", highlight=False)


@webhooks_app.command("list")
def list_command(user: User = ADMIN) -> None:
    """The active subscriptions."""
    rows = ask(
        user,
        lambda s, a: [
            (w.id, w.url, ", ".join(w.event_types) or "all", ", ".join(entity_codes_of(s, w)) or "all", w.created_at)
            for w in list_subscriptions(s, a)
        ],
    )
    if not rows:
        console.print("no webhook yet: add one with `erp-assistant webhooks add URL`")
        return
    table = Table(title="Webhooks")
    for column in ("id", "url", "events", "entities", "since"):
        table.add_column(column)
    for id_, url, events, entities, since in rows:
        table.add_row(str(id_), url, events, entities, f"{since:%Y-%m-%d %H:%M}")
    console.print(table)


@webhooks_app.command("remove")
def remove_command(subscription: Annotated[int, typer.Argument(help="The webhook's id.")], user: User = ADMIN) -> None:
    """Stop sending to a webhook (its delivery history stays)."""
    act(user, lambda s, a: remove_subscription(s, a, subscription_id=subscription).id)
    console.print(f"webhook {subscription} removed")


@webhooks_app.command("dead")
def dead_command(
    subscription: Annotated[int | None, typer.Option(help="Only this webhook's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    user: User = ADMIN,
) -> None:
    """Deliveries that gave up after the last attempt (ERP_WEBHOOK_MAX_ATTEMPTS), with their last error."""
    rows = ask(
        user,
        lambda s, a: [
            (d.id, d.subscription_id, e.id, e.type, e.document_number, d.attempts, d.last_error or "")
            for d, e in dead_deliveries(s, a, subscription_id=subscription, limit=limit)
        ],
    )
    if not rows:
        console.print("no dead delivery")
        return
    table = Table(title="Dead webhook deliveries")
    for column in ("delivery", "webhook", "event", "type", "document", "attempts", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


@webhooks_app.command("replay")
def replay_command(
    delivery: Annotated[list[int] | None, typer.Argument(help="Dead deliveries to send again; none: all.")] = None,
    subscription: Annotated[int | None, typer.Option(help="Only this webhook's.")] = None,
    user: User = ADMIN,
) -> None:
    """Send dead deliveries again, from a clean count of attempts (the next pass delivers them)."""
    count = act(user, lambda s, a: len(replay(s, a, delivery_ids=delivery or [], subscription_id=subscription)))
    console.print(f"{count} deliver{'y' if count == 1 else 'ies'} queued again")


@webhooks_app.command("deliver")
def deliver_command(
    once: Annotated[bool, typer.Option("--once", help="One pass, then stop.")] = False,
    every: Annotated[
        float | None, typer.Option(help="Seconds between passes; default ERP_WEBHOOKS_EVERY_SECONDS, or 5.")
    ] = None,
) -> None:
    """Deliver due webhooks now (as the service does); skipped while another worker delivers."""
    db = open_database()
    try:
        if once:
            report = run_pass(db)
            if report.skipped:
                console.print(f"[yellow]not run[/]: {report.skipped}", highlight=False)
                raise typer.Exit(code=2)
            console.print(
                f"{report.sequenced} events sequenced, {report.fanned_out} deliveries queued, "
                f"{report.delivered} delivered, {report.failed} to retry, {report.dead} dead"
            )
            return
        deliver_forever(db, every_s=every or get_settings().webhooks_every_seconds or DEFAULT_WEBHOOKS_EVERY_SECONDS)
    except KeyboardInterrupt:
        console.print("stopped")
    except ErpError as error:
        raise fail(error) from None

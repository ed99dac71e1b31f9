"""`erp-assistant integrations add / token / tokens / revoke`: users for other systems and their API tokens.

A web shop, an EDI partner or a WMS sends documents to /api/integrations/ as an integration user. It has no
password, so an administrator adds it and issues its tokens here; the documents themselves need no command.
"""

from typing import Annotated

import typer

from assistant.channels.terminal.console import CLI_CHANNEL, act, ask, console
from assistant.cli.tokens import show_new_token, token_table
from core.identity import add_integration_user, integration_tokens, issue_integration_token, revoke_integration_token

integrations_app = typer.Typer(
    help="Users for other systems (web shop, EDI, WMS) and their API tokens (administrators).", no_args_is_help=True
)
ADMIN = typer.Option("--by", help="The administrator making the change.")
USERNAME = typer.Argument(help="The integration user, e.g. webshop.")


@integrations_app.command("add")
def add(
    username: Annotated[str, USERNAME],
    entity: Annotated[list[str], typer.Option(help="A legal entity it sends documents for (repeat for more).")],
    name: Annotated[str, typer.Option(help="What it is, e.g. 'Web shop (Shopify)'.")] = "",
    by: Annotated[str, ADMIN] = "admin",
) -> None:
    """Add an integration user: it places orders, confirms shipments and records receipts in its entities."""
    actor = act(
        by,
        lambda s, admin: add_integration_user(
            s, admin, username=username, entities=entity, display_name=name, audit_channel=CLI_CHANNEL
        ),
    )
    console.print(f"integration user {actor.username} added; issue its token with `integrations token`")


@integrations_app.command("token")
def token(
    username: Annotated[str, USERNAME],
    name: Annotated[str, typer.Option(help="What uses the token, e.g. 'shop production'.")],
    days: Annotated[int | None, typer.Option(help="Days it is valid; leave out for no expiry.")] = None,
    by: Annotated[str, ADMIN] = "admin",
) -> None:
    """Issue an API token for an integration user; it is shown once, here."""
    new = act(
        by,
        lambda s, admin: issue_integration_token(
            s, admin, username=username, name=name, days=days, audit_channel=CLI_CHANNEL
        ),
    )
    show_new_token(new, username)


@integrations_app.command("tokens")
def tokens(username: Annotated[str, USERNAME], by: Annotated[str, ADMIN] = "admin") -> None:
    """An integration user's tokens (never the secrets)."""
    found = ask(by, lambda s, admin: integration_tokens(s, admin, username=username))
    console.print(token_table(f"API tokens of {username}", found))


@integrations_app.command("revoke")
def revoke(
    username: Annotated[str, USERNAME],
    token_id: Annotated[int, typer.Argument(help="The token's id (see `integrations tokens`).")],
    by: Annotated[str, ADMIN] = "admin",
) -> None:
    """Revoke an integration user's token: its requests are refused (401) from now on."""
    act(
        by,
        lambda s, admin: revoke_integration_token(
            s, admin, username=username, token_id=token_id, audit_channel=CLI_CHANNEL
        ),
    )
    console.print(f"token {token_id} of {username} revoked", highlight=False)

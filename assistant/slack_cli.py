"""`erp-assistant slack link / unlink / links`: which Slack user speaks for which ERP user (admins manage it)."""

from typing import Annotated

import typer
from rich.table import Table

from assistant.console import CLI_CHANNEL, act, ask, console
from core.identity import link_account, linked_accounts, unlink_account

slack_app = typer.Typer(help="Link Slack users to ERP users (the bot answers only linked users).", no_args_is_help=True)
ADMIN = typer.Option("--by", help="The administrator making the change.")


@slack_app.command()
def link(
    slack_user: Annotated[str, typer.Argument(help="The Slack user id, e.g. U012ABCDEF.")],
    username: Annotated[str, typer.Argument(help="The ERP user it speaks for, e.g. sam.")],
    by: Annotated[str, ADMIN] = "admin",
) -> None:
    """Let a Slack user ask and approve as an ERP user (replaces an earlier link of that Slack user)."""
    act(
        by,
        lambda s, admin: link_account(
            s, admin, channel="slack", external_id=slack_user, username=username, audit_channel=CLI_CHANNEL
        ),
    )
    console.print(f"{slack_user} now speaks for {username}", highlight=False)


@slack_app.command()
def unlink(
    slack_user: Annotated[str, typer.Argument(help="The Slack user id.")],
    by: Annotated[str, ADMIN] = "admin",
) -> None:
    """Stop a Slack user speaking for anyone."""
    act(
        by,
        lambda s, admin: unlink_account(s, admin, channel="slack", external_id=slack_user, audit_channel=CLI_CHANNEL),
    )
    console.print(f"{slack_user} is no longer linked", highlight=False)


@slack_app.command("links")
def links(by: Annotated[str, ADMIN] = "admin") -> None:
    """Every linked Slack user."""
    found = ask(by, lambda s, _: linked_accounts(s, channel="slack"))
    table = Table(title="Slack links")
    table.add_column("Slack user")
    table.add_column("ERP user")
    for slack_user, actor in found:
        table.add_row(slack_user, actor.username)
    console.print(table)

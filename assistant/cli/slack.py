"""`erp-assistant slack link / unlink / links`: which Slack user speaks for which ERP user (admins manage it)."""

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import CLI_CHANNEL, act, ask, console
from core.identity import link_account, linked_accounts, unlink_account
from core.settings import Settings, get_settings

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


@slack_app.command()
def socket() -> None:
    """Answer Slack over Socket Mode, for a site without a public URL (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN)."""
    settings = get_settings()
    bot_token, app_token = settings.slack_bot_token or "", settings.slack_app_token or ""
    if not bot_token.startswith("xoxb-") or not app_token.startswith("xapp-"):
        console.print(
            "[red]Socket Mode needs SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN (xapp-…, with connections:write)[/]"
        )
        raise typer.Exit(code=1)
    asyncio.run(_socket_mode(bot_token, app_token, settings))


async def _socket_mode(bot_token: str, app_token: str, settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from assistant.channels.slack import SlackBot, SlackConfig
    from assistant.channels.web.app import build_services

    # Socket Mode events arrive over Slack's own authenticated websocket: no request signature to check.
    config = SlackConfig(
        bot_token=bot_token,
        signing_secret=settings.slack_signing_secret or "not-used-in-socket-mode",
        approvals_channel=settings.slack_approvals_channel,
        web_url=settings.web_url,
    )
    bot = SlackBot(build_services(), config)
    console.print("answering Slack over Socket Mode; Ctrl-C stops")
    await AsyncSocketModeHandler(bot.app, app_token).start_async()  # type: ignore[no-untyped-call]

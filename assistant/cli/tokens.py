"""`erp-assistant tokens create / list / revoke`: a person's own API tokens, for programs acting as them.

The local CLI is trusted like a signed-in session (see `as_person`): whoever runs it already holds the database's
credentials. A read-only token may read through the API, never change anything.
"""

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from assistant.channels.terminal.console import CLI_CHANNEL, act, ask, console
from core.identity import NewToken, TokenView, issue_token, list_tokens, revoke_token

tokens_app = typer.Typer(help="Your API tokens, for programs acting as you.", no_args_is_help=True)
User = Annotated[str, typer.Option(help="Whose tokens (a username); required, since a token signs them in.")]


@tokens_app.command("create")
def create(
    user: User,
    name: Annotated[str, typer.Option(help="What uses the token, e.g. 'nightly report'.")],
    days: Annotated[int | None, typer.Option(help="Days it is valid; leave out for no expiry.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="It may only read; changes are refused.")] = False,
) -> None:
    """Make an API token acting as you; it is shown once, here."""
    new = act(
        user,
        lambda s, actor: issue_token(s, actor, name=name, days=days, read_only=read_only, audit_channel=CLI_CHANNEL),
    )
    show_new_token(new, user)


@tokens_app.command("list")
def list_command(user: User) -> None:
    """Your tokens, newest first (never the secrets)."""
    console.print(token_table(f"API tokens of {user}", ask(user, list_tokens)))


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `tokens list`).")],
    user: User,
) -> None:
    """Revoke one of your tokens: its requests are refused (401) from now on."""
    act(user, lambda s, actor: revoke_token(s, actor, token_id=token_id, audit_channel=CLI_CHANNEL))
    console.print(f"token {token_id} of {user} revoked", highlight=False)


def show_new_token(new: NewToken, owner: str) -> None:
    """A new token's secret, with how to send it and the warning that it is not shown again."""
    expires = new.expires_at.strftime("%Y-%m-%d") if new.expires_at else "never"
    access = "read-only" if new.read_only else "read-write"
    console.print(f"token {new.id} for {owner} ({new.name}, {access}, expires {expires}):", highlight=False)
    console.print(new.token, highlight=False, soft_wrap=True)
    console.print("send it as 'Authorization: Bearer <token>'; it is not shown again")


def token_table(title: str, tokens: Sequence[TokenView]) -> Table:
    """API tokens as a table: id, name, read-only, created, last used, expires, revoked."""
    table = Table(title=title)
    for column in ("id", "name", "read-only", "created", "last used", "expires", "revoked"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            str(t.id),
            t.name,
            "yes" if t.read_only else "no",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-",
        )
    return table

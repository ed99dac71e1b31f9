"""`erp-assistant mcp`: the ERP's tools over MCP on stdin/stdout, for a desktop client on this machine."""

import logging
import sys
from typing import Annotated

import typer

from core.db import open_database
from core.errors import ErpError
from core.settings import get_settings


def mcp(
    user: Annotated[str | None, typer.Option(help="Act as this user (else the owner of ERP_MCP_TOKEN).")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Offer the read tools only.")] = False,
) -> None:
    """Serve MCP over stdio as one user: their tools, scoped to their entities; drafts are previews they confirm,
    and nothing approves. Point a desktop client's MCP configuration at this command."""
    from assistant.channels.mcp.stdio import local_caller, serve_stdio

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries the protocol only
    db = open_database()
    token = get_settings().mcp_token
    try:
        caller = db.read(lambda s: local_caller(s, username=user, token=token, read_only=read_only))
    except ErpError as error:  # said on stderr: stdout belongs to the protocol
        typer.echo(f"{error.code}: {error.message}", err=True)
        raise typer.Exit(code=1) from None
    serve_stdio(db, caller)

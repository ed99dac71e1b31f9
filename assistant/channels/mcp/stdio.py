"""MCP over stdio, for a desktop client that starts `erp-assistant mcp` on the same machine.

The user comes from a local credential, as the spec asks for stdio: the API token in ERP_MCP_TOKEN (a read-only
token gives a read-only server), or, without one, the user `--user` names, trusted like every local command
(whoever runs it holds the database's credentials). Nothing but protocol messages goes to stdout.
"""

from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from sqlalchemy.orm import Session

from assistant.channels.mcp.server import Caller, ErpMcp
from assistant.channels.mcp.state import state_key
from core.db import Database
from core.errors import InvalidInput
from core.identity import token_user
from core.masterdata.service import load_actor
from core.settings import get_settings
from tools import default_registry
from tools.search import open_built_index


def local_caller(session: Session, *, username: str | None, token: str | None, read_only: bool) -> Caller:
    """Who the local client acts as: the token's user (and `username`, if given, must be that user), else
    `username`; read-only when asked, when the deployment says so, or when the token is read-only."""
    read_only = read_only or get_settings().mcp_read_only
    if token:
        user = token_user(session, token=token, touch=False)
        if username and username != user.actor.username:
            raise InvalidInput(
                f"ERP_MCP_TOKEN belongs to {user.actor.username}, not {username}; drop --user or the token"
            )
        return Caller(user.actor, read_only=read_only or user.read_only)
    if not username:
        raise InvalidInput("say who the client acts as: --user NAME, or an API token in ERP_MCP_TOKEN")
    return Caller(load_actor(session, username=username), read_only=read_only)


def serve_stdio(db: Database, caller: Caller) -> None:
    """Answer one client on stdin/stdout until it closes the pipe."""
    erp = ErpMcp(
        db,
        default_registry(),
        _always(caller),
        state_key=state_key(),
        state_ttl_s=get_settings().preview_ttl_minutes * 60.0,
        search=open_built_index(),
        asks_mid_call=True,
    )

    async def run() -> None:
        async with stdio_server() as (read, write):
            await erp.server.run(read, write, erp.server.create_initialization_options())

    anyio.run(run)


def _always(caller: Caller) -> Any:
    async def identify(ctx: ServerRequestContext[Any, Any]) -> Caller:
        return caller

    return identify

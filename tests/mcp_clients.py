"""Helpers for the MCP tests: an API token for a demo user, and the official SDK's client over streamable HTTP."""

from core.db import Database
from core.identity import issue_token
from core.masterdata.service import load_actor
from evals.hardening.access.mcp_channel import mcp_session


def token_for(db: Database, username: str, *, read_only: bool = False) -> str:
    return db.run(lambda s: issue_token(s, load_actor(s, username=username), name="mcp", read_only=read_only).token)


http_client = mcp_session  # the SDK's client over streamable HTTP with a bearer token (evals' one helper)

"""Helpers for the MCP tests: an API token for a demo user, and the official SDK's client over streamable HTTP."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from core.db import Database
from core.identity import issue_token
from core.masterdata.service import load_actor


def token_for(db: Database, username: str, *, read_only: bool = False) -> str:
    return db.run(lambda s: issue_token(s, load_actor(s, username=username), name="mcp", read_only=read_only).token)


@asynccontextmanager
async def http_client(url: str, token: str | None, **options: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), **options) as client,
    ):
        yield client

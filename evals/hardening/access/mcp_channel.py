"""MCP as the third way in: the same tool calls sent as `tools/call` to /mcp of the web service, each user with
their own API token over HTTP, through the official SDK's client (one session per user for the whole run)."""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp_types as mcp
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from evals.common.served import serving
from evals.hardening.access.cells import ALLOWED, REFUSAL_CODES, REFUSED
from evals.hardening.access.outcomes import tool_outcome
from tools.outcome import ToolOutcome

UNKNOWN_TOOL = "unknown_tool"  # the server's answer to a tool it does not offer this user (or anyone)
MCP_REFUSALS = REFUSAL_CODES | {UNKNOWN_TOOL}


def result_data(result: mcp.CallToolResult) -> dict[str, Any]:
    """What a tool call came to, as JSON: the result, or a refusal's code, message and suggestions (a refusal comes
    as JSON text only, without `structuredContent`)."""
    text = result.content[0] if result.content else None
    data = json.loads(text.text) if isinstance(text, mcp.TextContent) else {}
    return data if isinstance(data, dict) else {}


def mcp_outcome(result: mcp.CallToolResult) -> str:
    """`allowed` or `refused <code>` from a tool's result, as the registry's outcome says it; a result whose
    `isError` disagrees with its own error code is a finding."""
    data = result_data(result)
    outcome = ToolOutcome.from_json(data)
    if result.is_error != (outcome.error is not None):
        return f"error: isError {result.is_error} on {data}"
    return tool_outcome(outcome)


def protocol_outcome(error: MCPError) -> str:
    """A request the server refused outright (a tool this user has not got, a record out of reach)."""
    code = error.data.get("error") if isinstance(error.data, dict) else None
    if code in MCP_REFUSALS:
        return REFUSED + str(code)
    return f"error {error.code} {code}: {error.message[:200]}"


@dataclass
class Mcp:
    """Each user's MCP session, driven from this (synchronous) run through a blocking portal."""

    portal: BlockingPortal
    sessions: dict[str, Client]

    def call(self, username: str, tool: str, arguments: dict[str, Any]) -> str:
        session = self.sessions[username]
        try:
            return mcp_outcome(self.portal.call(session.call_tool, tool, arguments))
        except MCPError as error:
            return protocol_outcome(error)

    def read(self, username: str, uri: str) -> str:
        """A resource (`erp://PO-…`): allowed when it comes back."""
        session = self.sessions[username]
        try:
            self.portal.call(session.read_resource, uri)
        except MCPError as error:
            return protocol_outcome(error)
        return ALLOWED


@asynccontextmanager
async def mcp_session(url: str, token: str | None, **options: Any) -> AsyncIterator[Client]:
    """The official SDK's client of the service at `url` over streamable HTTP, with `token` as its bearer (none: no
    header); `options` go to `mcp.Client` (an elicitation callback, client info, a protocol mode)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), **options) as client,
    ):
        yield client


@contextmanager
def mcp_sessions(app: FastAPI, tokens: dict[str, str]) -> Iterator[Mcp]:
    """`app` served on a loopback port and an MCP session per user of `tokens` (no elicitation: a draft comes
    back as its preview, as the API's `confirm: false` does)."""
    with serving(app) as url, start_blocking_portal() as portal, ExitStack() as stack:
        sessions = {
            username: stack.enter_context(portal.wrap_async_context_manager(mcp_session(url, token)))
            for username, token in tokens.items()
        }
        yield Mcp(portal, sessions)

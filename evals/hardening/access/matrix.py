"""Running it: every cell through the tools, the REST API and the chat, and MCP; then the audit check."""

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.channels.web.app import create_app
from core.db import Database
from core.masterdata.service import load_actor
from evals.common.audit_check import AuditReport, audit_after_run, watermark
from evals.common.web import web_client
from evals.hardening.access.actions import ACTIONS, Action
from evals.hardening.access.cells import ALLOWED, NOT_APPLICABLE, REFUSED, Cell
from evals.hardening.access.mcp_channel import mcp_sessions
from evals.hardening.access.outcomes import Web, tool_outcome
from evals.hardening.access.stage import prepare
from tools import Registry, ToolContext, default_registry

# --- Running it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    cell: Cell
    action: Action
    expected: bool
    via_tool: str
    via_http: str
    mcp_expected: bool  # the definitions', except that nobody approves over MCP
    via_mcp: str

    @property
    def agrees(self) -> bool:
        refusals = self.action.refusals
        by_tool_and_api = all(_fits(seen, self.expected, refusals) for seen in (self.via_tool, self.via_http))
        return by_tool_and_api and _fits(self.via_mcp, self.mcp_expected, self.action.mcp_refusals)


def _fits(seen: str, expected: bool, refusals: frozenset[str]) -> bool:
    wanted = {ALLOWED} if expected else {REFUSED + code for code in refusals}
    return seen in wanted | {NOT_APPLICABLE}


@dataclass(frozen=True)
class Matrix:
    results: list[Result]
    audit: AuditReport  # the chain, and every draft the run made against its documents and audit trail

    @property
    def mismatches(self) -> list[Result]:
        return [r for r in self.results if not r.agrees]


def _by_tool(db: Database, registry: Registry, cell: Cell, action: Action) -> str:
    if action.tool is None:
        return NOT_APPLICABLE
    actor = db.read(lambda s: load_actor(s, username=cell.subject.username))
    name, arguments = action.tool(cell)
    return tool_outcome(registry.call(db, ToolContext(actor=actor, channel="web"), name, arguments))


def run_matrix(db: Database, workdir: Path) -> Matrix:
    """Every action in every cell, expected and performed three ways; then the audit check over what it made."""
    before = db.read(watermark)
    stage = prepare(db)
    results, registry = [], default_registry()
    with web_client(db, workdir) as client, mcp_sessions(_mcp_app(client), stage.tokens) as mcp:
        web = Web(client, stage.tokens)
        for cell in stage.cells:
            asked = _chat_outcomes(web, cell)
            for action in ACTIONS:
                via_http = asked[action.name] if action.chat else _by_http(web, cell, action)
                via_tool = _by_tool(db, registry, cell, action)
                via_mcp = action.by_mcp(mcp, cell)
                expected = action.expected(cell), action.expected_over_mcp(cell)
                results.append(Result(cell, action, expected[0], via_tool, via_http, expected[1], via_mcp))
    return Matrix(results, db.read(lambda s: audit_after_run(s, before)))


def _mcp_app(client: TestClient) -> FastAPI:
    """A second app over the test client's services, served on a port for MCP over real HTTP (an app's lifespan
    runs its MCP session manager, which runs once)."""
    app = client.app
    assert isinstance(app, FastAPI)
    return create_app(app.state.services)


def _chat_outcomes(web: Web, cell: Cell) -> dict[str, str]:
    """The cell's chat actions, asked for in one message."""
    chats = [a for a in ACTIONS if a.chat and a.tool is not None]
    said = web.chat(cell.subject.username, [a.tool(cell) for a in chats if a.tool is not None])
    return {action.name: outcome for action, outcome in zip(chats, said, strict=True)}


def _by_http(web: Web, cell: Cell, action: Action) -> str:
    return action.http(web, cell) if action.http is not None else NOT_APPLICABLE

"""The ERP over MCP, driven by the official SDK's own client against the demo company: over streamable HTTP at
/mcp of the web service (API tokens, stateless), and over stdio (`erp-assistant mcp`).

What must hold: a user sees only their tools; tools return typed results with an output schema; a draft is a
preview the requester confirms (elicitation where the client can, else `confirm_draft`), never an approval; scope
errors reveal nothing; read-only mode refuses drafts; a revoked token is refused; every call is audited.
"""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as mcp
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from assistant.channels.mcp.catalog import CANCEL_TOOL, CONFIRM_TOOL
from assistant.channels.mcp.stdio import local_caller
from assistant.channels.web.app import create_app
from assistant.llm.scripted import Script
from core.audit.models import AuditEvent
from core.audit.service import verify_chain
from core.db import Database
from core.drafts.models import DraftAction
from core.drafts.service import get_draft
from core.errors import InvalidInput
from core.exceptions import detect_exceptions
from core.identity import revoke_token
from core.masterdata.models import LegalEntity
from core.masterdata.service import load_actor
from core.sales.models import SalesOrder
from evals.hardening.access.mcp_channel import result_data
from tests import web
from tests.mcp_clients import http_client, token_for
from tests.web import TRANSFER_OVER_LIMIT, served

SMALL_TRANSFER = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 2}]}


@pytest.fixture
def base_url(demo: Database, tmp_path: Path) -> Iterator[str]:
    """The web service over the demo company, served on a loopback port."""
    with served(create_app(web.services(demo, Script([]), tmp_path))) as url:
        yield url


def accept(answer: bool) -> Any:
    """An elicitation callback that answers the confirmation form, and remembers what it was shown."""
    shown: list[str] = []

    async def callback(context: Any, params: mcp.ElicitRequestParams) -> mcp.ElicitResult:
        shown.append(params.message)
        return mcp.ElicitResult(action="accept", content={"confirm": answer})

    callback.shown = shown  # type: ignore[attr-defined]
    return callback


def names(tools: mcp.ListToolsResult) -> set[str]:
    return {t.name for t in tools.tools}


def draft_of(db: Database, number: str) -> DraftAction:
    return db.read(lambda s: get_draft(s, load_actor(s, username="sam"), draft_number=number))


# --- over streamable HTTP ------------------------------------------------------------------------------


def test_tools_are_listed_by_role_with_schemas_and_honest_annotations(demo: Database, base_url: str) -> None:
    async def run() -> tuple[mcp.ListToolsResult, mcp.ListToolsResult]:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            as_sam = await sam.list_tools()
        async with http_client(base_url, token_for(demo, "maria")) as maria:
            return as_sam, await maria.list_tools()

    as_sam, as_maria = anyio.run(run)
    assert names(as_sam) != names(as_maria)
    assert "check_availability" in names(as_sam) and CONFIRM_TOOL in names(as_sam)
    assert not any("approve" in name for name in names(as_sam) | names(as_maria))
    for tool in as_sam.tools:
        assert tool.output_schema is not None and tool.input_schema["type"] == "object"
        hints = tool.annotations
        assert hints is not None
        if tool.name.startswith("draft_"):
            assert hints.read_only_hint is False and hints.destructive_hint is False and hints.idempotent_hint
        elif tool.name == CONFIRM_TOOL:
            assert hints.read_only_hint is False and hints.destructive_hint is True
        elif tool.name in ("check_availability", "get_order_status", "list_exceptions"):
            assert hints.read_only_hint is True


def test_availability_comes_back_as_typed_content(demo: Database, base_url: str) -> None:
    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            return await sam.call_tool("check_availability", {"sku": "V-200"})

    result = anyio.run(run)
    assert not result.is_error
    assert result.structured_content["sku"] == "V-200"
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]


def test_a_small_transfer_confirmed_through_elicitation_executes(demo: Database, base_url: str) -> None:
    confirm = accept(True)

    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam"), elicitation_callback=confirm) as sam:
            return await sam.call_tool("draft_transfer", SMALL_TRANSFER)

    result = anyio.run(run)
    assert not result.is_error, result.structured_content
    assert result.structured_content["status"] == "executed"
    number = result.structured_content["draft"]
    assert number in confirm.shown[0] and "V-200" in confirm.shown[0]
    draft = draft_of(demo, number)
    called = demo.read(
        lambda s: s.scalars(select(AuditEvent).where(AuditEvent.action == "mcp.tool_called")).one()
    )  # the draft names the call that made it, and the client's conversation
    assert draft.channel == "mcp" and draft.tool_call_id == called.tool_call_id is not None
    assert draft.conversation_id == called.conversation_id is not None


def test_a_transfer_over_sams_limit_waits_for_maria(demo: Database, base_url: str) -> None:
    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam"), elicitation_callback=accept(True)) as sam:
            return await sam.call_tool("draft_transfer", TRANSFER_OVER_LIMIT)

    result = anyio.run(run)
    assert result.structured_content["status"] == "pending_approval"
    assert any("manager" in w for w in result.structured_content["waiting_for"])


def test_without_elicitation_the_preview_waits_for_an_explicit_confirm(demo: Database, base_url: str) -> None:
    async def run() -> tuple[mcp.CallToolResult, mcp.CallToolResult, mcp.CallToolResult]:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            preview = await sam.call_tool("draft_transfer", SMALL_TRANSFER)
            number = preview.structured_content["draft"]
            confirmed = await sam.call_tool(CONFIRM_TOOL, {"draft_number": number})
            status = await sam.call_tool("get_draft_status", {"draft_number": number})
            return preview, confirmed, status

    preview, confirmed, status = anyio.run(run)
    assert (
        preview.structured_content["status"] == "unconfirmed"
        and CONFIRM_TOOL in preview.structured_content["next_step"]
    )
    assert confirmed.structured_content["status"] == "executed"
    assert status.structured_content["status"] == "executed"


def test_a_handshake_era_client_over_http_confirms_explicitly(demo: Database, base_url: str) -> None:
    """Stateless HTTP cannot ask a 2025-11-25 client mid-call: it gets the preview, to confirm with confirm_draft."""

    async def run() -> tuple[str, mcp.CallToolResult]:
        async with http_client(base_url, token_for(demo, "sam"), elicitation_callback=accept(True), mode="legacy") as c:
            preview = await c.call_tool("draft_transfer", SMALL_TRANSFER)
            number = preview.structured_content["draft"]
            return preview.structured_content["status"], await c.call_tool(CONFIRM_TOOL, {"draft_number": number})

    status, confirmed = anyio.run(run)
    assert status == "unconfirmed" and confirmed.structured_content["status"] == "executed"


def test_any_worker_answers_the_confirmation_and_a_forged_one_is_refused(demo: Database, tmp_path: Path) -> None:
    """Stateless: the preview comes from one worker, the user's answer goes to another; the state the client
    echoes is sealed, bound to the user and the arguments."""
    yes = {"confirm": mcp.ElicitResult(action="accept", content={"confirm": True})}
    token = token_for(demo, "sam")
    first, second = (create_app(web.services(demo, Script([]), tmp_path / name)) for name in ("a", "b"))

    async def run(url_a: str, url_b: str) -> tuple[mcp.CallToolResult, MCPError, MCPError]:
        async with http_client(url_a, token, elicitation_callback=accept(True)) as a:
            asked = await a.session.call_tool("draft_transfer", SMALL_TRANSFER, allow_input_required=True)
        assert isinstance(asked, mcp.InputRequiredResult) and asked.request_state is not None
        async with http_client(url_b, token, elicitation_callback=accept(True)) as b:
            with pytest.raises(MCPError) as forged:
                await b.session.call_tool("draft_transfer", SMALL_TRANSFER, input_responses=yes, request_state="DR-1")
            other = {**SMALL_TRANSFER, "to_warehouse": "RNO"}
            with pytest.raises(MCPError) as rebound:
                await b.session.call_tool(
                    "draft_transfer", other, input_responses=yes, request_state=asked.request_state
                )
            done = await b.session.call_tool(
                "draft_transfer", SMALL_TRANSFER, input_responses=yes, request_state=asked.request_state
            )
        return done, forged.value, rebound.value

    with served(first) as url_a, served(second) as url_b:
        done, forged, rebound = anyio.run(run, url_a, url_b)
    assert done.structured_content["status"] == "executed"
    assert forged.code == rebound.code == mcp.INVALID_PARAMS


def test_saying_no_withdraws_the_preview(demo: Database, base_url: str) -> None:
    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam"), elicitation_callback=accept(False)) as sam:
            return await sam.call_tool("draft_transfer", SMALL_TRANSFER)

    result = anyio.run(run)
    assert result.structured_content["status"] == "cancelled"


def test_another_users_draft_cannot_be_confirmed(demo: Database, base_url: str) -> None:
    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            preview = await sam.call_tool("draft_transfer", SMALL_TRANSFER)
        async with http_client(base_url, token_for(demo, "maria")) as maria:
            return await maria.call_tool(CONFIRM_TOOL, {"draft_number": preview.structured_content["draft"]})

    refused = anyio.run(run)
    assert refused.is_error and result_data(refused)["error"] in ("permission_denied", "not_found")


def test_a_uk_item_is_refused_for_sam_without_uk_data(demo: Database, base_url: str) -> None:
    async def run() -> mcp.CallToolResult:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            return await sam.call_tool("check_availability", {"sku": "V-200", "warehouse": "MAN"})

    refused = anyio.run(run)
    assert refused.is_error and refused.structured_content is None  # a refusal is not the tool's typed result
    text = refused.content[0].text  # type: ignore[union-attr]
    assert result_data(refused)["error"] in ("out_of_scope", "not_found", "invalid_input")
    assert "Manchester" not in text and "GBP" not in text


def test_a_read_only_token_lists_no_draft_tools_and_refuses_one(demo: Database, base_url: str) -> None:
    async def run() -> tuple[mcp.ListToolsResult, mcp.CallToolResult]:
        async with http_client(base_url, token_for(demo, "sam", read_only=True)) as sam:
            return await sam.list_tools(), await sam.call_tool("draft_transfer", SMALL_TRANSFER)

    listed, refused = anyio.run(run)
    assert not any(t.name.startswith("draft_") or t.name in (CONFIRM_TOOL, CANCEL_TOOL) for t in listed.tools)
    assert refused.is_error and result_data(refused)["error"] == "read_only"
    assert demo.read(lambda s: s.scalars(select(DraftAction)).first()) is None


def test_no_token_or_a_revoked_one_gets_401_with_www_authenticate(demo: Database, base_url: str) -> None:
    token = token_for(demo, "sam")
    demo.run(lambda s: revoke_token(s, load_actor(s, username="sam"), token_id=_token_id(demo)))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = httpx2.post(f"{base_url}/mcp", json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert "resource_metadata=" in response.headers["www-authenticate"]
    metadata = httpx2.get(f"{base_url}/.well-known/oauth-protected-resource/mcp").json()
    assert metadata["resource"].endswith("/mcp")


def _token_id(db: Database) -> int:
    from core.identity import list_tokens

    return db.read(lambda s: list_tokens(s, load_actor(s, username="sam"))[0].id)


def test_every_call_is_audited_with_the_client_and_the_chain_holds(demo: Database, base_url: str) -> None:
    async def run() -> None:
        async with http_client(
            base_url,
            token_for(demo, "sam"),
            client_info=mcp.Implementation(name="desk-client", version="1"),
            elicitation_callback=accept(True),
        ) as sam:
            await sam.call_tool("check_availability", {"sku": "V-200"})
            await sam.call_tool("draft_transfer", SMALL_TRANSFER)

    anyio.run(run)
    events = demo.read(
        lambda s: list(s.scalars(select(AuditEvent).where(AuditEvent.action == "mcp.tool_called")).all())
    )
    assert [e.subject_id for e in events] == ["check_availability", "draft_transfer"]
    assert {e.channel for e in events} == {"mcp"} and {e.data["client"] for e in events} == {"desk-client"}
    assert demo.read(verify_chain).ok


def test_resources_are_read_as_the_user_may_see_them(demo: Database, base_url: str) -> None:
    demo.run(detect_exceptions)
    uk = select(SalesOrder).join(LegalEntity, LegalEntity.id == SalesOrder.entity_id).where(LegalEntity.code == "UK")
    uk_order = demo.read(lambda s: s.scalars(uk.limit(1)).one().number)

    async def run() -> tuple[list[str], str, str, MCPError]:
        async with http_client(base_url, token_for(demo, "sam")) as sam:
            listed = [str(r.uri) for r in (await sam.list_resources()).resources]
            policy = (await sam.read_resource("erp://policy")).contents[0]
            cases = (await sam.read_resource("erp://exceptions/open")).contents[0]
            with pytest.raises(MCPError) as refused:
                await sam.read_resource(f"erp://{uk_order}")
            return listed, policy.text, cases.text, refused.value  # type: ignore[union-attr]

    listed, policy, cases, refused = anyio.run(run)
    assert listed == ["erp://policy", "erp://exceptions/open"]
    assert "approve" in policy
    board = json.loads(cases)
    assert board["total"] > 0 and {c["entity"] for c in board["cases"]} == {"NA"}
    assert refused.error.data["error"] in ("out_of_scope", "not_found") and "GBP" not in refused.message


# --- over stdio ---


def test_the_local_credential_names_the_user_and_read_only_mode_holds_for_the_deployment(
    demo: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_for(demo, "sam")
    as_token = demo.read(lambda s: local_caller(s, username=None, token=token, read_only=False))
    assert as_token.actor.username == "sam" and not as_token.read_only
    with pytest.raises(InvalidInput, match="belongs to sam"):
        demo.read(lambda s: local_caller(s, username="maria", token=token, read_only=False))
    with pytest.raises(InvalidInput, match="--user"):
        demo.read(lambda s: local_caller(s, username=None, token=None, read_only=False))
    monkeypatch.setenv("ERP_MCP_READ_ONLY", "on")
    assert demo.read(lambda s: local_caller(s, username="maria", token=None, read_only=False)).read_only


# --- over stdio, as a desktop client starts it ----------------------------------------------------------


def test_over_stdio_sam_drafts_with_a_local_credential(demo: Database, tmp_path: Path) -> None:
    """A desktop client of the handshake era (2025-11-25): the confirmation is an elicitation request mid-call."""
    env = {
        **os.environ,
        "ERP_DATABASE_URL": str(demo.engine.url),
        "ERP_DATA_DIR": str(tmp_path),
        "ERP_MCP_TOKEN": token_for(demo, "sam"),
    }
    command = StdioServerParameters(command=str(Path(sys.executable).parent / "erp-assistant"), args=["mcp"], env=env)

    confirm = accept(True)

    async def run() -> tuple[set[str], mcp.CallToolResult]:
        async with Client(command, elicitation_callback=confirm, mode="legacy") as sam:
            listed = names(await sam.list_tools())
            return listed, await sam.call_tool("draft_transfer", SMALL_TRANSFER)

    listed, result = anyio.run(run)
    assert "draft_transfer" in listed
    assert result.structured_content["status"] == "executed" and "DAL" in confirm.shown[0]

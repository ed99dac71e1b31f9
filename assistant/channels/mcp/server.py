"""The MCP server: the registry's tools and a few read-only resources, run as the signed-in user.

Every tool runs through `Registry.call`, as in the assistant: the core checks scope and permissions itself, a
draft tool returns a preview that changes nothing, and nothing here approves. A preview is confirmed by its
requester, asked through elicitation when the client can show a form (2026-07-28: an `input_required` result
the client answers by retrying; earlier versions over stdio: an `elicitation/create` request mid-call), else
by the requester's explicit `confirm_draft` call. Every call counts against the user's rate like a chat turn
and is audited with channel `mcp` and the client's name.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import mcp_types as mcp
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp_types.version import is_version_at_least

from assistant.channels.mcp.catalog import CANCEL_TOOL, CONFIRM_TOOL, Catalog, Offered
from assistant.channels.mcp.resources import Resources
from core.actor import Actor, Person, Role
from core.audit.service import AuditContext, record_event
from core.conversations import count_call
from core.db import Database
from core.drafts.models import DraftStatus
from core.drafts.service import RequestContext, cancel, confirm, get_draft
from core.errors import ErpError, PermissionDenied
from tools import Registry, ToolContext, ToolError, ToolOutcome
from tools.drafts import DraftArgs, draft_result
from tools.registry import validate_arguments

MCP_CHANNEL = "mcp"
SERVER_NAME = "erp-assistant"
INPUT_REQUIRED_VERSION = "2026-07-28"
CONFIRM_KEY = "confirm"
READ_ONLY = "read_only"
CONFIRM_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        CONFIRM_KEY: {
            "type": "boolean",
            "title": "Confirm",
            "description": "Yes: hand it to the approval policy now. No: withdraw it; nothing changes.",
        }
    },
    "required": [CONFIRM_KEY],
}
CONFIRM_HERE = (
    "Nothing has changed yet: this is a preview. Show it to the user; only if they say yes, call confirm_draft with"
    " this draft number (cancel_draft withdraws it). Then the policy decides; never say it is done before."
)
INSTRUCTIONS = (
    "The ERP of a distributor, as the signed-in user: read tools answer from the ERP's records; a draft tool"
    " returns a preview (status unconfirmed) that changes nothing until the user confirms it. Show the user the"
    " preview; confirm it only when they say yes. Approving is a person's act in the ERP's inbox or Slack, never"
    " a tool's."
)


@dataclass(frozen=True)
class Caller:
    """Who calls: the user a credential names, and whether that credential (or the deployment) is read-only."""

    actor: Actor
    read_only: bool = False


Identify = Callable[[ServerRequestContext[Any, Any]], Awaitable[Caller]]


class NotForIntegrations(PermissionDenied):
    def __init__(self, username: str) -> None:
        super().__init__(
            f"{username} is an integration (another system): MCP is for people's AI clients; "
            "integrations send documents to /api/integrations"
        )


@dataclass(frozen=True)
class Call:
    """One tool call: who, from which client, in which conversation, under which id."""

    caller: Caller
    client: str
    conversation_id: str | None
    tool_call_id: str

    def context(self, search: Any) -> ToolContext:
        return ToolContext(
            self.caller.actor,
            MCP_CHANNEL,
            conversation_id=self.conversation_id,
            tool_call_id=self.tool_call_id,
            search=search,
        )


class ErpMcp:
    """The server's handlers over one database; `identify` says who a request is from (a token over HTTP, the
    local credential over stdio); `asks_mid_call`: the transport can carry a server-to-client request during a
    call (stdio), which clients of versions before 2026-07-28 need for elicitation."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        identify: Identify,
        *,
        state_key: bytes,
        state_ttl_s: float,
        search: Any = None,
        asks_mid_call: bool = False,
    ) -> None:
        self.db = db
        self.registry = registry
        self.catalog = Catalog(registry)
        self.identify = identify
        self.search = search
        self.asks_mid_call = asks_mid_call
        self.resources = Resources(db)
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version="0.1.0",
            title="ERP assistant",
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
        )
        security = RequestStateSecurity(keys=[state_key], ttl=state_ttl_s)
        self.server.middleware.append(RequestStateBoundary(security, default_audience=SERVER_NAME))

    # --- tools ---------------------------------------------------------------------------------------

    async def caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        caller = await self.identify(ctx)
        if Role.INTEGRATION in caller.actor.roles:
            raise _protocol_error(NotForIntegrations(caller.actor.username))
        return caller

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: mcp.PaginatedRequestParams | None
    ) -> mcp.ListToolsResult:
        caller = await self.caller(ctx)
        offered = self.catalog.for_user(caller.actor.roles, read_only=caller.read_only)
        return mcp.ListToolsResult(tools=[o.listing for o in offered])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: mcp.CallToolRequestParams
    ) -> mcp.CallToolResult | mcp.InputRequiredResult:
        caller = await self.caller(ctx)
        offered = self._visible(caller, params.name)
        refusal = _refused(READ_ONLY, _read_only_message(caller)) if offered.writes and caller.read_only else None
        if params.request_state is not None and refusal is None:  # the answer to the confirmation it was asked
            return await self._answered(ctx, caller, params)
        call = await anyio.to_thread.run_sync(self._begin, caller, client_name(ctx))
        if refusal is None:
            outcome = await anyio.to_thread.run_sync(self._run, call, offered, params.arguments or {})
        else:
            outcome = refusal
        await anyio.to_thread.run_sync(self._audit, call, params.name, outcome)
        if _unconfirmed(outcome):
            return await self._ask(ctx, call, outcome)
        return _result(outcome)

    def _visible(self, caller: Caller, name: str) -> Offered:
        """The tool, if this user may see it at all; a hidden tool is as unknown as a missing one."""
        visible = {o.listing.name: o for o in self.catalog.for_user(caller.actor.roles, read_only=False)}
        offered = visible.get(name)
        if offered is None:
            raise MCPError(
                mcp.INVALID_PARAMS,
                f"there is no tool '{name}' for {caller.actor.username}",
                {"error": "unknown_tool", "suggestions": sorted(visible)},
            )
        return offered

    def _begin(self, caller: Caller, client: str) -> Call:
        """Count the call against the user's rate (refused with `rate_limited` when over), in the conversation
        this client keeps for them."""
        try:
            conversation = self.db.run(lambda s: count_call(s, caller.actor, channel=MCP_CHANNEL, client=client))
        except ErpError as error:
            raise _protocol_error(error) from None
        return Call(caller, client, conversation, f"mcp-{uuid.uuid4().hex[:20]}")

    def _run(self, call: Call, offered: Offered, arguments: dict[str, Any]) -> ToolOutcome:
        if offered.tool is not None:
            return self.registry.call(self.db, call.context(self.search), offered.tool.name, arguments)
        return self._draft_act(call.caller, offered.listing.name, arguments)

    def _draft_act(self, caller: Caller, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """The requester's own confirm or cancel of a draft, as the web's buttons do it."""
        outcome = validate_arguments(DraftArgs, name, arguments)
        if isinstance(outcome, ToolOutcome):
            return outcome
        number = outcome.draft_number
        try:
            if name == CONFIRM_TOOL:
                person = Person(caller.actor, channel=MCP_CHANNEL)
                draft = self.db.run(lambda s: draft_result(s, confirm(s, person, draft_number=number)))
            else:
                ctx = RequestContext(caller.actor, MCP_CHANNEL)
                draft = self.db.run(lambda s: draft_result(s, cancel(s, ctx, draft_number=number)))
        except ErpError as error:
            return ToolOutcome.refused(ToolError.of(error))
        return ToolOutcome.of(draft)

    def _audit(self, call: Call, tool: str, outcome: ToolOutcome) -> None:
        """One audit event per call: the tool, the client, what came of it."""
        data = {"client": call.client, "outcome": outcome.kind}
        data |= {"error": outcome.error.code} if outcome.error is not None else {}
        data |= {"draft": outcome.draft.draft} if outcome.draft is not None else {}
        context = AuditContext(call.caller.actor.user_id, MCP_CHANNEL, call.conversation_id, call.tool_call_id)
        self.db.run(
            lambda s: record_event(
                s, context, action="mcp.tool_called", subject_type="mcp_tool", subject_id=tool, data=data
            )
        )

    # --- the requester's confirmation ------------------------------------------------------------------

    async def _ask(
        self, ctx: ServerRequestContext[Any, Any], call: Call, outcome: ToolOutcome
    ) -> mcp.CallToolResult | mcp.InputRequiredResult:
        """Ask the requester to confirm the preview, the way their client can; without a way, the preview goes
        back for an explicit `confirm_draft`."""
        assert outcome.draft is not None
        form = mcp.ElicitRequestFormParams(message=preview_text(outcome), requested_schema=CONFIRM_FORM)
        if not _can_elicit(ctx):
            return _result(outcome)
        if is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION):
            return mcp.InputRequiredResult(
                input_requests={CONFIRM_KEY: mcp.ElicitRequest(params=form)}, request_state=outcome.draft.draft
            )
        if not self.asks_mid_call:
            return _result(outcome)
        answer = await ctx.session.elicit_form(form.message, CONFIRM_FORM, related_request_id=ctx.request_id)
        return await anyio.to_thread.run_sync(self._settle, call.caller, outcome.draft.draft, answer)

    async def _answered(
        self, ctx: ServerRequestContext[Any, Any], caller: Caller, params: mcp.CallToolRequestParams
    ) -> mcp.CallToolResult:
        """The retried call carrying the requester's answer; `request_state` (sealed by the SDK's boundary, bound
        to this user and these arguments) names the draft it was about."""
        number = params.request_state or ""
        answer = (params.input_responses or {}).get(CONFIRM_KEY)
        if not isinstance(answer, mcp.ElicitResult):
            answer = mcp.ElicitResult(action="cancel")
        return await anyio.to_thread.run_sync(self._settle, caller, number, answer)

    def _settle(self, caller: Caller, number: str, answer: mcp.ElicitResult) -> mcp.CallToolResult:
        """Yes confirms the preview (the policy then decides); no withdraws it; a dismissed form leaves it
        unconfirmed, to confirm with `confirm_draft` before it expires."""
        said_yes = answer.action == "accept" and (answer.content or {}).get(CONFIRM_KEY) is True
        if said_yes:
            return _result(self._draft_act(caller, CONFIRM_TOOL, {"draft_number": number}))
        if answer.action == "cancel":
            draft = self.db.read(lambda s: draft_result(s, get_draft(s, caller.actor, draft_number=number)))
            return _result(ToolOutcome.of(draft))
        return _result(self._draft_act(caller, CANCEL_TOOL, {"draft_number": number}))

    # --- resources -------------------------------------------------------------------------------------

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: mcp.PaginatedRequestParams | None
    ) -> mcp.ListResourcesResult:
        await self.caller(ctx)
        return mcp.ListResourcesResult(resources=self.resources.listed())

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: mcp.PaginatedRequestParams | None
    ) -> mcp.ListResourceTemplatesResult:
        await self.caller(ctx)
        return mcp.ListResourceTemplatesResult(resource_templates=self.resources.templates())

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: mcp.ReadResourceRequestParams
    ) -> mcp.ReadResourceResult:
        caller = await self.caller(ctx)
        try:
            return await anyio.to_thread.run_sync(self.resources.read, caller.actor, params.uri)
        except ErpError as error:
            raise _protocol_error(error) from None


def client_name(ctx: ServerRequestContext[Any, Any]) -> str:
    """The client's name as it introduced itself (any text; trimmed), or 'unknown client'."""
    params = ctx.session.client_params
    name = params.client_info.name.strip() if params is not None else ""
    return name[:60] or "unknown client"


def _can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the client said it can show a form (an empty elicitation capability means form mode)."""
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _unconfirmed(outcome: ToolOutcome) -> bool:
    return outcome.draft is not None and outcome.draft.status == DraftStatus.UNCONFIRMED


def preview_text(outcome: ToolOutcome) -> str:
    """The preview as the confirmation form shows it: what it is, each change, and what the policy will do."""
    draft = outcome.draft
    assert draft is not None
    changes = "\n".join(f"- {line}" for line in draft.changes)
    return f"{draft.draft}: {draft.summary}\n{changes}\n{draft.decision}\nConfirm this change?"


def _result(outcome: ToolOutcome) -> mcp.CallToolResult:
    """The tool's result as JSON text and as `structuredContent`; an unconfirmed preview says how it is confirmed
    here. A refusal comes with `isError` and our typed code, as JSON text only: clients (the MCP Inspector among
    them) check any `structuredContent` against the tool's output schema even on an error, and a refusal's shape
    is not the tool's result."""
    if _unconfirmed(outcome):
        outcome = ToolOutcome.of(outcome.draft.model_copy(update={"next_step": CONFIRM_HERE}))  # type: ignore[union-attr]
    refused = outcome.error is not None
    return mcp.CallToolResult(
        content=[mcp.TextContent(text=outcome.as_json())],
        structured_content=None if refused else outcome.data,
        is_error=refused,
    )


def _refused(code: str, message: str) -> ToolOutcome:
    return ToolOutcome.refused(ToolError(code=code, message=message))


def _read_only_message(caller: Caller) -> str:
    return (
        f"this MCP connection is read-only for {caller.actor.username}: draft tools are off. Ask in the ERP's web"
        " widget, or connect with a read-write API token on a deployment without ERP_MCP_READ_ONLY"
    )


def _protocol_error(error: ErpError) -> MCPError:
    """A refusal of the request itself (who asks, their rate, a resource), with our code and suggestions."""
    data = {"error": error.code, **{k: v for k, v in error.details.items() if _is_json(v)}}
    return MCPError(mcp.INVALID_PARAMS, error.message, data)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True

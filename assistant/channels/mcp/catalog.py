"""The registry's tools as MCP tools: the same names, descriptions and pydantic schemas, with an output schema
and annotations that say what each one does to the ERP.

Nothing here is a second copy of a schema: the input schema is the tool's own (`Tool.schema()`, the one the
assistant's model sees), the output schema is its result model's. The two tools only this channel has,
`confirm_draft` and `cancel_draft`, are the requester's own acts on a preview (the web's Confirm and Cancel
buttons); neither approves, and there is no approve tool here either.
"""

import typing
from dataclasses import dataclass
from typing import Any

import mcp_types as mcp
from pydantic import BaseModel

from core.actor import Role
from tools import Registry, Tool
from tools.drafts import DraftArgs
from tools.outcome import DraftResult

CONFIRM_TOOL = "confirm_draft"
CANCEL_TOOL = "cancel_draft"
CHANNEL_TOOLS = (CONFIRM_TOOL, CANCEL_TOOL)


@dataclass(frozen=True)
class Offered:
    """One tool as this channel offers it: the MCP description, and the registry tool behind it (None for the
    channel's own confirm and cancel)."""

    listing: mcp.Tool
    tool: Tool | None

    @property
    def writes(self) -> bool:
        return self.tool is None or self.tool.writes


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of what a tool returns, as it is sent (`structuredContent` is the result dumped to JSON with
    unset optional fields left out, so a field that may be null is never required)."""
    schema = model.model_json_schema(mode="serialization")
    _optional_nullables(schema)
    for definition in schema.get("$defs", {}).values():
        _optional_nullables(definition)
    return schema


def _optional_nullables(schema: dict[str, Any]) -> None:
    properties = schema.get("properties", {})
    nullable = {name for name, prop in properties.items() if {"type": "null"} in prop.get("anyOf", [])}
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in nullable]


def result_model(tool: Tool) -> type[BaseModel]:
    """What the tool returns, from its function's annotation (every tool is typed)."""
    model = typing.get_type_hints(tool.run).get("return")
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"tool {tool.name} does not say what it returns")
    return model


def annotations(tool: Tool) -> mcp.ToolAnnotations:
    """Read tools change nothing. A draft tool changes nothing either until its requester confirms the preview
    and the policy lets it run, and the same request in the same conversation replaces its earlier preview:
    not destructive, idempotent. The ERP is a closed world."""
    title = tool.name.replace("_", " ").capitalize()
    if not tool.writes:
        return mcp.ToolAnnotations(title=title, read_only_hint=True, open_world_hint=False)
    return mcp.ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )


def listing(tool: Tool) -> mcp.Tool:
    schema = tool.schema()["function"]
    return mcp.Tool(
        name=tool.name,
        description=schema["description"],
        input_schema=schema["parameters"],
        output_schema=output_schema(result_model(tool)),
        annotations=annotations(tool),
    )


def _channel_tool(name: str, description: str, *, destructive: bool) -> mcp.Tool:
    return mcp.Tool(
        name=name,
        description=description,
        input_schema=Tool(name, description, DraftArgs, lambda s, c, a: a).schema()["function"]["parameters"],
        output_schema=output_schema(DraftResult),
        annotations=mcp.ToolAnnotations(
            title=name.replace("_", " ").capitalize(),
            read_only_hint=False,
            destructive_hint=destructive,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )


CONFIRM_LISTING = _channel_tool(
    CONFIRM_TOOL,
    "The user's own confirmation of a preview they asked for (a draft tool's result with status unconfirmed):"
    " call it only after showing the user the preview and hearing them say yes. The policy then decides:"
    " executed, pending_approval (waiting for the approvers it names) or blocked. It is never an approval:"
    " approvers decide in the ERP's approvals inbox or Slack.",
    destructive=True,
)
CANCEL_LISTING = _channel_tool(
    CANCEL_TOOL,
    "Withdraw a draft the user asked for while it is unconfirmed or waiting for approval; nothing is changed.",
    destructive=False,
)


class Catalog:
    """The tools one user may see: the registry's tools their roles may run, plus confirm and cancel for those
    who may draft; with `read_only`, read tools only."""

    def __init__(self, registry: Registry) -> None:
        self.offered = {tool.name: Offered(listing(tool), tool) for tool in registry.tools.values()}
        self.offered |= {
            CONFIRM_TOOL: Offered(CONFIRM_LISTING, None),
            CANCEL_TOOL: Offered(CANCEL_LISTING, None),
        }

    def for_user(self, roles: frozenset[Role], *, read_only: bool) -> list[Offered]:
        """What `tools/list` shows someone with `roles`."""
        usable = [o for o in self.offered.values() if o.tool is not None and o.tool.usable_by(roles)]
        if read_only:
            return [o for o in usable if not o.writes]
        drafts = any(o.writes for o in usable)
        return usable + ([self.offered[CONFIRM_TOOL], self.offered[CANCEL_TOOL]] if drafts else [])

    def get(self, name: str) -> Offered | None:
        return self.offered.get(name)

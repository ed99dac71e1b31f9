"""The output's shape: the tool schemas as one JSON schema, and the llama.cpp grammar that enforces it.

The output is one JSON object `{"name": <tool>, "arguments": <that tool's arguments>}`; words to the user are one
more such tool, `reply` ({"text": ...}).
"""

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from prompts import text

GRAMMAR_FORMATS = {"date", "time", "date-time"}
LONGEST_BOUND = 64  # longer maxLength / maxItems unroll into huge grammars; pydantic checks them anyway


def grammar_schema(node: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON schema llama.cpp's converter handles: `$ref`s inlined, only the keywords it enforces kept.

    Bounds it cannot enforce (minimum, pattern, ...) are dropped: the tool's own validation still
    judges the arguments, the grammar only has to keep them well-formed and on the schema's shape.
    """
    if not isinstance(node, dict) or depth > 12:
        return {}
    defs = {**(defs or {}), **node.get("$defs", {}), **node.get("definitions", {})}
    if isinstance(node.get("$ref"), str):
        target = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return grammar_schema({**target, **rest}, defs, depth + 1)
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            merged.update(grammar_schema(part, defs, depth + 1))
        return grammar_schema(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            out["anyOf"] = [grammar_schema(b, defs, depth + 1) for b in node[key]]
    for key in ("type", "const", "enum", "required"):
        if key in node:
            out[key] = node[key]
    if node.get("format") in GRAMMAR_FORMATS:
        out["format"] = node["format"]
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: grammar_schema(v, defs, depth + 1) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = grammar_schema(node["items"], defs, depth + 1)
    if node.get("additionalProperties") is False:
        out["additionalProperties"] = False
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if isinstance(node.get(low), int) and node[low] <= LONGEST_BOUND:
            out[low] = node[low]
        if isinstance(node.get(high), int) and node[high] <= LONGEST_BOUND:
            out[high] = node[high]
    return out


def tool_name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool).get("name", ""))


def tool_parameters(tool: dict[str, Any]) -> dict[str, Any]:
    params = tool.get("function", tool).get("parameters")
    return params if isinstance(params, dict) else {"type": "object", "properties": {}}


# Words to the user are a pseudo-tool: the model then decides between answering and calling a tool the way it
# was trained to pick tools, by name and description, which it does better than choosing between two formats.
REPLY = "reply"
REPLY_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": REPLY,
        "description": text("local/reply_tool.md"),
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1}},
            "required": ["text"],
            "additionalProperties": False,
        },
    },
}


Idle = Mapping[str, Sequence[Sequence[str]]]  # per tool, the argument paths its output leaves out ("lines", "*", "x")


def output_schema(tools: Sequence[dict[str, Any]], *, answer: bool = True, idle: Idle | None = None) -> dict[str, Any]:
    """One branch per tool (its name and its arguments, less its `idle` optional ones), plus a plain answer if
    allowed."""
    branches = []
    for tool in tools:
        arguments = grammar_schema(tool_parameters(tool))
        for path in (idle or {}).get(tool_name(tool), ()):
            _leave_out(arguments, path)
        if not converts(arguments):
            arguments = {"type": "object"}  # any JSON object: the tool's validation will say what is wrong
        branches.append(_branch(tool_name(tool), arguments))
    if answer or not branches:
        branches.append(_branch(REPLY, tool_parameters(REPLY_TOOL)))
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _leave_out(schema: dict[str, Any], path: Sequence[str]) -> None:
    """Drop the optional property at `path` ("*": a list's items) from an inlined schema, in place."""
    node = schema
    for step in path[:-1]:
        node = node.get("items", {}) if step == "*" else node.get("properties", {}).get(step, {})
        branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
        node = branches[0] if len(branches) == 1 else node  # an optional list: its one non-null branch
    if path and path[-1] not in node.get("required", []):
        node.get("properties", {}).pop(path[-1], None)


def _branch(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def converts(schema: dict[str, Any]) -> bool:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception:
        return False
    return True


@lru_cache(maxsize=64)
def _grammar_text(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(schema_json))


def output_grammar(tools: Sequence[dict[str, Any]], *, answer: bool = True, idle: Idle | None = None) -> str:
    """The GBNF grammar of `output_schema` (cached: the tools rarely change)."""
    return _grammar_text(json.dumps(output_schema(tools, answer=answer, idle=idle)))

"""Which tools a call may use, and the text its output is certain to start with."""

from collections.abc import Sequence
from typing import Any

from assistant.llm.local.grammar import REPLY, converts, grammar_schema, tool_name, tool_parameters
from assistant.llm.local.steps import Plan, plan

# Text the output is certain to start with: evaluated with the prompt in one batch, not generated token by token.
NAME_OPENING = '{"name": "'
REPLY_OPENING = '{"name": "reply", "arguments": {"text":'  # stops before a space: the model writes ' "' as one token


def choose_tools(tools: Sequence[dict[str, Any]], tool_choice: Any) -> tuple[list[dict[str, Any]], bool]:
    """The tools the output may call and whether a plain answer is allowed, from OpenAI's `tool_choice`."""
    if tool_choice == "none":
        return [], True
    if tool_choice == "required":
        return list(tools), not tools
    names = allowed_tools(tool_choice)
    if names is not None:  # OpenAI's "allowed_tools": a subset, the prompt's tools (and its cached prefix) unchanged
        chosen = [t for t in tools if tool_name(t) in names]
        return chosen, tool_choice["allowed_tools"].get("mode", "auto") != "required" or not chosen
    if isinstance(tool_choice, dict):
        wanted = str(tool_choice.get("function", {}).get("name", ""))
        chosen = [t for t in tools if tool_name(t) == wanted]
        return chosen, not chosen
    return list(tools), True


def allowed_tools(tool_choice: Any) -> set[str] | None:
    """The names an OpenAI `{"type": "allowed_tools", "allowed_tools": {"mode": ..., "tools": [...]}}` choice
    allows, or None for any other choice."""
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "allowed_tools":
        return None
    listed = (tool_choice.get("allowed_tools") or {}).get("tools") or []
    return {str((t.get("function") or {}).get("name", "")) for t in listed if isinstance(t, dict)}


def openers(tools: Sequence[dict[str, Any]], *, answer: bool) -> dict[str, str]:
    """For each name the output may call, what is certain to follow it: the arguments' opening and the key of
    the first required argument (the grammar puts required arguments first, in the schema's order). Each ends
    before a space, which the model writes together with what follows."""
    out = {}
    for tool in tools:
        schema = grammar_schema(tool_parameters(tool))
        first = next((k for k in schema.get("properties", {}) if k in schema.get("required", [])), None)
        out[tool_name(tool)] = '", "arguments":' + (f' {{"{first}":' if first and converts(schema) else "")
    if answer:
        out[REPLY] = '", "arguments": {"text":'
    return out


def certain_after(text: str, names: dict[str, str]) -> str:
    """What must follow the output so far: once the name being written can only be one of `names`, the rest
    of it and the opening of its arguments."""
    if not text.startswith(NAME_OPENING) or '"' in text[len(NAME_OPENING) :]:
        return ""
    typed = text[len(NAME_OPENING) :]
    candidates = [n for n in names if n.startswith(typed)]
    if not typed or len(candidates) != 1:
        return ""
    return candidates[0][len(typed) :] + names[candidates[0]]


def offered(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], tool_choice: Any
) -> tuple[list[dict[str, Any]], bool]:
    """The tools this call may use and whether it may reply in words: `tool_choice`, and after tool results the
    step rule (`steps.RULE`)."""
    chosen = call_plan(messages, tools, tool_choice)
    return chosen.tools, chosen.answer


def call_plan(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], tool_choice: Any) -> Plan:
    """What this call may output and what code adds to its prompt (`steps.plan`)."""
    return plan(messages, tools, choose_tools(tools, tool_choice), tool_choice)

"""The prompt: the model's own chat template with the tools, then a note on the output format with examples.

The system prompt, the tools and the note are a prefix that stays byte-identical from call to call, so its
evaluated state can be reused (see `model.Engine.ensure_prefix`).
"""

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from assistant.llm.local.grammar import REPLY, REPLY_TOOL, tool_name, tool_parameters
from prompts import text
from tools.search.text import tokens


def examples(rows: list[dict[str, Any]]) -> list["Example"]:
    """The examples file's rows as (request, tool or None, its arguments or the answer)."""
    return [(row["request"], row.get("tool"), row["arguments"] if "tool" in row else row["reply"]) for row in rows]


OUTPUT_NOTE = text("local/output_note.md")
# A tool's example is shown only when the tool is offered.
OUTPUT_EXAMPLES = examples(yaml.safe_load(text("local/output_examples.yaml")))


def output_note(tools: Sequence[dict[str, Any]], request: str = "", examples: int | None = None) -> str:
    """How to reply in the grammar's format, with examples; a system message right after the tools. Every
    example of the offered tools, or with `examples` only that many, the closest to `request`."""
    names = {tool_name(t) for t in tools}
    shown = [e for e in OUTPUT_EXAMPLES if e[1] is None or e[1] in names]
    if examples is not None:
        shown = closest(shown, request, examples)
    lines = [OUTPUT_NOTE]
    for example, tool, value in shown:
        if tool is None:
            lines.append(f'"{example}" -> {json.dumps({"name": REPLY, "arguments": {"text": value}})}')
        else:
            lines.append(f'"{example}" -> {json.dumps({"name": tool, "arguments": value})}')
    return "\n".join(lines)


Example = tuple[str, str | None, Any]


def closest(rows: Sequence[Example], request: str, k: int) -> list[Example]:
    """The `k` examples whose requests share the most words with `request` (ties: the file's order), kept in the
    file's order."""
    words = set(tokens(request))
    ranked = sorted(range(len(rows)), key=lambda i: -len(words & set(tokens(rows[i][0]))))
    return [rows[i] for i in sorted(ranked[:k])]


def conversation(
    messages: Sequence[Any], tools: Sequence[dict[str, Any]], examples: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The messages as the template gets them, and how many leading ones every call shares: the system
    prompt and, with tools, the note on the output format (a fixed prefix, so its KV cache is reused). With
    `examples`, the note shows only that many, the closest to the user's last message (a prefix of its own)."""
    out = [template_message(m) for m in messages]
    shared = 1 if out and out[0]["role"] == "system" else 0
    if tools:
        out = [as_output(m) if m["role"] == "assistant" else m for m in out]
        request = next((m["content"] for m in reversed(out) if m["role"] == "user"), "")
        out.insert(shared, {"role": "system", "content": output_note(tools, request, examples)})
        shared += 1
    return out, shared


def as_output(message: dict[str, Any]) -> dict[str, Any]:
    """An earlier assistant message written as the model writes its replies: the model sees one format, and
    the text matches what it generated, so that part of the context is reused too."""
    calls = message.get("tool_calls") or []
    replies = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls]
    if message["content"] or not replies:
        replies.insert(0, {"name": REPLY, "arguments": {"text": message["content"]}})
    return {"role": "assistant", "content": "\n".join(json.dumps(r, ensure_ascii=False) for r in replies)}


# Used only when a GGUF carries no chat template: ChatML with tools, as Qwen2.5 writes it.
CHATML_TOOLS_TEMPLATE = text("local/chatml_tools.jinja")


def _tojson(value: Any, indent: int | None = None) -> str:
    """JSON as Hugging Face's templates write it: not HTML-escaped, keys in their order."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


class ChatTemplate:
    """A model's Jinja chat template, rendered as transformers renders it."""

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        self.template = env.from_string(source)
        self.bos_token, self.eos_token = bos_token, eos_token
        self.lists_tools = "tools" in source

    def render(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], *, add_generation_prompt: bool
    ) -> str:
        shown = [prompt_tool(t) for t in [*tools, REPLY_TOOL]] if tools else []
        messages = [template_message(m) for m in messages]
        if shown and not self.lists_tools:  # a template that ignores tools: list them in the system message
            listing = "# Tools\n" + "\n".join(_tojson(t) for t in shown)
            if messages and messages[0]["role"] == "system":
                messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{listing}"}
            else:
                messages.insert(0, {"role": "system", "content": listing})
        return str(
            self.template.render(
                messages=messages,
                tools=shown or None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        )


def _raise(message: str) -> None:
    raise ValueError(message)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def template_message(message: Any) -> dict[str, Any]:
    """An OpenAI message as chat templates expect it: text content, tool-call arguments as objects,
    tool results as compact JSON."""
    if not isinstance(message, dict):
        message = message.model_dump() if hasattr(message, "model_dump") else dict(message)
    role = str(message.get("role", "user"))
    content = _text(message.get("content"))
    if role == "tool":
        with contextlib.suppress(ValueError):
            content = json.dumps(json.loads(content), ensure_ascii=False, separators=(",", ":"))
    out: dict[str, Any] = {"role": role, "content": content}
    calls = message.get("tool_calls") or []
    if calls:
        out["tool_calls"] = [_template_call(c if isinstance(c, dict) else c.model_dump()) for c in calls]
    return out


def _template_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments: Any = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    return {"type": "function", "function": {"name": function.get("name", ""), "arguments": arguments}}


PROMPT_DROPPED = {"title", "additionalProperties", "minLength", "maxLength", "minItems", "maxItems"}


def prompt_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool as the prompt shows it: `$ref`s inlined and the length bounds left to the grammar."""
    function = tool.get("function", tool)
    shown = {k: v for k, v in function.items() if k != "parameters"}
    shown["parameters"] = _prompt_schema(tool_parameters(tool), tool_parameters(tool).get("$defs", {}))
    return {"type": "function", "function": shown}


def _prompt_schema(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(node, list):
        return [_prompt_schema(v, defs, depth) for v in node]
    if not isinstance(node, dict) or depth > 12:
        return node
    if isinstance(node.get("$ref"), str):
        target = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return {k: _prompt_schema(v, defs, depth + 1) for k, v in node.items() if k not in PROMPT_DROPPED and k != "$defs"}

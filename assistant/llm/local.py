"""The default, no-key model: Qwen2.5-Coder-1.5B (llama.cpp, in process) as the litellm provider `local/...`.

    register()
    litellm.completion(model="local/qwen2.5-coder-1.5b", messages=[...], tools=[...], stream=True)

Tool calls are made reliable by constraining decoding: the output is one JSON object
`{"name": <tool>, "arguments": <that tool's arguments>}`, enforced by a llama.cpp grammar built from the
tool schemas. Words to the user are one more such "tool", `reply` ({"text": ...}): the model then chooses
between answering and looking something up the way it was trained to choose tools, by name and description.
(A separate `{"answer": ...}` branch was measured first: it answered greetings and refusals 0 of 5 times
without a note, and with one it made up answers to lookups: 63-66% right against 90% for `reply`.)
The prompt is the model's own chat template with the tools, then a short note on this format with
examples; the system prompt, tools and note are a prefix that stays byte-identical, so only each new turn
is processed, and its state is saved on disk (data/models/prefix-cache/) for the next start. Once a round
of tools has answered the user's message, the next call may only reply (asked again, the 1.5B model calls
a tool again instead of answering). Text certain to come (`{"name": "`, the rest of a name once it can only
be one tool, the first required key) is evaluated in a batch rather than generated. An answer streams as
the model writes it; a tool call arrives as one chunk.

Settings: `ERP_LOCAL_MODEL_PATH` (another GGUF), `ERP_LOCAL_THREADS` / `ERP_LOCAL_BATCH_THREADS` (default:
chosen per call, see `threads()`), `ERP_LOCAL_CONTEXT` (tokens, default 8192; the oldest turns are left out
when a conversation outgrows it). Importing this module does not import llama_cpp.

Measured on this machine (2 cores of an AMD EPYC; evals/results/local_model_bench-latest.md; the first model
call of 59 phrasings, whole stock-question turns with a realistic tool result):
- prefix (system prompt + 16 tools + note): 3,543 tokens; 26 s to compute on 2 threads (38-45 s on one),
  0.02 s to load from its saved state (100 MB); model load 0.6 s; peak memory 2.1 GiB (RSS, with litellm).
- right tool 54/59 (92%), right tool and arguments 53/59 (90%); 36/59 also add no argument the user did
  not give (mostly today's date or the user's entity, spelled out; sometimes wrong, e.g. warehouse "NA").
- threads (generating/prompt), first call p50 / p95, stock-question turn p50:
    quiet machine:   1/1 1.61 / 3.78 s, 9.0 s;  1/2 1.31 / 3.54 s, 6.6 s;  2/2 1.02 / 2.61 s, 5.5 s
    one core busy:   1/1 1.63 / 3.93 s, 9.3 s;  1/2 2.15 / 4.81 s, 10.9 s; 2/2 3.83 / 9.55 s, 18.3 s
  default (per call: every core nobody else is using): quiet 1.13 / 2.91 s, turn 5.9 s (first words at
  4.5 s); one core busy 1.65-2.69 / 4.14-6.77 s, turn 9.2-11.7 s (two runs; evals/results/
  local_model_bench-threads.md).
- greedy choice checked against the grammar one token at a time instead of over all 151k candidates:
  generation 13-15 -> 19-20 tokens/s; batching the certain text: a tool call 1.7 -> 1.1 s.
"""

import asyncio
import atexit
import codecs
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from assistant.llm.weights import is_verified, model_path
from core.errors import ErpError
from core.settings import data_dir, get_settings

PROVIDER = "local"
MODEL_NAME = "qwen2.5-coder-1.5b"
MODEL = f"{PROVIDER}/{MODEL_NAME}"
DEFAULT_CONTEXT = 8192
ANSWER_MAX_TOKENS = 256  # a reply: one to three sentences are asked for
CALL_MAX_TOKENS = 512  # a tool call or a reply: a sales order of 20 lines takes about 400
PREFIX_STATES_KEPT = 2
HOSTED_HINT = "set ERP_ASSISTANT_MODEL to a hosted model string (e.g. openai/gpt-4o-mini) with its key"


class LocalModelUnavailable(ErpError):
    code = "local_model_unavailable"


class LocalModelTimeout(TimeoutError):
    """The local model did not finish within the call's timeout (waiting for the model included)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the local model did not finish within {timeout_s:g} s")
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class Deadline:
    """When a call must have finished: litellm's `timeout`, which a hosted model's HTTP client enforces."""

    at: float  # a time.monotonic() value
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> "Deadline":
        return cls(time.monotonic() + timeout_s, timeout_s)

    def left_s(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.left_s() < 0:
            raise LocalModelTimeout(self.timeout_s)


def unavailable_reason() -> str | None:
    """Why the local model cannot run here, in words for the chat; None if it can. Loads nothing."""
    path = model_path()
    if get_settings().local_model_path:
        if not path.is_file():
            return f"ERP_LOCAL_MODEL_PATH points at {path}, which is not a file; fix it, or {HOSTED_HINT}"
    elif not is_verified(path):
        return f"the local model is not installed: run `erp-assistant model install`, or {HOSTED_HINT}"
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36), or {HOSTED_HINT}"
    return None


# --- The output grammar ------------------------------------------------------------------------

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
        "description": "Say something to the user without looking anything up: greet, ask for a missing detail, "
        "decline what is not operations work, or answer from the tool results you already have.",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1}},
            "required": ["text"],
            "additionalProperties": False,
        },
    },
}


def output_schema(tools: Sequence[dict[str, Any]], *, answer: bool = True) -> dict[str, Any]:
    """One branch per tool (its name and its arguments), plus a plain answer if allowed."""
    branches = []
    for tool in tools:
        arguments = grammar_schema(tool_parameters(tool))
        if not _converts(arguments):
            arguments = {"type": "object"}  # any JSON object: the tool's validation will say what is wrong
        branches.append(_branch(tool_name(tool), arguments))
    if answer or not branches:
        branches.append(_branch(REPLY, tool_parameters(REPLY_TOOL)))
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _branch(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _converts(schema: dict[str, Any]) -> bool:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception:
        return False
    return True


@lru_cache(maxsize=16)
def _grammar_text(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(schema_json))


def output_grammar(tools: Sequence[dict[str, Any]], *, answer: bool = True) -> str:
    """The GBNF grammar of `output_schema` (cached: the tools rarely change)."""
    return _grammar_text(json.dumps(output_schema(tools, answer=answer)))


# After this many rounds of tool calls the model may only reply, until the user speaks again. Asked again after a
# tool's result, the 1.5B model calls a tool again (often the same) far more often than it answers.
TOOL_ROUNDS = 1
# Text the output is certain to start with: evaluated with the prompt in one batch, not generated token by token.
NAME_OPENING = '{"name": "'
REPLY_OPENING = '{"name": "reply", "arguments": {"text":'  # stops before a space: the model writes ' "' as one token


def choose_tools(tools: Sequence[dict[str, Any]], tool_choice: Any) -> tuple[list[dict[str, Any]], bool]:
    """The tools the output may call and whether a plain answer is allowed, from OpenAI's `tool_choice`."""
    if tool_choice == "none":
        return [], True
    if tool_choice == "required":
        return list(tools), not tools
    if isinstance(tool_choice, dict):
        wanted = str(tool_choice.get("function", {}).get("name", ""))
        chosen = [t for t in tools if tool_name(t) == wanted]
        return chosen, not chosen
    return list(tools), True


def openers(tools: Sequence[dict[str, Any]], *, answer: bool) -> dict[str, str]:
    """For each name the output may call, what is certain to follow it: the arguments' opening and the key of
    the first required argument (the grammar puts required arguments first, in the schema's order). Each ends
    before a space, which the model writes together with what follows."""
    out = {}
    for tool in tools:
        schema = grammar_schema(tool_parameters(tool))
        first = next((k for k in schema.get("properties", {}) if k in schema.get("required", [])), None)
        out[tool_name(tool)] = '", "arguments":' + (f' {{"{first}":' if first and _converts(schema) else "")
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
    """The tools this call may use and whether it may reply in words: `tool_choice`, and words only once
    TOOL_ROUNDS rounds of tool calls have answered the user's message."""
    if tool_choice in (None, "auto") and tool_rounds(messages) >= TOOL_ROUNDS:
        return [], True
    return choose_tools(tools, tool_choice)


def tool_rounds(messages: Sequence[dict[str, Any]]) -> int:
    """How many times tools were called since the user last spoke."""
    rounds = 0
    for message in reversed(messages):
        if message["role"] == "user":
            break
        rounds += bool(message.get("tool_calls"))
    return rounds


# --- Reading the output -------------------------------------------------------------------------

CUT_OFF = "That request was too long for the local model to write out in one go; please ask for less at once."


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True)
class Reply:
    content: str | None
    tool_call: ToolCall | None
    finish_reason: str  # stop, tool_calls or length
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


def parse_output(text: str, *, truncated: bool = False) -> tuple[str | None, ToolCall | None]:
    """The constrained JSON as an answer or a tool call; anything unreadable becomes answer text."""
    try:
        data = json.loads(text, strict=False)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("name"), str) and isinstance(data.get("arguments"), dict):
        if data["name"] == REPLY and isinstance(data["arguments"].get("text"), str):
            return data["arguments"]["text"].strip(), None
        return None, ToolCall(data["name"], json.dumps(data["arguments"], ensure_ascii=False))
    stream = AnswerStream()
    partial = stream.feed(text)  # a cut-off answer (max_tokens) still reads as text
    if stream.is_answer and (partial.strip() or truncated):
        return partial.strip(), None
    if text.lstrip().startswith(NAME_OPENING):
        return CUT_OFF, None
    return text.strip(), None


def tidy_arguments(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments without optional ones that say nothing or cannot be right: equal to their default, empty,
    or outside the schema's numeric bounds (the tool would refuse the whole call for them). Small models fill
    in every optional argument; these are the fill-ins that are safe to take back out."""
    tidied = _tidy(arguments, schema, schema.get("$defs", {}))
    return tidied if isinstance(tidied, dict) else arguments


def _tidy(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    schema = _resolved(schema, defs)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_tidy(v, schema["items"], defs) for v in value]
    properties = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(properties, dict):
        return value
    required = set(schema.get("required", []))
    out = {}
    for key, item in value.items():
        prop = _resolved(properties.get(key, {}), defs)
        if key not in required and _idle(item, prop):
            continue
        out[key] = _tidy(item, prop, defs)
    return out


def _resolved(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    if isinstance(schema.get("$ref"), str):
        return {**defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _idle(value: Any, prop: dict[str, Any]) -> bool:
    if value in ("", None, [], {}) or ("default" in prop and value == prop["default"]):
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low, high, above = prop.get("minimum"), prop.get("maximum"), prop.get("exclusiveMinimum")
    too_low = (low is not None and value < low) or (above is not None and value <= above)
    return bool(too_low or (high is not None and value > high))


ANSWER_START = re.compile(r'\s*\{\s*"name"\s*:\s*"reply"\s*,\s*"arguments"\s*:\s*\{\s*"text"\s*:\s*"')
ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass
class AnswerStream:
    """Turns the growing constrained JSON into the answer's text, as soon as each character is certain."""

    buffer: str = ""
    start: int | None = None  # where the answer string's body begins, once known
    done: bool = False
    is_answer: bool = False
    pos: int = 0
    pending_high: str = ""  # the first half of a \\uD83D\\uDE00 pair

    def feed(self, text: str) -> str:
        """The new characters of the answer that `text` (the next piece of output) completes."""
        self.buffer += text
        if self.start is None:
            match = ANSWER_START.match(self.buffer)
            if match:
                self.start = self.pos = match.end()
                self.is_answer = True
            else:
                return ""
        out: list[str] = []
        buf = self.buffer
        while not self.done and self.pos < len(buf):
            ch = buf[self.pos]
            if ch == '"':
                self.done = True
                break
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            if self.pos + 1 >= len(buf):
                break  # the escape is not complete yet
            kind = buf[self.pos + 1]
            if kind != "u":
                out.append(ESCAPES.get(kind, kind))
                self.pos += 2
                continue
            digits = buf[self.pos + 2 : self.pos + 6]
            if len(digits) < 4:
                break
            out.append(self._unicode(int(digits, 16)))
            self.pos += 6
        return "".join(out)

    def _unicode(self, code: int) -> str:
        if 0xD800 <= code < 0xDC00:
            self.pending_high = chr(code)
            return ""
        if 0xDC00 <= code < 0xE000 and self.pending_high:
            pair = self.pending_high + chr(code)
            self.pending_high = ""
            return pair.encode("utf-16", "surrogatepass").decode("utf-16")
        return chr(code)


# --- The prompt ---------------------------------------------------------------------------------

OUTPUT_NOTE = """How to reply: one JSON object, {"name": <function>, "arguments": {...}}, and nothing else.
Give only the arguments the user's words give; leave out the others (entity, dates, quantities, limits, ...): \
they have defaults.
You know nothing about stock, items, orders, customers, exceptions, drafts, figures or policies until a tool tells \
you: for any question or request about them, call a tool. Use reply only to greet, to ask for a missing detail, \
to decline what is not operations work, or to answer from tool results.
Examples:"""
# (request, tool or None, its arguments or the answer): a tool's example is shown only when the tool is offered.
# None of them is a phrasing of evals/datasets/phrasings.yaml.
OUTPUT_EXAMPLES: list[tuple[str, str | None, Any]] = [
    ("Where is SO-1001?", "get_order_status", {"order_number": "SO-1001"}),
    ("How many P-10 in Reno?", "check_availability", {"sku": "P-10", "warehouse": "RNO"}),
    ("stock of P-10?", "check_availability", {"sku": "P-10"}),
    (
        "Move 4 P-10 from SIN to MAN",
        "draft_transfer",
        {"from_warehouse": "SIN", "to_warehouse": "MAN", "lines": [{"sku": "P-10", "quantity": 4}]},
    ),
    ("Show open price deviations", "list_exceptions", {"type": "price_deviation"}),
    ("Close EX-5, fixed", "draft_exception_action", {"case_number": "EX-5", "action": "resolve", "text": "fixed"}),
    ("hello", None, "Hello! I can look up stock, orders, credit and exceptions, and draft changes. What do you need?"),
    ("Draft a transfer", None, "Which item, how many, and from which warehouse to which?"),
    ("Tell me a joke", None, "I can only help with operations: stock, orders, customers, exceptions and drafts."),
]


def output_note(tools: Sequence[dict[str, Any]]) -> str:
    """How to reply in the grammar's format, with examples; a system message right after the tools."""
    names = {tool_name(t) for t in tools}
    lines = [OUTPUT_NOTE]
    for request, tool, value in OUTPUT_EXAMPLES:
        if tool is None:
            lines.append(f'"{request}" -> {json.dumps({"name": REPLY, "arguments": {"text": value}})}')
        elif tool in names:
            lines.append(f'"{request}" -> {json.dumps({"name": tool, "arguments": value})}')
    return "\n".join(lines)


def conversation(messages: Sequence[Any], tools: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The messages as the template gets them, and how many leading ones every call shares: the system
    prompt and, with tools, the note on the output format (a fixed prefix, so its KV cache is reused)."""
    out = [template_message(m) for m in messages]
    shared = 1 if out and out[0]["role"] == "system" else 0
    if tools:
        out = [as_output(m) if m["role"] == "assistant" else m for m in out]
        out.insert(shared, {"role": "system", "content": output_note(tools)})
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


# Used only when a GGUF carries no chat template: ChatML with tools, as Qwen2.5 writes it. (Earlier assistant
# messages arrive already written as content, see `as_output`.)
CHATML_TOOLS_TEMPLATE = (
    "{%- set system = messages[0].content if messages and messages[0].role == 'system' else '' %}"
    "{%- set rest = messages[1:] if messages and messages[0].role == 'system' else messages %}"
    "{%- if system or tools %}{{- '<|im_start|>system\n' + system }}"
    "{%- if tools %}{{- '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}"
    "{%- for tool in tools %}{{- '\n' + (tool | tojson) }}{%- endfor %}{{- '\n</tools>' }}{%- endif %}"
    "{{- '<|im_end|>\n' }}{%- endif %}"
    "{%- for m in rest %}{%- if m.role == 'tool' %}"
    "{{- '<|im_start|>user\n<tool_response>\n' + m.content + '\n</tool_response><|im_end|>\n' }}"
    "{%- else %}{{- '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)


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


# --- The engine ---------------------------------------------------------------------------------


def threads() -> tuple[int, int]:
    """Threads for generating and for prompt processing, chosen before each call: `ERP_LOCAL_THREADS` if set
    (both), else every core that no other process is using right now (at most 4 and 8). With every core,
    generation is fastest on a quiet machine and collapses as soon as another process wants one of them
    (measured on 2 cores: 2 threads, 5.5 s a turn when idle, 18 s with one core busy; 1 thread, 9 s either
    way), so a core that is busy is left alone."""
    if fixed := get_settings().local_threads:
        return fixed, get_settings().local_batch_threads or fixed
    free = max(1, (os.cpu_count() or 1) - busy_cores())
    return min(4, free), min(8, free)


def busy_cores() -> int:
    """How many other tasks are running right now (Linux: /proc/loadavg, the fewest of three looks 5 ms
    apart, so a passing blip does not count); 0 where that cannot be read."""
    seen = []
    for attempt in range(3):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return 0
        seen.append(running - 1)  # less this thread, which is running to read it
        if attempt < 2:
            time.sleep(0.005)
    return max(0, min(seen))


def context_size() -> int:
    return max(2048, get_settings().local_context or DEFAULT_CONTEXT)


@dataclass
class Stats:
    """What the last generation cost."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    first_token_seconds: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class WarmUp:
    tokens: int
    seconds: float
    source: str  # "memory", "disk" or "computed"


@dataclass
class Engine:
    """One loaded model and its context. Not re-entrant: hold `lock` around every use."""

    llama: Any
    template: ChatTemplate
    path: Path
    n_ctx: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: Stats = field(default_factory=Stats)
    threads: tuple[int, int] = (1, 1)  # used by the last call: generating, prompt processing

    @classmethod
    def load(cls, path: Path, n_threads: int, n_threads_batch: int, n_ctx: int) -> "Engine":
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=512,
            n_threads=n_threads,
            n_threads_batch=n_threads_batch,
            verbose=False,
        )
        source = llama.metadata.get("tokenizer.chat_template") or CHATML_TOOLS_TEMPLATE
        vocab = llama._model
        bos = vocab.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
        eos = vocab.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
        return cls(llama, ChatTemplate(source, bos, eos), path, n_ctx)

    def tokenize(self, text: str) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], max_tokens: int) -> list[int]:
        """The rendered conversation's tokens; the oldest turns are left out if it would not fit (never the
        system messages, never the newest user message)."""
        kept = list(messages)
        while True:
            tokens = self.tokenize(self.template.render(kept, tools, add_generation_prompt=True))
            if len(tokens) + max_tokens <= self.n_ctx:
                return tokens
            shorter = drop_oldest_turn(kept)
            if shorter is None:
                raise ErpError(
                    f"the conversation needs {len(tokens):,} tokens, more than the local model's context of "
                    f"{self.n_ctx:,}; start a new conversation or set ERP_LOCAL_CONTEXT higher",
                )
            kept = shorter

    def prefix(self, shared: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[int]:
        """The tokens of the leading system messages and the tools: the part every call shares."""
        return self.tokenize(self.template.render(shared, tools, add_generation_prompt=False))

    def cached(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` the context already holds."""
        held = self.llama.input_ids[: min(self.llama.n_tokens, len(tokens))]
        differ = np.flatnonzero(held != np.asarray(tokens[: len(held)], dtype=held.dtype))
        return int(differ[0]) if differ.size else len(held)

    def feed(self, tokens: Sequence[int], *, logits: bool) -> int:
        """Make the context hold exactly `tokens`, evaluating only what it does not hold yet (with `logits`, at
        least the last token, so the next one can be chosen). Returns how many were reused."""
        self.threads = threads()
        self.llama._ctx.set_n_threads(*self.threads)
        reused = self.cached(tokens)
        if logits:
            reused = min(reused, len(tokens) - 1)
        self.llama.n_tokens = reused  # eval() drops whatever the context held beyond this
        if reused < len(tokens):
            self.llama.eval(list(tokens[reused:]))
        return reused

    def ensure_prefix(self, tokens: list[int]) -> WarmUp:
        """Have the context hold `tokens` (from memory, from the disk copy, or by evaluating and saving them)."""
        began = time.perf_counter()
        if self.cached(tokens) >= len(tokens):
            return WarmUp(len(tokens), 0.0, "memory")
        state = self._state_file(tokens)
        if state.is_file() and self._load_state(state, tokens):
            return WarmUp(len(tokens), time.perf_counter() - began, "disk")
        self.feed(tokens, logits=False)
        with contextlib.suppress(OSError):
            self._save_state(state, tokens)
        return WarmUp(len(tokens), time.perf_counter() - began, "computed")

    def _state_file(self, tokens: Sequence[int]) -> Path:
        stat = self.path.stat()
        key = hashlib.sha256(
            json.dumps([str(self.path), stat.st_size, stat.st_mtime_ns, self.n_ctx, list(tokens)]).encode()
        ).hexdigest()[:24]
        return data_dir() / "models" / "prefix-cache" / f"{self.path.stem}-{key}.state"

    def _save_state(self, path: Path, tokens: Sequence[int]) -> None:
        import llama_cpp

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        if llama_cpp.llama_state_save_file(self.llama.ctx, str(partial).encode(), array, len(tokens)):
            partial.replace(path)
        partial.unlink(missing_ok=True)
        for old in sorted(path.parent.glob("*.state"), key=lambda p: p.stat().st_mtime)[:-PREFIX_STATES_KEPT]:
            old.unlink(missing_ok=True)

    def _load_state(self, path: Path, tokens: Sequence[int]) -> bool:
        import ctypes

        import llama_cpp

        capacity = len(tokens)
        array = (llama_cpp.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        self.llama.reset()
        if not llama_cpp.llama_state_load_file(
            self.llama.ctx, str(path).encode(), array, capacity, ctypes.byref(count)
        ) or list(array[: count.value]) != list(tokens):
            self.llama.reset()
            return False
        self.llama.input_ids[: count.value] = list(tokens)
        self.llama.n_tokens = count.value
        path.touch()
        return True

    def generate(
        self,
        tokens: list[int],
        grammar: str | None,
        max_tokens: int,
        *,
        opening: str = "",
        certain: Callable[[str], str] | None = None,
        deadline: Deadline | None = None,
    ) -> Iterator[str]:
        """The output's text as it is generated (greedy, within `grammar`), until the end of turn or
        `max_tokens`. Only the part of `tokens` the context does not hold yet is evaluated. The output starts
        with `opening`, and whatever `certain(output so far)` says must follow is taken without generating it:
        both are evaluated in a batch, several times faster than token by token. Past `deadline` it stops
        with `LocalModelTimeout`."""
        from llama_cpp import llama_vocab_is_eog

        llama, vocab = self.llama, self.llama._model.vocab
        stats = self.last = Stats(prompt_tokens=len(tokens))
        began = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        chooser = GreedyChoice(llama, grammar)

        def emit(new: list[int]) -> str:
            stats.completion_tokens += len(new)
            return str(decoder.decode(llama.detokenize(new))) if new else ""

        try:
            opened = chooser.take(self.tokenize(opening))
            stats.cached_tokens = self.feed(tokens + opened, logits=True)
            output = emit(opened)
            if output:
                yield output
            while stats.completion_tokens < max_tokens:
                if deadline is not None:
                    deadline.check()
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(chooser.n_vocab,))
                token = chooser.choose(logits)
                stats.first_token_seconds = stats.first_token_seconds or time.perf_counter() - began
                if llama_vocab_is_eog(vocab, token):
                    break
                chooser.accept(token)
                piece = emit([token])
                extra = chooser.take(self.tokenize(certain(output + piece))) if certain else []
                piece += emit(extra)
                output += piece
                if piece:
                    yield piece
                if looping(output):
                    break
                llama.eval([token, *extra])
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            chooser.close()
            stats.seconds = time.perf_counter() - began


LOOP_WINDOW = 48  # characters


def looping(output: str) -> bool:
    """Whether greedy decoding has fallen into a loop: its newest characters already appeared earlier on.

    A 1.5B model decoding greedily can repeat a sentence until max_tokens; stopping at the first repeat
    keeps the answer (cut-off replies still read as text) and the turn short. Only replies are checked:
    a tool call may rightly repeat itself (order lines for the same item)."""
    if len(output) < 3 * LOOP_WINDOW or '"reply"' not in output[:40]:
        return False
    return output[-LOOP_WINDOW:] in output[:-LOOP_WINDOW]


class GreedyChoice:
    """The most likely next token that `grammar` allows. The grammar is first asked about that one token and
    applied to the whole vocabulary only when it refuses it, as llama.cpp's own sampler does: checking 151k
    candidates at every step (what llama-cpp-python's sampler chain does) halves the generation speed."""

    def __init__(self, llama: Any, grammar: str | None) -> None:
        import ctypes

        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self.n_vocab = int(llama.n_vocab())
        self.grammar = None
        if grammar:
            self.grammar = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, grammar.encode(), b"root")
            if not self.grammar:
                raise ErpError("llama.cpp refused the output grammar built from the tool schemas")
        self.token_data = llama_cpp.llama_token_data
        self.one = (llama_cpp.llama_token_data * 1)()
        self.one_array = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self.one, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
        )
        self.all = LlamaTokenDataArray(n_vocab=self.n_vocab) if grammar else None
        self._apply, self._byref = llama_cpp.llama_sampler_apply, ctypes.byref

    def allows(self, token: int) -> bool:
        if self.grammar is None:
            return True
        self.one[0] = self.token_data(token, 0.0, 0.0)
        self.one_array.size, self.one_array.selected = 1, -1
        self._apply(self.grammar, self._byref(self.one_array))
        return bool(np.isfinite(self.one[0].logit))

    def take(self, tokens: Sequence[int]) -> list[int]:
        """Accept `tokens` while the grammar allows them (accepting a refused one would abort llama.cpp)."""
        taken = []
        for token in tokens:
            if not self.allows(token):
                break
            self.accept(token)
            taken.append(token)
        return taken

    def choose(self, logits: Any) -> int:
        token = int(np.argmax(logits))
        if self.grammar is None or self.all is None or self.allows(token):
            return token
        self.all.copy_logits(logits)
        self._apply(self.grammar, self._byref(self.all.candidates))
        return int(self.all.candidates_data.id[int(np.argmax(self.all.candidates_data.logit))])

    def accept(self, token: int) -> None:
        if self.grammar is not None:
            import llama_cpp

            llama_cpp.llama_sampler_accept(self.grammar, token)

    def close(self) -> None:
        if self.grammar is not None:
            import llama_cpp

            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


def drop_oldest_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The messages without the oldest turn after the leading system messages (a user message and what
    answered it); None if only the newest turn is left."""
    head = next((i for i, m in enumerate(messages) if m["role"] != "system"), len(messages))
    users = [i for i, m in enumerate(messages) if i > head and m["role"] == "user"]
    if not users:
        return None
    return messages[:head] + messages[users[0] :]


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The process's one loaded model, loaded on first use; `LocalModelUnavailable` says how to get one."""
    global _engine
    with _engine_lock:
        if _engine is None:
            reason = unavailable_reason()
            if reason:
                raise LocalModelUnavailable(reason)
            _engine = Engine.load(model_path(), *threads(), context_size())
            atexit.register(_unload)
        return _engine


def _unload() -> None:
    """Free the model while the interpreter is still whole (llama-cpp-python's own finaliser fails at shutdown)."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.llama.close()
            _engine = None


# --- One call -----------------------------------------------------------------------------------


def run(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
) -> Iterator[str | Reply]:
    """One model call: the answer's text as it is written (str), then the whole `Reply`. It holds the model
    until it ends: close it if you stop reading early. With `timeout_s`, waiting for the model (another
    call holds it) and generating must end within that time, or `LocalModelTimeout` is raised."""
    deadline = Deadline.after(timeout_s) if timeout_s is not None else None
    plain = [template_message(m) for m in messages]
    allowed, answer = offered(plain, tools, tool_choice)
    messages, shared = conversation(plain, tools)
    model = engine()
    limit = max_tokens or (CALL_MAX_TOKENS if allowed else ANSWER_MAX_TOKENS)
    grammar = output_grammar(allowed, answer=answer) if tools else None
    opening = "" if not tools else NAME_OPENING if allowed else REPLY_OPENING
    names = openers(allowed, answer=answer)
    if not model.lock.acquire(timeout=max(deadline.left_s(), 0) if deadline else -1):
        raise LocalModelTimeout(deadline.timeout_s if deadline else 0)
    try:
        if shared and tools:
            model.ensure_prefix(model.prefix(messages[:shared], tools))
        prompt = model.prompt(messages, tools, limit)
        stream = AnswerStream() if grammar else None
        text: list[str] = []
        pieces = model.generate(
            prompt, grammar, limit, opening=opening, certain=lambda out: certain_after(out, names), deadline=deadline
        )
        for piece in pieces:
            text.append(piece)
            delta = stream.feed(piece) if stream else piece
            if delta:
                yield delta
        stats = model.last
    finally:
        model.lock.release()
    truncated = stats.completion_tokens >= limit
    output = "".join(text)
    content, call = parse_output(output, truncated=truncated) if grammar else (output.strip(), None)
    schema = next((tool_parameters(t) for t in allowed if call and tool_name(t) == call.name), None)
    if call and schema:
        call = ToolCall(call.name, json.dumps(tidy_arguments(json.loads(call.arguments), schema), ensure_ascii=False))
    yield Reply(
        content=content,
        tool_call=call,
        finish_reason="tool_calls" if call else ("length" if truncated else "stop"),
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        cached_tokens=stats.cached_tokens,
    )


def complete(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
) -> Reply:
    """One model call, waited for."""
    for event in run(messages, tools, tool_choice=tool_choice, max_tokens=max_tokens, timeout_s=timeout_s):
        if isinstance(event, Reply):
            return event
    raise AssertionError("run() ends with a Reply")


def warm_up(system: str, tools: Sequence[dict[str, Any]], *, fresh: bool = False) -> WarmUp:
    """Load the model and have the context hold the system prompt and tools, from disk if saved before
    (`fresh`: forget any saved copy and compute it)."""
    messages, shared = conversation([{"role": "system", "content": system}], tools)
    model = engine()
    with model.lock:
        tokens = model.prefix(messages[:shared], tools)
        if fresh:
            model._state_file(tokens).unlink(missing_ok=True)
            model.llama.reset()
        return model.ensure_prefix(tokens)


# --- litellm ------------------------------------------------------------------------------------


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def _tool_call(call: ToolCall, index: int = 0) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
        "index": index,
    }


def _chunk(text: str = "", **extra: Any) -> GenericStreamingChunk:
    chunk: GenericStreamingChunk = {
        "text": text,
        "tool_use": None,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": 0,
    }
    chunk.update(extra)  # type: ignore[typeddict-item]
    return chunk


def _call_args(messages: list[Any], optional_params: dict[str, Any], timeout: Any = None) -> dict[str, Any]:
    return {
        "timeout_s": float(timeout) if isinstance(timeout, int | float) else None,
        "messages": messages,
        "tools": optional_params.get("tools") or (),
        "tool_choice": optional_params.get("tool_choice"),
        "max_tokens": optional_params.get("max_tokens") or optional_params.get("max_completion_tokens"),
    }


class LocalLLM(CustomLLM):
    """litellm's door to the local model: `completion(model="local/...")` with tools, streaming or not.

    litellm calls these with keyword arguments only; the ones not named here (api_key, logging_obj, ...) mean
    nothing to an in-process model. A missing model raises `LocalModelUnavailable` at the call, also when
    streaming, and litellm hands it on as an APIConnectionError (see `unavailable_from`)."""

    def completion(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        model_response: ModelResponse,
        optional_params: dict[str, Any],
        timeout: Any = None,
        **_: Any,
    ) -> ModelResponse:
        reply = complete(**_call_args(messages, optional_params, timeout))
        calls = [_tool_call(reply.tool_call)] if reply.tool_call else None
        choice = model_response.choices[0]
        choice.message = litellm.Message(role="assistant", content=reply.content, tool_calls=calls)
        choice.finish_reason = reply.finish_reason  # type: ignore[assignment]
        model_response.model = model
        setattr(model_response, "usage", litellm.Usage(**_usage(reply)))  # noqa: B010
        return model_response

    def streaming(  # type: ignore[override]
        self, messages: list[Any], optional_params: dict[str, Any], timeout: Any = None, **_: Any
    ) -> Iterator[GenericStreamingChunk]:
        call = _call_args(messages, optional_params, timeout)
        engine()  # fail here, where litellm reports it, rather than in the middle of the stream
        return _chunks(run(**call))

    async def acompletion(self, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        return await asyncio.to_thread(self.completion, **kwargs)

    def astreaming(self, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        return _async_chunks(self.streaming(**kwargs))


def _chunks(events: Iterator[str | Reply]) -> Iterator[GenericStreamingChunk]:
    for event in events:
        if isinstance(event, str):
            yield _chunk(event)
            continue
        if event.tool_call:
            yield _chunk(tool_use=_tool_call(event.tool_call))
        yield _chunk(is_finished=True, finish_reason=event.finish_reason, usage=_usage(event))


async def _async_chunks(chunks: Iterator[GenericStreamingChunk]) -> AsyncIterator[GenericStreamingChunk]:
    """The stream generated in a worker thread, chunk by chunk, so the event loop stays free."""
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def unavailable_from(error: BaseException) -> LocalModelUnavailable | None:
    """The `LocalModelUnavailable` behind an error litellm raised, if that is what it was."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None or isinstance(seen, LocalModelUnavailable):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


_handler = LocalLLM()


def register() -> None:
    """Make `local/...` model strings reach this process's local model (idempotent)."""
    litellm.suppress_debug_info = True
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": _handler}]

"""The default, no-key model: Qwen2.5-Coder-1.5B (llama.cpp, in process) as the litellm provider `local/...`.

    register()
    litellm.completion(model="local/qwen2.5-coder-1.5b", messages=[...], tools=[...], stream=True)

Tool calls are made reliable by constraining decoding: the output must be one JSON object, either
`{"name": <a tool>, "arguments": <that tool's arguments>}` or `{"answer": "<text>"}`, enforced by a
llama.cpp grammar built from the tool schemas. The prompt is the model's own chat template with the
tools in it; the system message and the tools form a prefix that stays byte-identical across calls, so
llama.cpp reuses its KV cache and only the new turn is processed. That prefix's state is also kept on
disk (`data/models/prefix-cache/`), so the first call after a restart does not process it again.
An answer streams character by character as the model writes the JSON string; a tool call arrives as
one chunk at the end.

Settings: `ERP_LOCAL_MODEL_PATH` (any other GGUF), `ERP_LOCAL_THREADS` (default below),
`ERP_LOCAL_CONTEXT` (tokens, default 8192). Importing this module does not import llama_cpp.

Measured on this machine (2 cores, Qwen2.5-Coder-1.5B Q4_K_M; evals/results/local_model_bench-latest.md):
MEASUREMENTS_PLACEHOLDER
"""

import asyncio
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

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from assistant.llm.weights import is_verified, model_path
from core.errors import ErpError
from core.settings import data_dir

PROVIDER = "local"
MODEL_NAME = "qwen2.5-coder-1.5b"
MODEL = f"{PROVIDER}/{MODEL_NAME}"
DEFAULT_THREADS = 1
DEFAULT_CONTEXT = 8192
ANSWER_MAX_TOKENS = 256
PREFIX_STATES_KEPT = 3
HOSTED_HINT = "set ERP_ASSISTANT_MODEL to a hosted model string (e.g. openai/gpt-4o-mini) with its key"


class LocalModelUnavailable(ErpError):
    code = "local_model_unavailable"


def unavailable_reason() -> str | None:
    """Why the local model cannot run here, in words for the chat; None if it can. Loads nothing."""
    path = model_path()
    if os.environ.get("ERP_LOCAL_MODEL_PATH"):
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
REPLY_OPENING = '{"name": "reply", "arguments": {"text": "'
# The rest of a reply after REPLY_OPENING: the string's characters, then the closing quote and braces.
REPLY_REST = r"""root ::= char+ "\"" space "}" space "}" space
char ::= [^"\\] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])
space ::= " "?"""


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


def tool_rounds(messages: Sequence[dict[str, Any]]) -> int:
    """How many times tools were called since the user last spoke."""
    rounds = 0
    for message in reversed(messages):
        if message["role"] == "user":
            break
        rounds += bool(message.get("tool_calls"))
    return rounds


# --- Reading the output -------------------------------------------------------------------------


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
Give only the arguments the user gave; leave the others out, they have defaults.
You know nothing about stock, items, orders, customers, exceptions, drafts, figures or policies until a tool tells \
you: for any question or request about them, call a tool. Use reply only to greet, to ask for a missing detail, \
to decline what is not operations work, or to answer from tool results.
Examples:"""
# (request, tool or None, its arguments or the answer): a tool's example is shown only when the tool is offered.
# None of them is a phrasing of evals/datasets/phrasings.yaml.
OUTPUT_EXAMPLES: list[tuple[str, str | None, Any]] = [
    ("Where is SO-1001?", "get_order_status", {"order_number": "SO-1001"}),
    ("How many P-10 in Reno?", "check_availability", {"sku": "P-10", "warehouse": "RNO"}),
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


# Used only when a GGUF carries no chat template: ChatML with tools, as Qwen2.5 writes it.
CHATML_TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{{ messages[0].content if messages[0].role == 'system' else '' }}"
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools><|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{%- endif %}"
    "{%- for m in messages if m.role != 'system' or not loop.first %}"
    "<|im_start|>{{ 'user' if m.role == 'tool' else m.role }}\n"
    "{%- if m.role == 'tool' %}<tool_response>\n{{ m.content }}\n</tool_response>{% else %}{{ m.content }}{% endif %}"
    "{%- for c in m.tool_calls or [] %}\n<tool_call>\n"
    '{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}\n</tool_call>'
    "{%- endfor %}<|im_end|>\n{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
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

    def render(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], *, add_generation_prompt: bool
    ) -> str:
        return str(
            self.template.render(
                messages=[template_message(m) for m in messages],
                tools=[prompt_tool(t) for t in [*tools, REPLY_TOOL]] if tools else None,
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


def threads() -> int:
    return max(1, int(os.environ.get("ERP_LOCAL_THREADS") or DEFAULT_THREADS))


def context_size() -> int:
    return max(2048, int(os.environ.get("ERP_LOCAL_CONTEXT") or DEFAULT_CONTEXT))


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

    @classmethod
    def load(cls, path: Path, n_threads: int, n_ctx: int) -> "Engine":
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=512,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
        source = llama.metadata.get("tokenizer.chat_template") or CHATML_TOOLS_TEMPLATE
        vocab = llama._model
        bos = vocab.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else ""
        eos = vocab.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else ""
        return cls(llama, ChatTemplate(source, bos, eos), path, n_ctx)

    def tokenize(self, text: str) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], max_tokens: int, opening: str = ""
    ) -> list[int]:
        """The rendered conversation's tokens, then the reply's `opening`; the oldest turns are left out if it
        would not fit (never the system messages, never the newest user message)."""
        kept = list(messages)
        while True:
            tokens = self.tokenize(self.template.render(kept, tools, add_generation_prompt=True) + opening)
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
        held = self.llama.input_ids[: self.llama.n_tokens].tolist()
        count = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            count += 1
        return count

    def ensure_prefix(self, tokens: list[int]) -> WarmUp:
        """Have the context hold `tokens` (from memory, from the disk copy, or by evaluating and saving them)."""
        began = time.perf_counter()
        if self.cached(tokens) >= len(tokens):
            return WarmUp(len(tokens), 0.0, "memory")
        state = self._state_file(tokens)
        if state.is_file() and self._load_state(state, tokens):
            return WarmUp(len(tokens), time.perf_counter() - began, "disk")
        self.llama.reset()
        self.llama.eval(tokens)
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
        self.llama._requires_eval = True  # as Llama.load_state: sample only after a fresh decode
        path.touch()
        return True

    def generate(self, tokens: list[int], grammar: str | None, max_tokens: int) -> Iterator[str]:
        """The output's text as it is generated (greedy), until the end of turn or `max_tokens`."""
        from llama_cpp import LlamaGrammar, llama_vocab_is_eog

        vocab = self.llama._model.vocab
        stats = self.last = Stats(prompt_tokens=len(tokens), cached_tokens=self.cached(tokens))
        began = time.perf_counter()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        rules = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        tokens_out = self.llama.generate(tokens, temp=0.0, repeat_penalty=1.0, grammar=rules)
        try:
            for token in tokens_out:
                if stats.completion_tokens == 0:
                    stats.first_token_seconds = time.perf_counter() - began
                if llama_vocab_is_eog(vocab, token):
                    break
                stats.completion_tokens += 1
                piece = decoder.decode(self.llama.detokenize([token]))
                if piece:
                    yield piece
                if stats.completion_tokens >= max_tokens:
                    break
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            tokens_out.close()
            stats.seconds = time.perf_counter() - began


def drop_oldest_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The messages without the oldest turn after the system message (a user message and what answered it)."""
    head = 1 if messages and _role(messages[0]) == "system" else 0
    users = [i for i, m in enumerate(messages) if i > head and _role(m) == "user"]
    if not users:
        return None
    return messages[:head] + messages[users[0] :]


def _role(message: Any) -> str:
    return str(message.get("role") if isinstance(message, dict) else getattr(message, "role", ""))


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
            _engine = Engine.load(model_path(), threads(), context_size())
        return _engine


# --- One call -----------------------------------------------------------------------------------


def run(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    *,
    tool_choice: Any = None,
    max_tokens: int | None = None,
) -> Iterator[str | Reply]:
    """One model call: the answer's text as it is written (str), then the whole `Reply`."""
    plain = [template_message(m) for m in messages]
    allowed, answer = choose_tools(tools, tool_choice)
    if tool_rounds(plain) >= TOOL_ROUNDS:
        allowed, answer = [], True
    messages, shared = conversation(plain, tools)
    model = engine()
    limit = max_tokens or ANSWER_MAX_TOKENS
    # Words only: the reply's opening is certain, so it goes into the prompt (one batch) instead of being
    # generated token by token.
    opening = REPLY_OPENING if tools and not allowed else ""
    grammar = (REPLY_REST if opening else output_grammar(allowed, answer=answer)) if tools else None
    with model.lock:
        if shared:
            model.ensure_prefix(model.prefix(messages[:shared], tools))
        prompt = model.prompt(messages, tools, limit, opening)
        stream = AnswerStream() if grammar else None
        if stream:
            stream.feed(opening)
        text: list[str] = [opening]
        for piece in model.generate(prompt, grammar, limit):
            text.append(piece)
            delta = stream.feed(piece) if stream else piece
            if delta:
                yield delta
        stats = model.last
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
) -> Reply:
    """One model call, waited for."""
    for event in run(messages, tools, tool_choice=tool_choice, max_tokens=max_tokens):
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


def _call_args(messages: list[Any], optional_params: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": messages,
        "tools": optional_params.get("tools") or (),
        "tool_choice": optional_params.get("tool_choice"),
        "max_tokens": optional_params.get("max_tokens") or optional_params.get("max_completion_tokens"),
    }


class LocalLLM(CustomLLM):
    """litellm's door to the local model: `completion(model="local/...")` with tools, streaming or not."""

    def completion(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        reply = complete(**_call_args(messages, optional_params))
        calls = [_tool_call(reply.tool_call)] if reply.tool_call else None
        model_response.choices[0].message = litellm.Message(  # type: ignore[union-attr]
            role="assistant", content=reply.content, tool_calls=calls
        )
        model_response.choices[0].finish_reason = reply.finish_reason
        model_response.model = f"{PROVIDER}/{model}"
        setattr(model_response, "usage", litellm.Usage(**_usage(reply)))  # noqa: B010
        return model_response

    def streaming(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> Iterator[GenericStreamingChunk]:
        for event in run(**_call_args(messages, optional_params)):
            if isinstance(event, str):
                yield _chunk(event)
                continue
            if event.tool_call:
                yield _chunk(tool_use=_tool_call(event.tool_call))
            yield _chunk(is_finished=True, finish_reason=event.finish_reason, usage=_usage(event))

    async def acompletion(  # type: ignore[override]
        self, model: str, messages: list[Any], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        return await asyncio.to_thread(self.completion, model, messages, *args, **kwargs)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[Any], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        chunks = self.streaming(model, messages, *args, **kwargs)
        try:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                yield chunk
        finally:
            chunks.close()


_handler = LocalLLM()


def register() -> None:
    """Make `local/...` model strings reach this process's local model (idempotent)."""
    litellm.suppress_debug_info = True
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": _handler}]

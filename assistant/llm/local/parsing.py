"""Reading the constrained output: an answer or a tool call, its arguments tidied, the answer streamed."""

import json
import re
from dataclasses import dataclass
from typing import Any

from assistant.llm.local.choice import NAME_OPENING
from assistant.llm.local.grammar import REPLY

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


# Where a sentence ends: ".", "!" or "?" before a space, not after a common abbreviation ("Magnolia Mechanical Co. is")
# nor a list's number at the start of a line ("1. EX-4 ..."); "10,000.00" has no space after its point.
SENTENCE_END = re.compile(
    r"(?<!\b(?:co|vs|no|st|mr|ms|dr))(?<!\b(?:inc|ltd|etc|e\.g|i\.e))(?<!\bcorp|\bincl)(?<!\bapprox)"
    r"(?<!^\d)(?<!\n\d)(?<!^\d\d)(?<!\n\d\d)[.!?](?=\s)",
    re.IGNORECASE,
)


def sentences_end(text: str, most: int) -> int | None:
    """Where the text's `most`-th sentence ends (the index after its point), once the space after it is written;
    None while it has fewer."""
    for n, match in enumerate(SENTENCE_END.finditer(text), start=1):
        if n == most:
            return match.end()
    return None


def reply_output(text: str) -> str:
    """The constrained output of an answer of this text, as the model would have closed it."""
    return json.dumps({"name": REPLY, "arguments": {"text": text}}, ensure_ascii=False)


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

"""Writes the user made conditional on stock, and requests of several writes: judged by code, never by the model.

"See whether Reno has 20 V-200 free and if so order 20", "only if Atlanta has the stock", "which of Dallas or
Reno has more S-100 free? Send 20 from that one": a 1.5B model drafts at once, or drafts whatever the look-up
said. So, for a request whose condition is on stock (`stock_condition`):

- a draft is not made before a look-up in this turn has shown the stock it depends on (the model is told what to
  look up first: `LOOK_FIRST`);
- when the turn's own results show the condition false (less available at the draft's source than it takes, or a
  source the comparison did not pick), the draft is not made and code answers with the figures of the results;
- when it holds, the draft goes ahead; a condition code cannot evaluate (credit, a line it cannot read, a tie)
  leaves the turn as it was.

And a message that asks for several writes (`write_parts`: "move 10 V-200 from Dallas to Atlanta and 5 V-210 from
Dallas to Reno") is not done after its first preview, and one transfer is not made for two routes.
"""

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.linking import key
from core.masterdata.mentions import Linked, Mention, MentionKind, direction_written

LOOK_FIRST = "look_first"  # the model is told what to look up before the draft
CONDITION_NOT_MET = "condition_not_met"  # the results show the user's condition false: code answers
ONE_ROUTE_PER_TRANSFER = "one_route_per_transfer"  # one transfer call for routes the user gave apart
GUARD_CODES = frozenset({LOOK_FIRST, ONE_ROUTE_PER_TRANSFER})  # refusals the model gets another round after

# A write made to depend on something: "if so", "if there are 20", "only if", "provided", "as long as".
CONDITIONAL = re.compile(r"\b(?:if|provided|providing|as long as|assuming|unless)\b", re.IGNORECASE)
# A yes/no question the next words act on ("enough at DAL? then move the line", "acme credit ok? then draft ..."); a
# question of how many or which ("How many are free in Dallas? Then move 20") asks a figure, and sets no condition.
QUESTION_THEN = re.compile(
    r"(?:^|[.!;]\s*)(?!\s*(?:how|what|what's|whats|which|where|when|who|why)\b)[^.!?;]*\?\s*"
    r"(?:(?:and|ok|okay|good|great),?\s+)?then\b",
    re.IGNORECASE,
)
# What makes the condition one on stock.
STOCK_WORDS = re.compile(
    r"\b(?:free|available|availability|in stock|stock|enough|cover|covers|covered|spare|atp"
    r"|(?:has|have|there (?:are|is))\s+\d+)\b",
    re.IGNORECASE,
)
# A condition on something else code does not judge here: credit, holds, prices, approvals.
OTHER_CONDITION_WORDS = re.compile(
    r"\b(?:credit|hold|held|limit|overdue|paid|price|priced|margin|discount|approv\w*|late|due)\b", re.IGNORECASE
)
# "Which of Dallas or Reno has more", "from the one with more", "whichever has the most free".
COMPARISON = re.compile(
    r"\b(?:has|have|with|holds?|got)\s+(?:the\s+)?(?:more|most)\b|\b(?:more|most)\s+(?:free|available|stock|on hand)\b"
    r"|\bfuller\b",
    re.IGNORECASE,
)
# The words of a change (one home: the local model's step rule reads the same list).
CHANGE_VERBS = (
    r"order|draft|move|transfer|send|ship|raise|place|put|book|restock|assign|give|release|comment|note"
    r"|resolve|close|dismiss|change|switch|increase|reduce|push|cancel|create|make|bump|buy"
)
CHANGE_WORDS = re.compile(rf"\b(?:{CHANGE_VERBS})\b", re.IGNORECASE)
# A question that asks for nothing to change ("why do you propose the PO in EX-15?", "what needs my attention"):
# phrased as a question, and none of the words any change is asked in (CHANGE_VERBS and the day's other verbs:
# received, arrived, return, count, write off, record, reverse, set, accept ...). Its first call is a look-up.
QUESTION = re.compile(
    r"\?\s*$|^\s*(?:why|what|what's|whats|how|where|where's|when|which|who|whose|is|are|was|were|does|do|did|has"
    r"|have|had|can i see|show|list|tell me|any|anything)\b",
    re.IGNORECASE,
)
OTHER_CHANGE_VERBS = (
    r"accept|approve|go ahead|receiv\w*|arriv\w*|came in|came back|expedite|return\w*|back|scrap|count\w*"
    r"|write off|record|reverse|set|update|add|remove|hold|pay|apply|refund|credit|substitut\w*|swap|replace|split"
    r"|reallocat\w*|authori[sz]\w*|open|take|do it|proceed|lower|cut"
)
ANY_CHANGE_WORDS = re.compile(rf"\b(?:{CHANGE_VERBS}|{OTHER_CHANGE_VERBS})\b", re.IGNORECASE)
# Where one write part of a request ends: "... to Atlanta and 5 V-210 from Dallas to Reno", "... + 5 v210 ...".
WRITE_BREAK = re.compile(r"\b(?:and then|and|also|as well as|plus|then)\b|[;,?+]", re.IGNORECASE)
COUNT = re.compile(r"(?<![\w./-])\d+(?![\w/.])")  # "10 V-200", "x 5"; not the 200 of V-200, not 3/4in
ROUTE_WORDS = re.compile(r"\b(?:from|to|into|for|ex|out of)\b|->|→", re.IGNORECASE)
DESTINATION_BEFORE = re.compile(r"(?:\b(?:to|into)\s+(?:the\s+)?|->\s*|→\s*)$", re.IGNORECASE)
WHAT = {"draft_sales_order": "order", "draft_transfer": "transfer", "draft_order_change": "order change"}


# -- what the request asks -------------------------------------------------------------------------------


def conditional(text: str) -> bool:
    """Whether the request makes its write depend on something: "if so", "only if", "provided", or a yes/no question
    the next words act on."""
    return CONDITIONAL.search(text) is not None or QUESTION_THEN.search(text) is not None


def only_asks(text: str) -> bool:
    """Whether the request is a question that asks for nothing to change: no draft can answer it."""
    return QUESTION.search(text) is not None and ANY_CHANGE_WORDS.search(text) is None


@dataclass(frozen=True)
class Condition:
    """A write the user made depend on stock: enough at the draft's source, or the source with more."""

    kind: Literal["enough", "more"]
    compared: tuple[str, ...] = ()  # the warehouses a comparison names (codes), the destination aside


def stock_condition(text: str, linked: Linked | None = None) -> Condition | None:
    """The stock condition a request puts on its write, or None (no write, no condition, or one on other things)."""
    if not CHANGE_WORDS.search(text):
        return None
    if COMPARISON.search(text):
        return Condition("more", compared=_warehouses_named(linked))
    if conditional(text) and STOCK_WORDS.search(text) and not OTHER_CONDITION_WORDS.search(text):
        return Condition("enough")
    return None


def _warehouses_named(linked: Linked | None) -> tuple[str, ...]:
    named = [m for m in linked.of(MentionKind.WAREHOUSE) if m.ids and not m.ambiguous] if linked else []
    return tuple(dict.fromkeys(m.ids[0] for m in named if not _is_destination(linked, m)))


def _is_destination(linked: Linked | None, mention: Mention) -> bool:
    return linked is not None and DESTINATION_BEFORE.search(linked.text[: mention.start]) is not None


def write_parts(text: str) -> list[str]:
    """The separate writes the request's words ask for, each with its own count: a part with a change word, and a
    later part that gives its count and route without one ("... and 5 V-210 from Dallas to Reno")."""
    parts = [p for p in WRITE_BREAK.split(text) if re.search(r"\w", p)]
    out, asked = [], False
    for part in parts:
        changes = CHANGE_WORDS.search(part) is not None
        if COUNT.search(part) and (changes or (asked and ROUTE_WORDS.search(part))):
            out.append(part.strip())
        asked = asked or changes
    return out


def uncovered_parts(text: str, drafted: Iterable[Any]) -> list[str]:
    """The write parts of a request none of whose counts a draft of the turn used (`drafted`: the drafts' arguments).
    One count used covers its part: a part's other numbers may be a date or a line ("5 V-200 on 12 Dec")."""
    used = {n for arguments in drafted for n in _whole_numbers(arguments)}
    return [p for p in write_parts(text) if not {int(n) for n in COUNT.findall(p)} & used]


def _whole_numbers(value: Any) -> Iterable[int]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [n for v in value for n in _whole_numbers(v)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


# -- what this turn's results show -------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """Stock a draft takes: this many of an item at a warehouse."""

    sku: str
    warehouse: str
    quantity: int
    kept: int = 0  # what an order line already holds of it there (shipped, reserved): not taken again

    def met_by(self, free: int) -> bool:
        return free + self.kept >= self.quantity


@dataclass(frozen=True)
class Shown:
    """What this turn's results show: available now by (SKU, warehouse) key, and order lines by (order, line)."""

    available: dict[tuple[str, str], int]
    lines: dict[tuple[str, int], dict[str, Any]]

    def free(self, sku: str, warehouse: str) -> int | None:
        return self.available.get((key(sku), key(warehouse)))


def shown(results: Iterable[Any]) -> Shown:
    """Available-to-promise rows and order lines in the turn's tool results (JSON), as the tools returned them."""
    available: dict[tuple[str, str], int] = {}
    lines: dict[tuple[str, int], dict[str, Any]] = {}
    for data in map(loaded, results):
        if isinstance(data.get("sku"), str) and isinstance(data.get("warehouses"), list):
            for row in (r for r in data["warehouses"] if isinstance(r, dict)):
                if isinstance(row.get("available_now"), int):
                    available[(key(data["sku"]), key(row.get("warehouse")))] = row["available_now"]
        if isinstance(data.get("order"), str) and isinstance(data.get("lines"), list):
            for line in (ln for ln in data["lines"] if isinstance(ln, dict) and isinstance(ln.get("line"), int)):
                lines[(key(data["order"]), line["line"])] = line
    return Shown(available, lines)


def loaded(content: Any) -> dict[str, Any]:
    """A tool result's JSON object ({} for anything else)."""
    try:
        data = json.loads(content) if isinstance(content, str) else content
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


Resolve = Callable[[str], str | None]  # a warehouse as a call writes it ("Reno", "rno") -> its code, if one
Says = Callable[[str], str]  # a warehouse code as the user wrote it ("RNO" -> "Reno")


def needs(name: str, arguments: dict[str, Any], seen: Shown, resolve: Resolve) -> list[Need] | None:
    """The stock a draft takes, by line; None when code cannot tell (no source, an order line not looked up)."""
    if name == "draft_order_change":
        return _order_change_needs(arguments, seen, resolve)
    lines = arguments.get("lines")
    if name not in WHAT or not isinstance(lines, list) or not all(isinstance(ln, dict) for ln in lines):
        return None
    out = []
    for line in lines:
        source = resolve(str(line.get("warehouse") or arguments.get("from_warehouse") or ""))
        quantity = line.get("quantity")
        if source is None or not isinstance(quantity, int) or not line.get("sku"):
            return None
        out.append(Need(str(line["sku"]), source, quantity))
    return _summed(out)


def _order_change_needs(arguments: dict[str, Any], seen: Shown, resolve: Resolve) -> list[Need] | None:
    """An order line moved to a warehouse needs its open quantity there; a raised line needs what it does not
    hold yet. The line is read from this turn's order status."""
    line_no = arguments.get("line_no")
    line = seen.lines.get((key(arguments.get("order_number") or ""), line_no)) if isinstance(line_no, int) else None
    if line is None:
        return None
    target = arguments.get("warehouse")
    source = resolve(str(target)) if target else resolve(str(line.get("warehouse") or ""))
    quantity = arguments.get("quantity") or line.get("quantity")
    if source is None or not isinstance(quantity, int):
        return None
    kept = int(line.get("shipped") or 0) + (0 if target else int(line.get("reserved") or 0))
    return [Need(str(line["sku"]), source, quantity, kept)]


def _summed(needs: list[Need]) -> list[Need]:
    """One need per item and warehouse: two lines of V-200 from Reno take both their counts from Reno."""
    total: dict[tuple[str, str], int] = {}
    for need in needs:
        total[(need.sku, need.warehouse)] = total.get((need.sku, need.warehouse), 0) + need.quantity
    return [Need(sku, warehouse, quantity) for (sku, warehouse), quantity in total.items()]


# -- the verdict on one draft ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A draft held by the condition: the refusal's code and its words (for the user when the condition fails)."""

    code: str
    message: str


def judge(
    condition: Condition,
    name: str,
    arguments: dict[str, Any],
    seen: Shown,
    resolve: Resolve,
    says: Says,
) -> Verdict | None:
    """Whether a draft may be made under the request's stock condition (None: it may, or code cannot tell).
    `says` names a warehouse code as the user wrote it ("RNO" -> "Reno")."""
    if name not in WHAT:
        return None
    wanted = needs(name, arguments, seen, resolve)
    if wanted is None:
        return _order_first(name, arguments, seen)
    if condition.kind == "more":
        return _judge_comparison(condition, name, wanted, seen, says)
    missing = [n for n in wanted if seen.free(n.sku, n.warehouse) is None]
    if missing:
        return _look_first(missing)
    short = [n for n in wanted if not n.met_by(seen.free(n.sku, n.warehouse) or 0)]
    return Verdict(CONDITION_NOT_MET, _not_enough(name, short, seen, says)) if short else None


def _order_first(name: str, arguments: dict[str, Any], seen: Shown) -> Verdict | None:
    """An order change whose line this turn has not read: the stock it needs is unknown, so the line comes first."""
    order = arguments.get("order_number")
    if name != "draft_order_change" or not order or (key(order), arguments.get("line_no")) in seen.lines:
        return None
    return Verdict(
        LOOK_FIRST,
        f"not run, look first: call get_order_status(order_number={order}) and check_availability for the line's "
        "item at the warehouse; draft the change only if the stock is enough (the user's condition).",
    )


def _judge_comparison(condition: Condition, name: str, wanted: list[Need], seen: Shown, says: Says) -> Verdict | None:
    if len(condition.compared) < 2:
        return None
    for sku in dict.fromkeys(n.sku for n in wanted):
        missing = [Need(sku, w, 0) for w in condition.compared if seen.free(sku, w) is None]
        if missing:
            return _look_first(missing)
        figures = sorted(((seen.free(sku, w) or 0, w) for w in condition.compared), reverse=True)
        if figures[0][0] == figures[1][0]:
            return None  # a tie: the comparison picks neither, and code does not guess
        source = next(n.warehouse for n in wanted if n.sku == sku)
        if key(source) != key(figures[0][1]):
            return Verdict(CONDITION_NOT_MET, _not_the_fuller(name, sku, source, figures, says))
    return None


def _look_first(missing: Sequence[Need]) -> Verdict:
    asks = ", ".join(f"check_availability(sku={n.sku}, warehouse={n.warehouse})" for n in missing)
    return Verdict(
        LOOK_FIRST,
        f"not run, look first: call {asks}; draft only if the result meets the user's condition on stock.",
    )


LOOK_UP_CALL = re.compile(r"\b([a-z_]+)\(((?:[a-z_]+=[^,()]+(?:,\s*)?)+)\)")


def asked_look_ups(messages: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """The look-ups code asked for when it sent the last round's every call back to look first ("call
    check_availability(sku=A-180, warehouse=DAL)"), as (tool, arguments); [] when the last round ran anything."""
    results = [m for m in since_user(messages) if m["role"] == "tool"]
    last = [m for m in since_user(messages) if m.get("tool_calls")][-1:]
    ids = {c.get("id") for m in last for c in m["tool_calls"]}
    answered = [loaded(m.get("content")) for m in results if m.get("tool_call_id") in ids]
    if not answered or any(a.get("error") != LOOK_FIRST for a in answered):
        return []
    found = [m for a in answered for m in LOOK_UP_CALL.finditer(str(a.get("message", "")))]
    calls = [(m.group(1), dict(_pair(p) for p in m.group(2).split(","))) for m in found]
    return list({json.dumps(c, sort_keys=True): c for c in calls}.values())


def _pair(written: str) -> tuple[str, str]:
    name, _, value = written.strip().partition("=")
    return name.strip(), value.strip()


def _not_enough(name: str, short: list[Need], seen: Shown, says: Says) -> str:
    figures = "; ".join(
        f"{says(n.warehouse)} has {seen.free(n.sku, n.warehouse)} {n.sku} free"
        + (f" and the line already holds {n.kept}" if n.kept else "")
        + f", fewer than the {n.quantity} needed"
        for n in short
    )
    return f"{figures}, so I did not draft the {WHAT[name]}."


def _not_the_fuller(name: str, sku: str, source: str, figures: list[tuple[int, str]], says: Says) -> str:
    listed = ", ".join(f"{says(w)} {n}" for n, w in figures)
    fuller = says(figures[0][1])
    return (
        f"{fuller} has more {sku} free ({listed}), so I did not draft the {WHAT[name]} from {says(source)}. "
        f"Shall I draft it from {fuller}?"
    )


# -- one transfer for two routes -------------------------------------------------------------------------------


def routes_split(linked: Linked | None, arguments: dict[str, Any], resolve: Resolve) -> Verdict | None:
    """A transfer call whose lines the user sent to different destinations ("10 V-200 ... to Atlanta and 5 V-210 ...
    to Reno"), read from the words: held, with the routes as the user gave them. None when the words do not say."""
    destinations = _destination_by_sku(linked)
    lines = arguments.get("lines")
    to = resolve(str(arguments.get("to_warehouse") or ""))
    if len(set(destinations.values())) < 2 or to is None or not isinstance(lines, list):
        return None
    elsewhere = [
        f"{ln.get('sku')} to {destinations[key(ln.get('sku'))]}"
        for ln in lines
        if isinstance(ln, dict) and destinations.get(key(ln.get("sku")), to) != to
    ]
    if not elsewhere:
        return None
    return Verdict(
        ONE_ROUTE_PER_TRANSFER,
        f"not run, one transfer per route: the user sent {', '.join(elsewhere)}, not to {to}. Draft each route "
        "with only its own lines.",
    )


def _destination_by_sku(linked: Linked | None) -> dict[str, str]:
    """Each item the message names, with the destination its own part of the message gives (when exactly one)."""
    if linked is None:
        return {}
    out: dict[str, str] = {}
    for start, end in _part_spans(linked.text):
        inside = [m for m in linked.mentions if start <= m.start < end]
        targets = {m.ids[0] for m in inside if m.kind == MentionKind.WAREHOUSE and m.ids and _is_destination(linked, m)}
        items = [m.ids[0] for m in inside if m.kind == MentionKind.ITEM and m.ids and not m.ambiguous]
        for sku in items if len(targets) == 1 else []:
            target = next(iter(targets))
            out[key(sku)] = target if out.get(key(sku), target) == target else ""  # sent two ways: the words do not say
    return {sku: target for sku, target in out.items() if target}


def _part_spans(text: str) -> list[tuple[int, int]]:
    cuts = [0, *(x for m in WRITE_BREAK.finditer(text) for x in (m.start(), m.end())), len(text)]
    return [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]


# -- the agent's entry point -------------------------------------------------------------------------------------


def from_the_fuller(
    calls: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]], linked: Linked | None, resolve: Resolve
) -> list[dict[str, Any]]:
    """The round's transfers sent from the warehouse the request's comparison picks, once this turn's results show
    it ("Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta": the user left the source
    to the figures, so code reads it from them; the 1.5B model drafted Dallas to Reno). The destination is the one
    warehouse the words send stock to, when the call named a compared one or none. A tie, an item not looked up
    at every compared warehouse, or another draft: the call as it was (`judge` then holds what it must)."""
    condition = stock_condition(linked.text, linked) if linked is not None else None
    if linked is None or condition is None or condition.kind != "more" or len(condition.compared) < 2:
        return list(calls)
    seen = shown(m.get("content") for m in since_user(messages) if m["role"] == "tool")
    return [_from_the_fuller(call, condition.compared, seen, linked, resolve) for call in calls]


def _from_the_fuller(
    call: dict[str, Any], compared: tuple[str, ...], seen: Shown, linked: Linked, resolve: Resolve
) -> dict[str, Any]:
    arguments = loaded(call["function"]["arguments"])
    skus = {str(ln.get("sku")) for ln in arguments.get("lines") or [] if isinstance(ln, dict) and ln.get("sku")}
    if call["function"]["name"] != "draft_transfer" or len(skus) != 1:
        return call
    free = {w: seen.free(next(iter(skus)), w) for w in compared}
    figures = sorted((f for f in free.values() if f is not None), reverse=True)
    if len(figures) < len(compared) or figures[0] == figures[1]:
        return call
    aimed = {**arguments, "from_warehouse": next(w for w, f in free.items() if f == figures[0])}
    sent_to = _sent_to(linked, compared)
    destination = resolve(str(arguments.get("to_warehouse") or ""))
    if sent_to is not None and (destination is None or key(destination) in {key(w) for w in compared}):
        aimed["to_warehouse"] = sent_to
    return {**call, "function": {**call["function"], "arguments": json.dumps(aimed)}}


def _sent_to(linked: Linked, compared: tuple[str, ...]) -> str | None:
    """The one warehouse, not among those compared, that the words send stock to ("to Atlanta"), or None."""
    named = {key(w) for w in compared}
    to = {
        m.ids[0]
        for m in linked.of(MentionKind.WAREHOUSE)
        if m.ids and key(m.ids[0]) not in named and direction_written(linked, m) == "to"
    }
    return to.pop() if len(to) == 1 else None


def guard_calls(
    calls: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]], linked: Linked | None, resolve: Resolve
) -> dict[str, Verdict]:
    """The draft calls of this round held by the request's stock condition or its routes, by call id."""
    text = linked.text if linked is not None else last_request(messages)
    condition = stock_condition(text, linked)
    seen = shown(m.get("content") for m in since_user(messages) if m["role"] == "tool")
    held: dict[str, Verdict] = {}
    for call in calls:
        name, arguments = call["function"]["name"], loaded(call["function"]["arguments"])
        verdict = judge(condition, name, arguments, seen, resolve, _says(linked)) if condition else None
        if verdict is None and name == "draft_transfer":
            verdict = routes_split(linked, arguments, resolve)
        if verdict is not None:
            held[call["id"]] = verdict
    return held


def _says(linked: Linked | None) -> Callable[[str], str]:
    """A warehouse code as the user's message wrote it ("RNO" -> "Reno"), or the code."""
    written = {m.ids[0]: m.text for m in (linked.of(MentionKind.WAREHOUSE) if linked else []) if m.ids}
    return lambda code: written.get(code, code)


def since_user(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages after the user's last one."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    return list(messages[users[-1] + 1 :]) if users else []


def last_request(messages: Sequence[dict[str, Any]]) -> str:
    """The user's last message."""
    users = [m for m in messages if m["role"] == "user"]
    return str(users[-1].get("content") or "") if users else ""


# -- what this turn drafted ---------------------------------------------------------------------------------


def previewed_calls(messages: Sequence[dict[str, Any]]) -> list[Any]:
    """The arguments of each call since the user spoke whose result is a draft's preview."""
    previews = {m.get("tool_call_id") for m in since_user(messages) if m["role"] == "tool" and _is_preview(m)}
    return [
        loaded((call.get("function") or {}).get("arguments"))
        for message in since_user(messages)
        for call in message.get("tool_calls") or []
        if call.get("id") in previews
    ]


def _is_preview(message: dict[str, Any]) -> bool:
    data = loaded(message.get("content"))
    return isinstance(data.get("draft"), str) and "status" in data


def writes_left(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether the request names another write (a count, with its route or item) that no preview of this turn used:
    "move 10 V-200 to Atlanta and 5 V-210 to Reno" is not done after the first transfer."""
    return bool(uncovered_parts(last_request(messages), previewed_calls(messages)))

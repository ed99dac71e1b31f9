"""A user correcting the previous turn's preview: which previews it corrects, and the simple ones code redoes.

"No, 15", "from Dallas instead", "Sorry, it's for BRAZOSPL", "drop the second line", "I meant V-210, not the
gloves": a small model often fumbles these, yet each is one value of the call that made the preview. When the
previous turn left exactly one live preview and the message changes values code can read without doubt (through
the entity linker), code makes the same draft call again with them changed; the call then takes the model's path
(the argument check, the tool node, the turn's steps). Anything less certain (two new numbers, an ambiguous name,
a line it cannot pick out, another item on a preview of several lines, a date) is the model's, as before.

Either way, the previews the message corrects are named to the core (`RequestContext.restates`), which
supersedes them when the turn drafts again: a correction that changes the subject ("the other way round", another
customer) must not leave the old preview confirmable.
"""

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel

from core.masterdata.mentions import Linked, Mention, MentionKind
from tools.registry import Registry, Tool

Message = dict[str, Any]
Arguments = dict[str, Any]
MAX_WORDS = 12  # a correction is short; a longer message is a new request, or one for the model to read
# Words that say the message corrects what came before ("no", "sorry", "actually", "make it", "instead", ...).
CORRECTING = re.compile(
    r"\b(?:no|nope|sorry|actually|wait|oops|instead|rather|mistake|wrong|meant|backwards|my bad|make (?:it|that)"
    r"|change (?:it|that|to)|other (?:way|direction)|reverse|swap|not|take\b[^.?!]{0,40}\boff)\b",
    re.IGNORECASE,
)
DROPPING = re.compile(r"\b(?:drop|remove|delete|take out|leave out|cut)\b", re.IGNORECASE)
KEEPING = re.compile(r"\b(?:just|only|keep|but)\b", re.IGNORECASE)  # "drop all but the first": which is kept?
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "last": -1}
_LINE = re.compile(r"\b(first|1st|second|2nd|third|3rd|fourth|4th|last)\b|\bline\s*(\d+)\b", re.IGNORECASE)
_TOWARDS = re.compile(r"\b(from|to|into)\s+(?:the\s+)?$", re.IGNORECASE)
# The words right before what the message says is replaced: "15, not 10", "V-210 instead of the S-100".
_REPLACED = re.compile(
    r"\b(?:not|instead\s+of|rather\s+than|in\s+place\s+of)\s+(?:(?:the|those|these|that|this)\s+)?$", re.IGNORECASE
)
# What a value correction may name besides the value it changes; anything else (a date, an order) is the model's
# to read, and an item takes its own path (`_with_item`).
VALUE_KINDS = frozenset({MentionKind.QUANTITY, MentionKind.WAREHOUSE, MentionKind.CUSTOMER, MentionKind.SUPPLIER})
ITEM_KINDS = frozenset({MentionKind.ITEM, MentionKind.QUANTITY})  # what another item may come with: its count
# What a line keeps when its item changes; anything else given on it (a cost, a discount, another document's line
# number) was the old item's.
LINE_KEEPS = frozenset({"sku", "quantity", "warehouse"})


class Unreadable(Exception):
    """The message gives a value code cannot place with certainty: the model reads it."""


@dataclass(frozen=True)
class Preview:
    """A preview the previous turn's draft tool made: the tool, its arguments, the draft."""

    tool: str
    arguments: Arguments
    draft: str


@dataclass(frozen=True)
class Correction:
    """What a message corrects: the previews it restates, and the call code makes again (None: the model's)."""

    restates: tuple[str, ...] = ()
    tool: str | None = None
    arguments: Arguments | None = None


def correction_of(
    messages: list[Message],
    linked: Linked,
    registry: Registry,
    live: Callable[[str], bool],
    ran: dict[str, dict[str, Any]] | None = None,
) -> Correction:
    """What `linked`, the new message, corrects of the previous turn in `messages` (the stored conversation);
    `live` says whether a draft is still an unconfirmed preview; `ran`, the calls as they ran, by call id."""
    if not corrects(linked.text):
        return Correction()
    previews = [p for p in previous_previews(messages, registry, ran) if live(p.draft)]
    restates = tuple(p.draft for p in previews)
    if len(previews) != 1:
        return Correction(restates)
    (preview,) = previews
    try:
        arguments = corrected(preview.arguments, registry.tools[preview.tool], linked)
    except Unreadable:
        return Correction(restates)
    return Correction(restates, preview.tool, arguments)


def corrects(text: str) -> bool:
    """Whether the message reads as a correction of what came before."""
    return bool(CORRECTING.search(text) or DROPPING.search(text))


def previous_previews(
    messages: list[Message], registry: Registry, ran: dict[str, dict[str, Any]] | None = None
) -> list[Preview]:
    """The unconfirmed previews the last turn's draft tools returned, in call order: each call as it ran (`ran`,
    by call id: the tool and arguments code re-routed or filled), else as the model made it."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    last_turn = messages[users[-1] :] if users else []
    calls = {
        c["id"]: (ran or {}).get(c["id"], c["function"])
        for m in last_turn
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
    }
    previews = []
    for message in last_turn:
        function = calls.get(message.get("tool_call_id", "")) if message["role"] == "tool" else None
        tool = registry.tools.get(function["name"]) if function else None
        result, arguments = _json(message.get("content")), _json(function["arguments"]) if function else None
        if tool and tool.writes and arguments and result and result.get("status") == "unconfirmed":
            previews.append(Preview(tool.name, arguments, str(result.get("draft"))))
    return previews


def corrected(arguments: Arguments, tool: Tool, linked: Linked) -> Arguments:
    """The call's arguments with the values the message changes; Unreadable when code cannot be sure."""
    words = re.findall(r"\S*\w\S*", linked.text)  # "V-210" and "1/2in" are one word each
    if len(words) > MAX_WORDS or "?" in linked.text:
        raise Unreadable("not a short correction")
    if DROPPING.search(linked.text):
        return _without_line(arguments, linked)
    if linked.of(MentionKind.ITEM):
        return _with_item(arguments, tool, linked)
    if any(m.kind not in VALUE_KINDS for m in linked.mentions):
        raise Unreadable("names something other than a count, a warehouse or a party")
    changed = copy.deepcopy(arguments)
    readers = (_count, _warehouse, _party)
    if not any([reader(changed, tool, linked) for reader in readers]):
        raise Unreadable("no value code can read")
    return changed


def _count(arguments: Arguments, tool: Tool, linked: Linked) -> bool:
    """A new count ("No, 15", "make it 30", "fifteen, not twenty"): the call's own count (an order change's), or
    the only line of the SKU it names."""
    said = _counts(linked)
    if said is None:
        return False
    count, replaced = said
    if "quantity" in tool.args.model_fields:
        holders = [arguments] if arguments.get("quantity") is not None else []  # it changed something else
    else:
        holders = [ln for ln in _lines(arguments) if count.of_sku is None or ln.get("sku") == count.of_sku]
    _replacing(holders, replaced)
    return _set(holders, "quantity", count.number)


def _counts(linked: Linked) -> tuple[Mention, set[int]] | None:
    """The message's one new count and the counts it writes as replaced ("fifteen, not twenty": 15, {20}); None
    when it gives no count; Unreadable when two counts are new."""
    counts = [m for m in linked.of(MentionKind.QUANTITY) if m.number is not None]
    if not counts:
        return None
    new = [m for m in counts if not _replaced(linked, m)]
    if len(new) != 1:
        raise Unreadable("no single new count")
    return new[0], {m.number for m in counts if m is not new[0] and m.number is not None}


def _replacing(holders: list[Arguments], replaced: set[int]) -> None:
    """A count written as replaced must be the one count the correction changes ("15 not 10" of a 10)."""
    if replaced and (len(holders) != 1 or replaced != {holders[0].get("quantity")}):
        raise Unreadable("the count replaced is not the preview's")


def _warehouse(arguments: Arguments, tool: Tool, linked: Linked) -> bool:
    """A new warehouse ("ship it from Reno"): the call's only one, or the transfer's ends the message says."""
    fields = tool.args.model_fields
    if "from_warehouse" in fields and linked.of(MentionKind.WAREHOUSE):
        return _ends(arguments, linked)
    mention = _one(linked, MentionKind.WAREHOUSE)
    if mention is None:
        return False
    code = mention.ids[0]
    if "warehouse" in fields:
        _replaces([arguments], "warehouse", linked, MentionKind.WAREHOUSE)
        return _set([arguments], "warehouse", code)
    if "warehouse" in _line_fields(tool):
        lines = _lines(arguments)
        if len({str(ln.get("warehouse")) for ln in lines}) != 1:
            raise Unreadable("lines ship from different warehouses")
        _replaces(lines, "warehouse", linked, MentionKind.WAREHOUSE)
        return _set(lines, "warehouse", code)
    raise Unreadable("the call has no warehouse")


def _ends(arguments: Arguments, linked: Linked) -> bool:
    """A transfer's new end(s), each named after "from" or "to" ("from Dallas instead", "from MAN to BHM")."""
    ends: dict[str, str] = {}
    for mention in linked.of(MentionKind.WAREHOUSE):
        towards = _TOWARDS.search(linked.text[: mention.start])
        if towards is None or mention.ambiguous or not mention.ids:
            raise Unreadable("which end of the transfer")
        end = "from_warehouse" if towards.group(1).lower() == "from" else "to_warehouse"
        if ends.get(end, mention.ids[0]) != mention.ids[0]:
            raise Unreadable(f"two warehouses for {end}")
        ends[end] = mention.ids[0]
    moved = {**arguments, **ends}
    if _same(moved["from_warehouse"], moved["to_warehouse"]):
        raise Unreadable("both ends the same")
    if all(_same(arguments.get(end), code) for end, code in ends.items()):
        raise Unreadable("the transfer goes there already")
    arguments.update(ends)
    return True


def _party(arguments: Arguments, tool: Tool, linked: Linked) -> bool:
    """Another customer or supplier ("Sorry, it's for BRAZOSPL")."""
    customer, supplier = _one(linked, MentionKind.CUSTOMER), _one(linked, MentionKind.SUPPLIER)
    if customer and supplier:
        raise Unreadable("a customer and a supplier")
    mention, field = (customer, "customer") if customer else (supplier, "supplier")
    if mention is None:
        return False
    if field not in tool.args.model_fields:
        raise Unreadable(f"the call has no {field}")
    _replaces([arguments], field, linked, mention.kind)
    return _set([arguments], field, mention.ids[0])


def _with_item(arguments: Arguments, tool: Tool, linked: Linked) -> Arguments:
    """Another item on the call's only line ("I meant V-210, not the gloves"): the line keeps its count unless the
    message gives one for the new item."""
    if any(m.kind not in ITEM_KINDS for m in linked.mentions):
        raise Unreadable("names more than an item and its count")
    changed = copy.deepcopy(arguments)
    lines = _lines(changed)
    if "sku" not in _line_fields(tool) or len(lines) != 1:
        raise Unreadable("no single line whose item to change")
    (line,) = lines
    if any(_given(value) for field, value in line.items() if field not in LINE_KEEPS):
        raise Unreadable("the line holds more than an item and its count")
    line["sku"] = _other_item(str(line.get("sku") or ""), linked)
    said = _counts(linked)
    if said is not None:
        count, replaced = said
        if count.of_sku not in (None, line["sku"]):
            raise Unreadable("a count of another item")
        _replacing([line], replaced)
        line["quantity"] = count.number
    return changed


def _other_item(old: str, linked: Linked) -> str:
    """The one item the message names in place of `old`; any other item it names must be `old` written as the one
    replaced ("not the S-100", or "not the gloves" when the linker reads gloves, as one item or as several)."""
    items = linked.of(MentionKind.ITEM)
    new = {m.ids[0] for m in items if len(m.ids) == 1 and not _same(m.ids[0], old)}
    if len(new) != 1:
        raise Unreadable("no single other item")
    for item in items:
        if set(item.ids) == new:
            if _replaced(linked, item):
                raise Unreadable("the new item is written as the one replaced")
        elif not (_replaced(linked, item) and any(_same(old, key) for key in (*item.ids, *item.candidates))):
            raise Unreadable("an item that is neither the new one nor the one replaced")
    return new.pop()


def _replaced(linked: Linked, mention: Mention) -> bool:
    """Whether the message writes `mention` as what it replaces ("not 20", "instead of the S-100")."""
    return _REPLACED.search(linked.text[: mention.start]) is not None


def _without_line(arguments: Arguments, linked: Linked) -> Arguments:
    """The call without the one line the message names ("drop the second line", "remove the V-200 line")."""
    if KEEPING.search(linked.text):
        raise Unreadable("a line named to keep, not to drop")
    lines = _lines(arguments)
    if len(lines) < 2:
        raise Unreadable("no line to drop")
    picked = _lines_named(lines, linked)
    if len(picked) != 1:
        raise Unreadable("which line")
    return {**arguments, "lines": [ln for i, ln in enumerate(lines) if i not in picked]}


def _lines_named(lines: list[Arguments], linked: Linked) -> set[int]:
    """The indexes of the lines the message names, by place ("the second", "line 2") or by item."""
    named: set[int] = set()
    for match in _LINE.finditer(linked.text):
        place = ORDINALS[match.group(1).lower()] if match.group(1) else int(match.group(2)) - 1
        if -len(lines) <= place < len(lines):
            named.add(place % len(lines))
        else:
            raise Unreadable("no such line")
    for item in linked.of(MentionKind.ITEM):
        if item.ambiguous or not item.ids:
            raise Unreadable("an item code cannot place")
        named |= {i for i, ln in enumerate(lines) if _same(ln.get("sku"), item.ids[0])}
    return named


def _one(linked: Linked, kind: MentionKind) -> Mention | None:
    """The message's one certain mention of `kind`, less those it writes as replaced ("ATL not DAL": ATL);
    Unreadable when several, ambiguous or not found."""
    found = [m for m in linked.of(kind) if not _replaced(linked, m)]
    if not found:
        return None
    if len({m.ids for m in found}) > 1 or any(m.ambiguous or not m.ids for m in found):
        raise Unreadable(f"no single {kind.value}")
    return found[0]


def _replaces(holders: list[Arguments], field: str, linked: Linked, kind: MentionKind) -> None:
    """What the message writes as replaced ("not DAL") must be what the preview has: else it corrects another one."""
    replaced = {i for m in linked.of(kind) if _replaced(linked, m) for i in m.ids}
    if replaced and any(str(h.get(field)) not in replaced for h in holders):
        raise Unreadable(f"the {field} replaced is not the preview's")


def _set(holders: list[Arguments], field: str, value: object) -> bool:
    """Set the holders' field to a new value; Unreadable when there is no single place or nothing would change."""
    if not holders:
        raise Unreadable(f"no {field} to change")
    if all(_same(h.get(field), value) for h in holders):
        raise Unreadable(f"the {field} is {value} already")
    if field == "quantity" and len(holders) != 1:
        raise Unreadable("which line's count")
    for holder in holders:
        holder[field] = value
    return True


def _lines(arguments: Arguments) -> list[Arguments]:
    lines = arguments.get("lines")
    return [ln for ln in lines if isinstance(ln, dict)] if isinstance(lines, list) else []


def _line_fields(tool: Tool) -> set[str]:
    field = tool.args.model_fields.get("lines")
    models = [a for a in get_args(field.annotation) if isinstance(a, type)] if field else []
    return {name for m in models if issubclass(m, BaseModel) for name in m.model_fields}


def _given(value: object) -> bool:
    """Whether an argument holds a value of its own, not a default left empty or zero."""
    return value not in (None, "", False) and str(value).strip() not in ("0", "0.0", "0.00")


def _same(value: object, code: object) -> bool:
    return str(value or "").strip().casefold() == str(code).strip().casefold()


def _json(text: object) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None

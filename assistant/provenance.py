"""Where a tool call's arguments came from, checked before the tool runs: never a guessed argument.

A small model fills arguments the user never gave (a quantity of 1, `warehouse="NA"`, today's date) and
invents record numbers; the core's gate judges such a write correctly but cannot know it was misread. So,
for each argument the tool's schema marks as a SKU, a count, a warehouse, a customer, a document number,
a date … (the rules are data: `ROLES` by field name, `format: date`, and the schema's `required`):

- a value that names a record of another kind (a case, order or draft number as a SKU, an entity code as a
  warehouse) is not given, whoever wrote it; nor is an item's description as its SKU ("brass valve");
- an optional value the conversation does not support is dropped before the call (and not shown), an optional
  choice among the schema's values (a case's `type`, a `status`) included: kept only when the user's words say it
  ("shortages" says `shortage`, "open" says `open`; the schema may give other words, `SAID_AS`) or a tool returned
  it. A choice with a default of its own (a `view`) is no filter: left out it is not "all" but another view;
- a required value of a write the model left out (or gave unsupported or of the wrong kind) is filled from the
  current message when its words give it without doubt: the count written with the line's SKU ("10 V-210",
  "5 x V-200", "forty V-200"), the only item, the only customer or supplier (not an ambiguous name), the only
  warehouse (a transfer's side only when the words say the direction: "from Dallas", "to Atlanta"). A line's
  warehouse (a line of an item the message names; every line when it names none: "ship it from Reno") is the
  only one the message names, when the line has none or one the message did not name; with several it could
  ship from and a line without one, the user is asked. Filled values are ordinary arguments, shown in the
  preview. Two counts for one item, two warehouses for one slot, an ambiguous name: asked, never guessed (a
  name with doubt is asked by name: "Which customer do you mean by 'Brazos'");
- otherwise a required value of a write the user never gave is not guessed: the call is not made, and the user
  gets a question rendered by code, with the candidates (the stock each warehouse has, the customers a name
  could be, the open cases or the items their words could mean: `assistant.candidates`); the question never
  repeats a value that was not given;
- a record a read tool is asked about must come from the conversation: an invented one is refused, but an item
  the user described and did not name ("the Dallas stock of the brass valve") is asked which, with the items;
- line counts are the user's: "5 x V-200" is one line of 5, not two lines of 5.

Before that, a draft call the model sent to the wrong tool is made as the tool the request asks for
(`assistant.reroutes`). Support is the user's messages, what their words resolved to (`assistant.linking`) and
earlier tool results.
"""

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from assistant.candidates import Candidates, candidates_for
from assistant.conditions import LOOK_FIRST
from assistant.linking import LINE_NUMBER, Evidence, evidence_of, key, says_in, words_of
from assistant.reroutes import rerouted, returned_this_turn
from assistant.tool_offer import DOCUMENT_FIELDS, document_of
from core import clock
from core.actor import Actor
from core.db import Database
from core.drafts.base import SAID_AS
from core.errors import ErpError
from core.masterdata.mentions import (
    Linked,
    Mention,
    MentionKind,
    direction_written,
    link_mentions,
    warehouses_written,
)
from core.stock.service import available_to_promise
from tools.outcome import ToolError, ToolOutcome
from tools.registry import Registry, Tool

NEEDS_CLARIFICATION = "needs_clarification"
NOT_GIVEN = "not_given"


class Role(StrEnum):
    """What an argument names, which decides what supports it."""

    ITEM = "item"
    COUNT = "count"
    NUMBER = "number"
    WAREHOUSE = "warehouse"
    PARTY = "party"
    ENTITY = "entity"
    DOCUMENT = "document"
    DATE = "date"
    NAMED = "named"  # any other name the user must have given (an assignee, a customer's reference)
    CHOICE = "choice"  # an optional filter among the schema's values, which the user's words must say ("shortages")


# The rules, by field name (a date is any field of format `date`); fields not listed are the model's to choose.
ROLES = {
    "sku": Role.ITEM,
    "quantity": Role.COUNT,
    "warehouse": Role.WAREHOUSE,
    "from_warehouse": Role.WAREHOUSE,
    "to_warehouse": Role.WAREHOUSE,
    "customer": Role.PARTY,
    "supplier": Role.PARTY,
    "entity": Role.ENTITY,
    "order_number": Role.DOCUMENT,
    "draft_number": Role.DOCUMENT,
    "case_number": Role.DOCUMENT,
    "shipment_number": Role.DOCUMENT,
    "po_number": Role.DOCUMENT,
    "transfer_number": Role.DOCUMENT,
    "rma_number": Role.DOCUMENT,
    "invoice_number": Role.DOCUMENT,
    "payment_number": Role.DOCUMENT,
    "invoice": Role.DOCUMENT,
    "line_no": Role.NUMBER,
    "packages": Role.NUMBER,
    "weight_kg": Role.NUMBER,
    "discount_pct": Role.NUMBER,
    "unit_cost": Role.NUMBER,
    "unit_price": Role.NUMBER,
    "amount": Role.NUMBER,
    "cost": Role.NUMBER,  # a master-data change's figures: the user's, never the model's
    "price": Role.NUMBER,
    "credit_limit": Role.NUMBER,
    "terms_days": Role.NUMBER,
    "lead_time_days": Role.NUMBER,
    "assignee": Role.NAMED,
    "customer_reference": Role.NAMED,
    "supplier_ref": Role.NAMED,
    "carrier": Role.NAMED,
    "service_level": Role.NAMED,
    "tracking_number": Role.NAMED,
    "bank_reference": Role.NAMED,
    "counted": Role.COUNT,
    "limit": Role.COUNT,  # how many rows a list or search shows: the user's "top 3", never the model's 1
}
# The kinds of record each role names: a value that names only records of another kind (a case number as a SKU,
# an entity code as a warehouse) is not given.
KINDS = {
    Role.ITEM: frozenset({MentionKind.ITEM}),
    Role.WAREHOUSE: frozenset({MentionKind.WAREHOUSE}),
    Role.PARTY: frozenset({MentionKind.CUSTOMER, MentionKind.SUPPLIER}),
    Role.ENTITY: frozenset({MentionKind.ENTITY}),
    Role.DOCUMENT: frozenset({MentionKind.DOCUMENT}),
}
# Warehouse fields with a direction: filled from the user's words only when the words say it ("from Dallas").
DIRECTIONS = {"from_warehouse": "from", "to_warehouse": "to"}
# How a question asks for each missing value, by field name.
ASKS = {
    "sku": "which item (SKU)",
    "from_warehouse": "from which warehouse",
    "to_warehouse": "to which warehouse",
    "warehouse": "which warehouse",
    "customer": "for which customer",
    "supplier": "from which supplier",
    "order_number": "which order (e.g. SO-1042)",
    "draft_number": "which draft (e.g. DR-7)",
    "case_number": "which case (e.g. EX-12)",
    "shipment_number": "which shipment (e.g. SH-31)",
    "po_number": "which purchase order (e.g. PO-77)",
    "transfer_number": "which transfer (e.g. TR-12)",
    "rma_number": "which return (e.g. RMA-7)",
    "payment_number": "which payment (e.g. PAY-12)",
    "line_no": "which line",
    "quantity": "how many",
    "counted": "how many were counted",
}


@dataclass(frozen=True)
class Rule:
    """One argument the check looks at: its path ("lines.*.quantity"), what it names, whether it is required, and
    for a choice the other words that say each value (the schema's `SAID_AS`: "missing" says shrinkage)."""

    path: tuple[str, ...]
    role: Role
    required: bool
    words: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def name(self) -> str:
        return self.path[-1]

    def said_as(self, value: Any) -> tuple[str, ...]:
        return dict(self.words).get(str(value), ())


@cache
@cache
def rules_for(tool: Tool) -> tuple[Rule, ...]:
    """The checked arguments of a tool, read from its JSON schema (nested lines included)."""
    schema = tool.args.model_json_schema()
    return tuple(_rules(schema, schema.get("$defs", {}), ()))


def _rules(schema: dict[str, Any], defs: dict[str, Any], prefix: tuple[str, ...]) -> Iterator[Rule]:
    required = set(schema.get("required", []))
    for name, field_spec in schema.get("properties", {}).items():
        spec = _resolved(_not_null(field_spec), defs)
        items = _resolved(spec.get("items", {}), defs)
        if spec.get("type") == "array" and "properties" in items:
            yield from _rules(items, defs, (*prefix, name, "*"))
            continue
        if _is_filter(field_spec, spec, name in required):
            yield Rule((*prefix, name), Role.CHOICE, False, _said_as(field_spec, spec))
            continue
        role = Role.DATE if _is_date(spec) else ROLES.get(name)
        if role is not None:
            yield Rule((*prefix, name), role, name in required)


def _is_filter(field_spec: dict[str, Any], spec: dict[str, Any], required: bool) -> bool:
    """An optional choice among the schema's values that, left out, means none was made (a case list's `type`,
    `status`): not a required one (never dropped), nor one with a default of its own (a `view`: left out, another
    view is shown, not a wider one), nor a boolean (no enum)."""
    return not required and "enum" in spec and field_spec.get("default") is None


def _said_as(field_spec: dict[str, Any], spec: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The other words the schema gives for a choice's values, on the field or on its enum."""
    words = {**spec.get(SAID_AS, {}), **field_spec.get(SAID_AS, {})}
    return tuple((str(value), tuple(said)) for value, said in words.items())


def _not_null(spec: dict[str, Any]) -> dict[str, Any]:
    """An optional field's one non-null branch (an optional list of lines is checked line by line like any list:
    a shipment's `lines: [{line_no: 1, quantity: 1}]` nobody asked for is no count of 1)."""
    branches = [b for b in spec.get("anyOf", []) if b != {"type": "null"}]
    return branches[0] if len(branches) == 1 and len(spec["anyOf"]) == 2 else spec


def _resolved(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = spec.get("$ref")
    return dict(defs[ref.rsplit("/", 1)[-1]]) if isinstance(ref, str) else spec


def _is_date(spec: dict[str, Any]) -> bool:
    return spec.get("format") == "date" or any(b.get("format") == "date" for b in spec.get("anyOf", []))


@dataclass(frozen=True)
class Gap:
    """A required value of a write the user never gave: asked for, never guessed."""

    path: str
    name: str
    sku: str | None = None  # the line's item, when a line's count is missing


@dataclass(frozen=True)
class Vetted:
    """A call after the check: the arguments to run it with, or why it is held (a question, a refusal)."""

    arguments: dict[str, Any]
    dropped: tuple[str, ...] = ()
    corrected: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()
    gaps: tuple[Gap, ...] = ()
    unclear: tuple[Mention, ...] = ()
    invented: tuple[str, ...] = ()
    unnamed_items: tuple[str, ...] = ()  # a read's invented SKUs (paths): asked which when the words describe items

    @property
    def asks(self) -> bool:
        """The user must answer a question before this call can run."""
        return bool(self.gaps or self.unclear)


def vet(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> Vetted:
    """The call's arguments held against the conversation (see the module's rules)."""
    cleaned = copy.deepcopy(arguments)
    filled = fill_from_words(tool, cleaned, evidence) if tool.writes else []
    filled += _reason_from_words(tool, cleaned, evidence) if tool.writes else []
    filled += _unit_amount_from_words(tool, cleaned, evidence) if tool.writes else []
    filled += _choice_from_words(tool, cleaned, evidence)  # a read's view too: "group revenue" is the group view
    filled += _money_from_words(tool, cleaned, evidence) if tool.writes else []
    filled += _line_count_from_words(tool, cleaned, evidence) if tool.writes else []
    corrected = _user_counts(tool, cleaned, evidence) if tool.writes else []
    corrected += _sides_as_written(tool, cleaned, evidence) if tool.writes else []
    dropped: list[str] = _invented_lines(tool, cleaned, evidence)
    gaps: list[Gap] = []
    unclear: dict[str, Mention] = {}
    invented: list[str] = []
    unnamed_items: list[str] = []

    def ask(rule: Rule, path: str, holder: dict[str, Any], name: str) -> None:
        doubt = _named_with_doubt(rule, evidence)  # "for Brazos", not "for which customer?"
        if doubt is not None:
            unclear[doubt.text] = doubt
        else:
            gaps.append(Gap(path, name, sku=_line_sku(holder, name)))

    for rule in rules_for(tool):
        for path, holder, name in _places(cleaned, rule.path):
            value = holder.get(name)
            if value is None:
                if rule.required and tool.writes and name in ASKS:
                    ask(rule, path, holder, name)
                continue
            mention = evidence.ambiguity(value) if rule.role in (Role.PARTY, Role.ITEM, Role.WAREHOUSE) else None
            if mention is None and tool.writes and rule.role == Role.PARTY:
                mention = _other_than_named(value, rule, evidence)
            if mention is not None:
                unclear[mention.text] = mention
            elif not _holds(rule, value, evidence):
                if not rule.required:
                    del holder[name]
                    dropped.append(path)
                elif tool.writes:
                    del holder[name]  # held for a question, which must not repeat it ("how many EX-1?")
                    ask(rule, path, holder, name)
                else:
                    invented.append(f"{name}={value}")
                    unnamed_items += [path] if rule.role == Role.ITEM else []
        gaps += _unplaced_lines(tool, rule, cleaned, evidence)
    return Vetted(
        cleaned,
        tuple(dropped),
        tuple(corrected),
        tuple(filled),
        tuple(gaps),
        tuple(unclear.values()),
        tuple(invented),
        tuple(unnamed_items),
    )


@cache
def _optional_lists(tool: Tool) -> frozenset[str]:
    """The tool's optional lists of lines (a shipment's `lines`: left out, the whole order ships)."""
    schema = tool.args.model_json_schema()
    required = set(schema.get("required", []))
    return frozenset(
        name
        for name, spec in schema.get("properties", {}).items()
        if name not in required and _not_null(spec).get("type") == "array"
    )


def _invented_lines(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """Drop an optional list whose every line is made of values the conversation never gave (`lines: [{line_no: 1,
    quantity: 1}]` for "ship SO-2254"): the call means what the user asked, the tool's default for no lines."""
    dropped = []
    for name in _optional_lists(tool):
        lines = arguments.get(name)
        if not isinstance(lines, list) or not lines:
            continue
        rules = [r for r in rules_for(tool) if r.path[:2] == (name, "*")]
        if rules and all(_all_invented(line, rules, evidence) for line in lines):
            del arguments[name]
            dropped.append(name)
    return dropped


def _all_invented(line: Any, rules: list[Rule], evidence: Evidence) -> bool:
    """Every value of the line is one the rules check, and none of them is supported."""
    if not isinstance(line, dict):
        return False
    checked = {r.name: r for r in rules}
    given = {k: v for k, v in line.items() if v is not None}
    return set(given) <= set(checked) and not any(_holds(checked[k], v, evidence) for k, v in given.items())


def _other_than_named(value: Any, rule: Rule, evidence: Evidence) -> Mention | None:
    """The message's one ambiguous mention of this party's kind when the value is none of what it could be: "Order 5
    S-100 for Tuas" names four customers, not the one an earlier result returned (the 1.5B model took an old order's
    customer)."""
    doubt = _named_with_doubt(rule, evidence)
    if doubt is None or not str(value).split():
        return None
    could_be = {key(c) for c in (*doubt.ids, *doubt.candidates)}
    return None if key(str(value).split()[0]) in could_be else doubt


def _named_with_doubt(rule: Rule, evidence: Evidence) -> Mention | None:
    """The current message's one ambiguous mention of this argument's kind ("Brazos" for a customer), if any."""
    kinds = {MentionKind(rule.name)} if rule.name in tuple(MentionKind) else KINDS.get(rule.role, frozenset())
    found = [m for m in evidence.current.mentions if m.ambiguous and m.kind in kinds] if evidence.current else []
    return found[0] if len(found) == 1 else None


def _places(arguments: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each (dotted path, the dict holding the field, the field's name) a rule's path reaches."""
    holders: list[tuple[str, Any]] = [("", arguments)]
    for part in path[:-1]:
        reached: list[tuple[str, Any]] = []
        for where, node in holders:
            if part == "*" and isinstance(node, list):
                reached += [(f"{where}.{i}", v) for i, v in enumerate(node)]
            elif isinstance(node, dict) and part in node:
                reached.append((f"{where}.{part}", node[part]))
        holders = reached
    for where, node in holders:
        if isinstance(node, dict):
            yield f"{where}.{path[-1]}".lstrip("."), node, path[-1]


def _line_sku(holder: dict[str, Any], name: str) -> str | None:
    sku = holder.get("sku")
    return str(sku) if name == "quantity" and sku is not None else None


def _holds(rule: Rule, value: Any, evidence: Evidence) -> bool:
    """Whether the conversation gives this value for the rule's argument."""
    return supported(rule.role, value, evidence, said_as=rule.said_as(value))


def supported(role: Role, value: Any, evidence: Evidence, *, said_as: tuple[str, ...] = ()) -> bool:
    """Whether the conversation gives this value for an argument of this role (never a record of another kind);
    a choice's value is given by its words, or the other words that say it (`said_as`), or a tool's result."""
    if role in KINDS and evidence.names_another_kind(value, KINDS[role]):
        return False
    if role == Role.CHOICE:
        return key(value) in evidence.firm or any(evidence.says(words) for words in (str(value), *said_as))
    if role == Role.COUNT:
        return _whole(value) in evidence.counts
    if role == Role.NUMBER:
        return _whole(value) in evidence.numbers or _decimal(value) in evidence.amounts
    if role == Role.DATE:
        return str(value) in evidence.dates
    if role == Role.DOCUMENT:
        digits = re.sub(r"\D", "", str(value))
        return evidence.has_key(value) or (digits.isdigit() and int(digits) in evidence.numbers)
    if role == Role.ITEM and _a_description(value, evidence):
        return False
    return evidence.has_key(value) or evidence.names_a_given_record(value)


def _a_description(value: Any, evidence: Evidence) -> bool:
    """An item value in words that name no item ("brass valve", the user's words copied as the SKU): a
    description, no SKU given. Words a tool returned, or that name one item, are not."""
    words = re.findall(r"\b[A-Za-z]{3,}\b", str(value))
    return len(words) >= 2 and key(value) not in evidence.firm and not evidence.resolve(str(value))


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _whole(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _sides_as_written(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A transfer's two sides swapped when the words send stock the other way: "short on A-180 at ATL - move
    whatever it needs over from DAL" is from DAL (the 1.5B model wrote from ATL to DAL on its second try). Only a
    side the words give a direction ("from DAL") decides; a warehouse written without one ("at ATL") never does."""
    source, target = arguments.get("from_warehouse"), arguments.get("to_warehouse")
    if evidence.current is None or not isinstance(source, str) or not isinstance(target, str):
        return []
    written: dict[str, set[str]] = {}
    for mention in evidence.current.of(MentionKind.WAREHOUSE):
        way = direction_written(evidence.current, mention)
        if way is not None and mention.ids:
            written.setdefault(key(mention.ids[0]), set()).add(way)

    def way_of(value: str) -> str | None:
        ways = set().union(*(written.get(k, set()) for k in {key(value), *map(key, evidence.resolve(value))}))
        return ways.pop() if len(ways) == 1 else None

    reversed_ = way_of(source) == "to" or way_of(target) == "from"
    if not reversed_ or way_of(source) == "from" or way_of(target) == "to":
        return []
    arguments["from_warehouse"], arguments["to_warehouse"] = target, source
    return [f"from_warehouse={target}", f"to_warehouse={source}"]


def _user_counts(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """Several lines of an item the user gave one count for ("5 x V-200") become one line of that count: a model
    that wrote two lines of 5 is corrected to what the user said; identical lines of an item the user named once
    become one. A single line, and lines that differ otherwise, are left as they are. Returns what was corrected."""
    lines = arguments.get("lines")
    if evidence.current is None or not isinstance(lines, list) or not all(isinstance(ln, dict) for ln in lines):
        return []
    corrected: list[str] = []
    for sku in dict.fromkeys(str(ln.get("sku")) for ln in lines):
        catalogue = _catalogue_sku(sku, evidence)
        counts = evidence.current.quantities_of(catalogue)
        same = [ln for ln in lines if str(ln.get("sku")) == sku]
        rest = [{k: v for k, v in ln.items() if k != "quantity"} for ln in same]
        named_once = sum(1 for m in evidence.current.of(MentionKind.ITEM) if catalogue in m.ids) == 1
        if not counts and named_once and all(ln == same[0] for ln in same):
            counts = [same[0].get("quantity")]  # one mention, identical lines: the model wrote it twice
        if len(counts) != 1 or any(r != rest[0] for r in rest):
            continue
        (count,) = counts
        # One line is left as the model wrote it: its count is supported or not (a question then), never rewritten
        # to another count the user said, which may belong to another line or call ("10 V-200 … and 5 back").
        if len(same) > 1:
            corrected.append(f"{sku}: {'+'.join(str(ln.get('quantity')) for ln in same)} -> {count}")
            same[0]["quantity"] = count
            for extra in same[1:]:
                lines.remove(extra)
    return corrected


# -- values the user's words give without doubt ------------------------------------------------------------


def fill_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A write's required value the model left out or gave unsupported, a line's warehouse, and the document the
    call is about, taken from the current message when its words give it without doubt (see `_given`): "apply
    PAY-2307 oldest first" is about that payment whether or not the schema can say its number is required. Returns
    what was filled ("path=value")."""
    if evidence.current is None:
        return []
    filled = []
    for rule in rules_for(tool):
        if not (rule.required or _is_line_warehouse(rule) or rule.role == Role.DOCUMENT):
            continue
        for path, holder, name in _places(arguments, rule.path):
            value = holder.get(name)
            inside = _sku_inside(value, evidence.current) if rule.role == Role.ITEM else None
            if inside is not None:  # "300 V-200" as the SKU: the count went into it
                holder[name] = inside
                filled.append(f"{path}={inside}")
                continue
            if _is_line_warehouse(rule) and not _line_in_scope(holder, evidence.current):
                continue
            if value is not None and _holds(rule, value, evidence) and not _is_line_warehouse(rule):
                continue
            given = _given(rule, holder, arguments, evidence, evidence.current)
            if given is not None and not _same_record(value, given, evidence):
                holder[name] = given
                filled.append(f"{path}={given}")
    return filled


def _sku_inside(value: Any, current: Linked) -> str | None:
    """The one linked SKU a longer value holds as a word of its own ("300 V-200", "V-200 x 300"), or None."""
    if not isinstance(value, str) or len(value.split()) < 2:
        return None
    words = {key(w) for w in value.split()}
    found = {m.ids[0] for m in current.of(MentionKind.ITEM) if len(m.ids) == 1 and key(m.ids[0]) in words}
    return found.pop() if len(found) == 1 else None


# The last clause of a request, after a comma, a dash, a colon or "because": "Cancel SO-2253, the customer no longer
# needs it" gives "the customer no longer needs it"; "Return 2 V-500 from SO-2276, damaged" gives "damaged".
_LAST_CLAUSE = re.compile(r"(?:[,;:]|\s[-\u2013]\s|\bbecause\b|\bsince\b)\s*([^,;:]*?)[\s.!]*$", re.IGNORECASE)


def _reason_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A write's free-text reason the model left out (or cut to nothing), in the user's own words: the last clause
    of their message. No such clause: nothing is filled, and the core asks for a reason in its words."""
    schema = tool.args.model_json_schema()
    spec = schema.get("properties", {}).get("reason")
    value = arguments.get("reason")
    if spec is None or "enum" in _resolved(_not_null(spec), schema.get("$defs", {})) or evidence.current is None:
        return []
    if isinstance(value, str) and len(value.strip()) >= 3:
        return []
    takes_reason = getattr(tool.args, "REASON_FOR", None)  # the actions of a grouped tool that take a reason
    if takes_reason is not None and arguments.get("action") not in takes_reason:
        return []
    found = _LAST_CLAUSE.search(evidence.current.text)
    clause = found.group(1).strip() if found else ""
    if len(re.sub(r"[^A-Za-z]", "", clause)) < 3 or evidence.names_a_given_record(clause):
        return []
    arguments["reason"] = clause
    return [f"reason={clause}"]


# A per-unit amount as people write it: "at -3 dollars each", "@ $12.50", "unit cost -3 USD", "for 4.20 a unit".
UNIT_AMOUNT = re.compile(
    r"(?:\bunit\s+(?:cost|price)(?:\s+of)?|@|\bat\b|\bfor\b)\s*(?P<amount>[-\u2212]?\s*[$€£]?\s*[-\u2212]?\d[\d,]*(?:\.\d+)?)"
    r"\s*(?:dollars?|usd|gbp|eur|sgd|pounds?)?\s*(?P<each>each|ea\b|apiece|per\s+unit|a\s+unit|/\s*(?:unit|ea))?",
    re.IGNORECASE,
)
UNIT_AMOUNT_FIELDS = ("unit_cost", "unit_price")


def _unit_amount_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A line's unit cost or price the model left out, when the message gives one amount per unit for its one line
    ("Order 10 V-200 from KEYSTONE at -3 dollars each": left out, the PO went through at the catalogue cost; given,
    the core refuses the negative cost). "@", "unit cost" or "each" make an amount a unit's, not a total."""
    lines = arguments.get("lines")
    if evidence.current is None or not isinstance(lines, list) or len(lines) != 1 or not isinstance(lines[0], dict):
        return []
    line_fields = _line_fields(tool)
    field_name = next((f for f in UNIT_AMOUNT_FIELDS if f in line_fields), None)
    if field_name is None or lines[0].get(field_name) is not None:
        return []
    amounts = {
        m["amount"]
        for m in UNIT_AMOUNT.finditer(evidence.current.text)
        if m["each"] or not m.group().lower().startswith(("at", "for"))
    }
    if len(amounts) != 1:
        return []
    value = _decimal(re.sub(r"[\s$€£,]", "", amounts.pop()).replace("\u2212", "-").replace("--", "-"))
    if value is None:
        return []
    lines[0][field_name] = str(value)
    return [f"lines.0.{field_name}={value}"]


# An amount of money as people write it: with a currency, or after the words of a payment or a charge.
MONEY = re.compile(
    r"(?:[$\u20ac\u00a3]\s*|\b(?:usd|eur|gbp|sgd)\s*"
    r"|\b(?:payment of|paid|received|charge of|fee of)\s+(?:usd\s*|[$]\s*)?)"
    r"(?P<amount>\d[\d,]*(?:\.\d+)?)(?![\d-])",
    re.IGNORECASE,
)


def _money_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A write's `amount` the model left out, when the message gives one amount of money ("Record a payment of 1,200
    from CASCADEW, bank ref BNK-7781": the model sent no amount and the core refused the payment). A number without
    a currency or a payment's words (a count, a line, a reference's digits) is not an amount."""
    if evidence.current is None or "amount" not in tool.args.model_fields or arguments.get("amount") is not None:
        return []
    amounts = {_decimal(m["amount"].replace(",", "")) for m in MONEY.finditer(evidence.current.text)} - {None}
    if len(amounts) != 1:
        return []
    value = amounts.pop()
    arguments["amount"] = str(value)
    return [f"amount={value}"]


def _line_count_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A change of one order line's count that the model left out, when the message gives one count ("please bump
    line 1 of order 2253 to twenty": the model sent no quantity and the core asked what to change). The line's number
    is no count."""
    fields = tool.args.model_fields
    if evidence.current is None or not {"line_no", "quantity"} <= set(fields) or arguments.get("quantity") is not None:
        return []
    lines = {match.span(1) for match in LINE_NUMBER.finditer(evidence.current.text)}  # "SO-2258 ln 1": no count
    counts = {
        m.number
        for m in evidence.current.of(MentionKind.QUANTITY)
        if m.number is not None and (m.start, m.end) not in lines
    }
    if len(counts) != 1:
        return []
    arguments["quantity"] = counts.pop()
    return [f"quantity={arguments['quantity']}"]


def _choice_from_words(tool: Tool, arguments: dict[str, Any], evidence: Evidence) -> list[str]:
    """A choice with a default of its own (a credit request's `action`, a return's `disposition`), or a required one
    whose values have other words (a case action: "Add a note to EX-1" is a comment), that the message settles on
    another value than the call's: the one value whose words it says ("Put BRAZOSHV on credit hold" is action hold;
    "take BRAZOSHV off hold" says both hold and release, so the model's choice stands)."""
    if evidence.current is None:
        return []
    filled = []
    written = words_of(evidence.current.text)
    for name, values, default, said in _defaulted_choices(tool):
        # a read's view only by the words its schema gives for it ("group revenue"), not by its name: "the UK's
        # margin" asks the KPIs, which carry it, not the margin report
        spoken = [v for v in values if any(says_in(written, w) for w in _words_for(tool, v, said))]
        if len(spoken) == 1 and arguments.get(name, default) != spoken[0]:
            arguments[name] = spoken[0]
            filled.append(f"{name}={spoken[0]}")
    return filled


def _words_for(tool: Tool, value: str, said: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """The words that say a choice's value: its name and other words for a write, only the other words for a read."""
    other = dict(said).get(value, ())
    return (value, *other) if tool.writes else other


@cache
def _defaulted_choices(
    tool: Tool,
) -> tuple[tuple[str, tuple[str, ...], str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    """A tool's top-level choices with a default of their own, or required with other words for their values: name,
    values, default ("" for none) and each value's other words."""
    schema = tool.args.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, field_spec in schema.get("properties", {}).items():
        spec = _resolved(field_spec, schema.get("$defs", {}))
        said = _said_as(field_spec, spec)
        if "enum" in spec and ("default" in field_spec or (name in required and said)):
            values = tuple(str(v) for v in spec["enum"])
            out.append((name, values, str(field_spec.get("default", "")), said))
    return tuple(out)


@cache
def _line_fields(tool: Tool) -> frozenset[str]:
    """The fields of a tool's order lines (`lines.*`), from its schema."""
    return frozenset(r.path[-1] for r in rules_for(tool) if r.path[:2] == ("lines", "*"))


def _is_line_warehouse(rule: Rule) -> bool:
    return rule.role == Role.WAREHOUSE and rule.path[:-1] == ("lines", "*")


def _line_in_scope(line: dict[str, Any], current: Linked) -> bool:
    """A line the message speaks of: every line when it names no item ("ship it from Reno"), else its item's."""
    items = {i for m in current.of(MentionKind.ITEM) for i in (*m.ids, *m.candidates)}
    return not items or key(line.get("sku") or "") in {key(i) for i in items}


def _same_record(value: Any, given: str | int, evidence: Evidence) -> bool:
    """The value already names the record the words give ("Reno" for RNO)."""
    if value is None:
        return False
    return key(value) == key(given) or (isinstance(given, str) and given in evidence.resolve(str(value)))


def _given(
    rule: Rule, holder: dict[str, Any], arguments: dict[str, Any], evidence: Evidence, current: Linked
) -> str | int | None:
    """The one value of this argument's role the current message gives, or None when it gives none or several:
    the count written with the line's SKU, the only item, the only customer or supplier, the only warehouse
    (for a transfer's side: the only one the words send stock from, or to)."""
    if rule.role == Role.COUNT:
        counts = current.quantities_of(_catalogue_sku(str(holder.get("sku")), evidence))
        return counts[0] if len(counts) == 1 else None
    if rule.role == Role.ITEM:
        item = current.only_named(MentionKind.ITEM)
        taken = {key(ln.get("sku")) for ln in arguments.get("lines") or [] if isinstance(ln, dict)}
        return item if item is not None and key(item) not in taken else None
    if rule.role == Role.PARTY and rule.name in tuple(MentionKind):
        return current.only_named(MentionKind(rule.name))
    if rule.role == Role.WAREHOUSE:
        return _warehouse_given(rule, current, evidence)
    if rule.role == Role.DOCUMENT:
        return _document_given(rule.name, current)
    return None


def _document_given(name: str, current: Linked) -> str | None:
    """The one document of the kind this argument takes that the message names ("order 2274" for order_number)."""
    kinds = {prefix for prefix, field in DOCUMENT_FIELDS.items() if field == name}
    named = {m.ids[0] for m in current.of(MentionKind.DOCUMENT) if m.ids and document_of(m) in kinds}
    return named.pop() if len(named) == 1 else None


def _warehouse_given(rule: Rule, current: Linked, evidence: Evidence) -> str | None:
    """The only warehouse the message names (for a transfer's side, the only one written that way round), none
    when it also names one outside the user's scope or, for a side, one whose direction the words do not say."""
    mentions = current.of(MentionKind.WAREHOUSE)
    if evidence.names_unseen_place():
        return None
    way = DIRECTIONS.get(rule.name)
    if way is None:
        return current.only_named(MentionKind.WAREHOUSE)
    ways = [direction_written(current, m) for m in mentions]
    if None in ways:
        return None
    named = {m.ids[0] for m, w in zip(mentions, ways, strict=True) if w == way and m.ids}
    return named.pop() if len(named) == 1 else None


def _unplaced_lines(tool: Tool, rule: Rule, arguments: dict[str, Any], evidence: Evidence) -> list[Gap]:
    """Lines of a write with no warehouse when the message names several it could ship from ("from Dallas or
    Reno"): which one is asked, not left to the core to choose. A place stock goes to ("... to ATL") is none."""
    current = evidence.current
    if not (tool.writes and _is_line_warehouse(rule)) or current is None:
        return []
    sources = {i for m in current.of(MentionKind.WAREHOUSE) if direction_written(current, m) != "to" for i in m.ids}
    if len(sources) < 2:
        return []
    return [
        Gap(path, name)
        for path, holder, name in _places(arguments, rule.path)
        if holder.get(name) is None and _line_in_scope(holder, current)
    ]


def _catalogue_sku(sku: str, evidence: Evidence) -> str:
    """The SKU as the catalogue writes it, when the message named it ("v200" in the call, V-200 linked)."""
    if evidence.current is None:
        return sku
    for mention in evidence.current.mentions:
        if mention.ids and key(mention.ids[0]) == key(sku):
            return mention.ids[0]
    return sku


# -- what the user and the model are told ------------------------------------------------------------------

Stock = Callable[[str], list[tuple[str, int]]]  # a SKU's available-now quantity by warehouse, in the user's scope
Find = Callable[[str], Candidates]  # what the current message could mean for an argument the call lacks, by name


@dataclass(frozen=True)
class Lookups:
    """What a question may look up to offer choices: where an item is available now, and the records the user's
    words could mean for a value they did not give (`assistant.candidates`)."""

    stock: Stock
    candidates: Find


@dataclass
class Held:
    """A call that is not made: the outcome the model is shown and, for a question, what the user is asked."""

    outcome: ToolOutcome
    question: str | None = None
    notes: list[str] = field(default_factory=list)


def held(tool: Tool, vetted: Vetted, lookups: Lookups) -> Held | None:
    """Why the call is not made, or None when it may run with `vetted.arguments`."""
    if vetted.asks:
        return _asking(question_for(tool, vetted, lookups))
    described = _which_described(vetted, lookups)
    if described is not None:
        return _asking(described)
    if vetted.invented:
        message = (
            f"not run: {', '.join(vetted.invented)} was not named by the user or returned by a tool in this "
            "conversation. Answer what the user asked with the right tool, or ask them which record they mean."
        )
        return Held(ToolOutcome.refused(ToolError(code=NOT_GIVEN, message=message)))
    return None


def _case_first(current: Linked | None, found: frozenset[str]) -> Held | None:
    """A write that lacks values the case or order the message names holds ("EX-4: order the missing P-240", "what's
    short on EX-1? transfer it from Dallas", "SO-2259 is short of A-180 in Atlanta. Transfer what it needs from
    Dallas"), while nothing this turn looked it up: the model looks it up first, rather than the user being asked
    what the record says. An order is looked up only when the words speak of what it lacks."""
    documents = [i for m in current.of(MentionKind.DOCUMENT) for i in m.ids] if current else []
    lacking = current is not None and LACKS.search(current.text) is not None
    reads = {
        "EX-": "get_exception(case_number={})",
        **({"SO-": "get_order_status(order_number={})"} if lacking else {}),
    }
    unread = [(d, call) for d in documents for prefix, call in reads.items() if d.startswith(prefix)]
    unread = [(d, call) for d, call in unread if key(d) not in found]
    if not unread:
        return None
    calls = ", ".join(call.format(d) for d, call in unread)
    message = f"not run, look first: call {calls}; the values the user means are the record's, then draft again."
    return Held(ToolOutcome.refused(ToolError(code=LOOK_FIRST, message=message)))


# Words that say a write's values are what an order lacks ("transfer what it needs", "the shortfall").
LACKS = re.compile(r"\b(?:short(?:fall|age)?|needs?|missing|lacks?|backorder(?:ed)?)\b", re.IGNORECASE)


def _asking(question: str) -> Held:
    return Held(ToolOutcome.refused(ToolError(code=NEEDS_CLARIFICATION, message=question)), question)


def question_for(tool: Tool, vetted: Vetted, lookups: Lookups) -> str:
    """The question the user gets instead of a guess, with the candidates."""
    sentences = [_which(m.kind.value, Candidates.of(m)) for m in vetted.unclear]
    if vetted.gaps:
        sentences.append(_ask_missing(tool, vetted, lookups))
        sentences += _stock_hint(vetted, lookups.stock)
    return " ".join(sentences)


def _which_described(vetted: Vetted, lookups: Lookups) -> str | None:
    """A look-up of an item the user described but did not name ("the Dallas stock of the brass valve", looked
    up as some SKU): which item, with those the words fit. None when the call invented other records too, or
    the words fit no item: then it is refused as invented."""
    if not vetted.unnamed_items or len(vetted.unnamed_items) != len(vetted.invented):
        return None
    found = lookups.candidates("sku")
    return _which(MentionKind.ITEM.value, found) if found.keys else None


def _which(kind: str, found: Candidates) -> str:
    by = f" by '{found.said}'" if found.said else ""
    return f"Which {kind} do you mean{by}: {found.listed()}?"


def _ask_missing(tool: Tool, vetted: Vetted, lookups: Lookups) -> str:
    what = tool.name.removeprefix("draft_").removeprefix("request_").replace("_", " ")
    to = vetted.arguments.get("to_warehouse")
    context = f" to {to}" if to and not any(g.name == "to_warehouse" for g in vetted.gaps) else ""
    offered = _offered(vetted.gaps, lookups)
    gaps = sorted(vetted.gaps, key=lambda g: g.sku is None)  # the counts first: "how many V-200, and from where?"
    plain = [f"how many {g.sku}" if g.sku else ASKS.get(g.name, g.name) for g in gaps if g.name not in offered]
    # The choices last, so that the list ends the question: "to which warehouse, and which item: V-230 (…) or …?"
    asks = list(dict.fromkeys(plain)) + [f"{_bare(ASKS[n])}: {found.listed()}" for n, found in offered.items()]
    listed = asks[0] if len(asks) == 1 else ", ".join(asks[:-1]) + ", and " + asks[-1]
    return f"Before I draft the {what}{context}: {listed}?"


def _offered(gaps: tuple[Gap, ...], lookups: Lookups) -> dict[str, Candidates]:
    """The choices offered for each argument missing once (not for several lines' SKUs: which line gets which?)."""
    names = [g.name for g in gaps if g.sku is None and g.name in ASKS]
    once = [name for name in dict.fromkeys(names) if names.count(name) == 1]
    found = {name: lookups.candidates(name) for name in once}
    return {name: c for name, c in found.items() if c.keys}


def _bare(ask: str) -> str:
    """The ask without its example: "which case (e.g. EX-12)" -> "which case", when the choices follow."""
    return re.sub(r"\s*\(.*\)$", "", ask)


def _stock_hint(vetted: Vetted, stock: Stock) -> list[str]:
    """Where the items of the call are available now, when the question is about counts or a source."""
    if not any(g.sku or g.name in ("from_warehouse", "warehouse") for g in vetted.gaps):
        return []
    lines = vetted.arguments.get("lines")
    skus = [str(ln["sku"]) for ln in lines if isinstance(ln, dict) and ln.get("sku")] if isinstance(lines, list) else []
    destination = key(vetted.arguments.get("to_warehouse") or "")
    hints = []
    for sku in dict.fromkeys(skus):
        places = [f"{w} {n}" for w, n in stock(sku) if n > 0 and key(w) != destination]
        hints.append(f"{sku} available now: {', '.join(places)}." if places else f"No {sku} is available now.")
    return hints


# -- the agent's entry point -------------------------------------------------------------------------------


@dataclass
class Checked:
    """The model's calls with the arguments they may run with, and those held (by call id)."""

    calls: list[dict[str, Any]]
    held: dict[str, Held]


def check_calls(
    db: Database, registry: Registry, actor: Actor, messages: list[dict[str, Any]], links: dict[str, Linked]
) -> Checked:
    """Vet the last message's tool calls against the conversation so far; `links` caches each user message's
    linking (the current one is linked when the turn starts)."""
    evidence = conversation_evidence(db, actor, messages, links)
    request = next((str(m.get("content") or "") for m in reversed(messages) if m["role"] == "user"), "")
    found = returned_this_turn(messages)
    model_calls = messages[-1].get("tool_calls", [])
    called = frozenset(c["function"]["name"] for c in model_calls)
    lookups = Lookups(lambda sku: _available(db, actor, sku), lambda name: _candidates(db, actor, evidence, name))
    calls, holds = [], {}
    for model_call in model_calls:
        call = rerouted(model_call, request, evidence, found, registry)
        if call["function"]["name"] in called - {model_call["function"]["name"]}:
            call = model_call  # the model made that call too: this one is for another part of the request
        tool = registry.tools.get(call["function"]["name"])
        arguments = _parsed(call["function"]["arguments"])
        if tool is None or arguments is None:
            calls.append(call)  # the registry refuses these in its own words
            continue
        vetted = vet(tool, arguments, evidence)
        hold = held(tool, vetted, lookups)
        if hold is not None and hold.question is not None:
            hold = _case_first(evidence.current, found) or hold
        if hold is not None:
            holds[call["id"]] = hold
        calls.append({**call, "function": {**call["function"], "arguments": json.dumps(vetted.arguments)}})
    return Checked(calls, holds)


def idle_arguments(
    db: Database, registry: Registry, actor: Actor, messages: list[dict[str, Any]], links: dict[str, Linked]
) -> dict[str, list[list[str]]]:
    """Per tool, the optional arguments (paths, "lines.*.unit_price" as [lines, *, unit_price]) that nothing in the
    conversation could support: a date when none was given, a count or a figure when no number was. `vet` would
    drop any value the model wrote for them; the local model's output grammar leaves them out instead, so that
    the 1.5B model does not spend seconds writing `"on_date": "2026-11-20", "quantity": 1000000` (`idle_paths`)."""
    evidence = conversation_evidence(db, actor, messages, links)
    out = {name: [list(path) for path in idle_paths(tool, evidence)] for name, tool in registry.tools.items()}
    return {name: paths for name, paths in out.items() if paths}


def idle_paths(tool: Tool, evidence: Evidence) -> list[tuple[str, ...]]:
    """The optional arguments of `tool` whose role no value in the evidence holds (see `supported`)."""
    held: dict[Role, set[Any]] = {
        Role.DATE: evidence.dates,
        Role.COUNT: evidence.counts,
        Role.NUMBER: {*evidence.numbers, *evidence.amounts},
    }
    return [rule.path for rule in rules_for(tool) if not rule.required and rule.role in held and not held[rule.role]]


def conversation_evidence(
    db: Database, actor: Actor, messages: list[dict[str, Any]], links: dict[str, Linked]
) -> Evidence:
    """What the conversation supports: its user messages (each linked once, cached in `links`), the warehouses
    they name and its tool results; the last user message is the current one."""
    today = clock.today()

    def link(text: str) -> Linked:
        if text not in links:
            links[text] = db.read(lambda s: link_mentions(s, actor, text, today))
        return links[text]

    def places(text: str) -> set[str]:
        return db.read(lambda s: warehouses_written(s, text))

    def resolve(text: str) -> tuple[str, ...]:
        """The records a value names without doubt (ambiguous readings support nothing)."""
        return tuple(
            i for m in link(text).mentions if not m.ambiguous and m.kind != MentionKind.QUANTITY for i in m.ids
        )

    def kinds(text: str) -> frozenset[MentionKind]:
        """The kinds of record a value names when read alone, the whole of it ("EX-1": a document)."""
        whole = text.strip()
        return frozenset(m.kind for m in link(whole).mentions if (m.start, m.end) == (0, len(whole)))

    users = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
    current = link(users[-1]) if users else None
    return evidence_of(messages, link, current, places, resolve, today.isoformat(), kinds)


def _parsed(arguments: object) -> dict[str, Any] | None:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _available(db: Database, actor: Actor, sku: str) -> list[tuple[str, int]]:
    """Available-now stock of a SKU by warehouse, in the actor's scope (none when the SKU is unknown)."""
    try:
        report = db.read(lambda s: available_to_promise(s, actor, sku=sku))
    except ErpError:
        return []
    return [(w.warehouse, w.available_now) for w in report.warehouses]


def _candidates(db: Database, actor: Actor, evidence: Evidence, name: str) -> Candidates:
    """What the user's words could mean for an argument the call lacks; none when the look-up fails (the plain
    question stands)."""
    try:
        return db.read(lambda s: candidates_for(s, actor, evidence, name))
    except ErpError:
        return Candidates()


def questions(holds: dict[str, Held]) -> str | None:
    """What this turn asks the user instead of guessing, if anything: the turn's answer."""
    asked = list(dict.fromkeys(h.question for h in holds.values() if h.question))
    return " ".join(asked) or None

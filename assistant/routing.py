"""Which look-up each part of a request asks for, decided by code: the local model's tool choice, one part at a time.

A request of several parts ("Check PEAKPIPE's credit and draft 10 FT-200 for them", "Why is SO-2289 on hold and
how much credit does that customer have left?") needs one call per part. The 1.5B model, offered every tool,
often makes the wrong first call (stock where credit was asked), and after a result it calls again when it should
answer. Code reads the parts instead:

- the request is split where its wording breaks (`steps.PART_BREAK`: "and", "then", "if so", commas, "?");
- a part that asks for a change (a change verb, or `conditions.write_parts`) is a write part: offered the draft
  tools its words point at (after a look-up, it may not look up again instead); when they point at one, and the
  request sets no condition code cannot judge, the draft must be made (the 1.5B model answered "Send 20 from RNO
  to Atlanta" in words after both look-ups);
- a look-up part is routed by the tools' cues (`tool_offer.CUES`) read on that part alone: the tools that score
  highest on it; a part that only names things ("... and V-210", "and LONESTAR3") asks what the part before it
  asked; a tool that needs a document the message never names (an order status without an order) is not routed;
- the turn's calls cover the parts in order; the next round may call only the first uncovered look-up part's
  tools, and once every part is covered the model answers (it may always answer in words).

A question alone in its request ("anything I need to sign off on?") gets its first call routed the same way, unless
it points back at what came before ("who approves that?"). A request that opens with a statement (one write in
pieces), a part no cue points at, and a round after code sent a call back (look first, one route per transfer)
are left to the step rule alone: routing narrows, it never widens.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from pydantic import BaseModel

from assistant.conditions import (
    CHANGE_WORDS,
    COUNT,
    conditional,
    loaded,
    since_user,
    stock_condition,
    write_parts,
)
from assistant.llm.local.steps import (
    PART_BREAK,
    call_key,
    calls_made,
    is_write,
    last_round_sent_back,
    redo_after_look_up,
)
from assistant.tool_offer import CUES, DOCUMENT_FIELDS, document_of, pointed_drafts, score, worded
from core.actor import Role
from core.masterdata.mentions import Linked, Mention, MentionKind, product_words
from tools.registry import Registry

# A part phrased as a question: it asks, whatever verbs it holds ("what's the most I can transfer").
ASKS = re.compile(
    r"\s*(?:what|what's|whats|why|which|where|where's|when|who|whose|how(?! about)|explain)\b", re.IGNORECASE
)
# A question asked last, after what it is about: "for a transfer between two of our companies, who needs to sign off"
# (not "which" or "where": "move 20 to Atlanta, which is short" asks nothing).
ASKED_LAST = re.compile(r"[,;:]\s*(?:who|whom|whose|what|what's|why|how)\b[^,;:]*$", re.IGNORECASE)
# What the message reports as done ("we transferred 18 … to Atlanta", ", moved 18 a180 DAL->ATL", "they paid INV-1481"):
# no change to make, when the rest of the message asks for one ("pls resolve").
REPORTED = re.compile(
    r"(?:\b(?:we|i|they|he|she)\s+(?:have\s+|had\s+|already\s+|just\s+)*|(?:^|[,;:\u2013-])\s*)"
    r"(?:moved|transferred|sent|shipped|received|counted|returned|paid|delivered|wrote off)\b[^,;.!?]*",
    re.IGNORECASE,
)
PLUS = re.compile(r"\s[+&]\s")  # "fill rate + shortage cases": a list of things to look up
# A part that opens by asking to look something up.
LOOKING = re.compile(
    r"\s*(?:please\s+)?(?:check|see|find|look|list|show|give me|tell me|compare|open (?:the )?(?:exception )?cases?"
    r"|get me|pull up|is|are|can|could|does|do|has|have|any|anything|if|whether)\b",  # "If Reno can spare 20, ..."
    re.IGNORECASE,
)
REFERS_BACK = re.compile(r"\b(?:it|its|they|them|their)\b", re.IGNORECASE)  # a bare pronoun: the thing before
FILLER = re.compile(r"\W*(?:please|pls|thanks|thank you|cheers|asap|now|today)?\W*", re.IGNORECASE)
BEFORE = re.compile(r"\b(?:it|its|they|them|their)\b|\b(?:that|this)\s*(?:one\b|\?|$)", re.IGNORECASE)
# What a pronoun of the message itself may stand for: a thing in general ("how big can a transfer be before a manager
# has to approve it?"), not a record of an earlier message ("who approves it?", "is the transfer through? who approves
# it?").
IN_GENERAL = re.compile(r"\b(?:a|an|any|each|every)\s+[a-z]", re.IGNORECASE)
# A change's noun with nothing named to change ("for a transfer between two of our companies, who signs off"): no
# change asked.
CHANGE_NOUN = re.compile(
    r"\b(?:a|an|any|each|every)\s+(?:intercompany\s+)?(?:transfers?|shipments?|returns?|purchase orders?|pos?)\b",
    re.IGNORECASE,
)
RECORDS = frozenset(
    {MentionKind.ITEM, MentionKind.WAREHOUSE, MentionKind.CUSTOMER, MentionKind.SUPPLIER, MentionKind.DOCUMENT}
)
# A yes-or-no question about something other than the assistant or the user: "Can Dallas cover ...?", "Does Reno
# have 20?", not "Can you switch line 1 to Dallas?" (a request) nor "can we ...?" (`MAY_I`).
WHETHER = re.compile(
    r"\s*(?:can|could|does|do|is|are|has|have|will|would)\s+(?!(?:you|u|i|we|please|pls|ya)\b)\w", re.IGNORECASE
)
MAY_I = re.compile(r"\b(?:can|may|could|should) (?:i|we)\b|\bok(?:ay)? to\b|\ballowed to\b", re.IGNORECASE)
MOST_TIED = 3  # more tools than this tied on a part: the cues do not tell, the model chooses
# Change verbs used as something else: "give me", "make sure", "the order", "order 2289" (a noun, not "order 20 of").
NOT_A_CHANGE = re.compile(
    r"\bgive me\b|\bmake sure\b|\b(?:the|that|this|which|whose|my|our|their|his|her|its|of|an?|per)\s+orders?\b"
    r"|\borders?\s+(?:#\s*)?(?:so-?)?\d{3,}",
    re.IGNORECASE,
)


Subject = tuple[tuple[str, str], ...]  # (argument, value): the records a call is about ("sku", "V-210")


@dataclass(frozen=True)
class Part:
    """One part of a request: its words, whether it asks for a change, and the look-ups it is routed to."""

    text: str
    writes: bool
    tools: tuple[str, ...] = ()  # a look-up part's tools; empty: not routed
    calls: int = 1  # the look-ups it takes: one per thing it names of the kind its tools look up ("Dallas or Reno")
    subjects: tuple[Subject, ...] = ()  # what each of its calls is about, for certain: (argument, value) pairs
    asks: bool = False  # a question about something it names, alone in its request: its first call is routed
    certain: bool = False  # a write part whose words point at one draft, on no condition code cannot judge


@dataclass(frozen=True)
class Route:
    """What the next model call may do: call only `tools` (or answer), answer only, or whatever the step rule
    allows (`tools` None and not `answer_only`)."""

    tools: tuple[str, ...] | None = None
    answer_only: bool = False
    required: bool = False  # one look-up the part needs for certain: the model must call it, not answer instead
    part: str | None = field(default=None, compare=False)  # the part's words: the model is told which comes now
    subject: Subject = field(default=(), compare=False)  # the part's own records (`aimed`)


FREE = Route()


def parts_of(registry: Registry, roles: Iterable[Role], linked: Linked) -> list[Part]:
    """The request's parts in order, each look-up part with the tools its words point at."""
    allowed = [name for name, tool in registry.tools.items() if tool.usable_by(roles)]
    needless = {n for n in allowed if _lacks_document(registry, n, linked.mentions)}  # a proposal of no case named
    drafts = _drafts_asked(registry, linked, [n for n in allowed if registry.tools[n].writes and n not in needless])
    finds = worded("find_items", linked.text)  # an item looked up first: its SKU comes from the result
    usable = [n for n in allowed if n not in drafts and not _lacks_subject(registry, n, linked.mentions, finds)]
    listed = frozenset(p for p, lister in LISTED_BY.items() if lister in allowed and worded(lister, linked.text))
    after_list = [
        n for n in allowed if n not in drafts and not _lacks_subject(registry, n, linked.mentions, finds, listed)
    ]
    readers = _readers(usable)
    writing = {p.strip() for p in write_parts(linked.text)}
    judged = not conditional(linked.text) or stock_condition(linked.text, linked) is not None
    out: list[Part] = []
    named: list[list[Mention]] = []  # each part's mentions
    for start, end in _spans(linked.text):
        text = linked.text[start:end].strip()
        asked = linked.text[end:].lstrip().startswith("?") or text.endswith("?")
        mentions = [m for m in linked.mentions if start <= m.start < end]
        named.append(mentions)
        if _writes(text, text in writing, drafts, asked, named=any(m.kind in RECORDS for m in mentions)):
            out.append(Part(text, writes=True, tools=drafts, certain=len(drafts) == 1 and judged))
            continue
        after_write = bool(out) and out[-1].writes and not _looks_up(linked.text, text)
        listing = frozenset(k for k, lister in LISTED_BY.items() for p in out if not p.writes and lister in p.tools)
        pool = after_list if listing else usable  # "list the shortage cases, then show me the one about SO-2259"
        tools = () if after_write else _route(pool, text, mentions, out, readers, listing)  # "..., 3 invoices unpaid"
        calls = _looked_up(tools, mentions, out)
        subjects = _subjects(mentions, calls)
        described = product_words(linked, start, end) if tools == ("find_items",) else ""
        if described and subjects and not any(m.kind == MentionKind.ITEM for m in mentions):
            subjects = ((*subjects[0], ("query", described)),)  # not the whole sentence: "... up and tell me ..."
        if tools == ("search_policies",) and subjects:  # the question itself: the model searched "intercompany
            subjects = ((*subjects[0], ("query", text)),)  # transfers" and found the booking rules, not who approves
        out.append(Part(text, writes=False, tools=tools, calls=calls, subjects=subjects))
    ahead = _asked_ahead(out, named, usable)
    lent = bool(out) and ahead[0].tools != out[0].tools and _looks_up(linked.text, out[1].text)  # "v200 and v210 ..."
    terse = bool(ahead) and bool(ahead[0].tools) and linked.text.rstrip().endswith("?")  # "status so2253 + so2258?"
    # "NA fill rate + open shortage cases": look-ups listed with a plus, nothing to write
    terse = terse or (PLUS.search(linked.text) is not None and all(p.tools and not p.writes for p in ahead))
    if out and not out[0].writes and not _looks_up(linked.text, out[0].text) and not (lent or terse):
        return []  # "Record a payment of 1,200 from CASCADEW, bank ref ...": one request in pieces, the model's
    if len(ahead) == 1 and not ahead[0].writes and _a_question(linked):
        return [replace(ahead[0], asks=True)]
    return ahead


def drafts_first(registry: Registry, roles: Iterable[Role], linked: Linked, parts: Sequence[Part]) -> tuple[str, ...]:
    """The tools a request that only asks for a change is offered for its first call: the one draft its own words
    or the documents it names point at ("We counted 100 V-200 in Dallas": the stock adjustment; the 1.5B model,
    offered every tool, drafted a transfer of 100), and the look-ups; no other draft. None for a question, a
    request that looks something up, one whose words point at several drafts, or at one the user may not make (the
    model's refusal is the answer then)."""
    text = linked.text
    asked = "?" in text or ASKS.match(text) or ASKED_LAST.search(text) or MAY_I.search(text)
    if asked or any(p.tools and not p.writes for p in parts):
        return ()
    pointed = _pointed(registry, linked, text)
    asking = " ".join(p.text for p in parts if p.writes)
    if len(pointed) > 1 and asking and asking != text:  # "Return 2 V-500 from SO-2276, damaged": the return's words
        pointed = _pointed(registry, linked, asking)
    if len(pointed) > 1:  # "EX-2 is done - we transferred 18 A-180 from Dallas to Atlanta, pls resolve": done already
        unreported = _pointed(registry, linked, REPORTED.sub(" ", text))
        pointed = unreported if len(unreported) == 1 else pointed
    if len(pointed) != 1 or not registry.tools[pointed[0]].usable_by(roles):
        return ()  # "raise ACME's credit limit": an order change's word too; the model tells them apart
    looks = [n for n, tool in registry.tools.items() if not tool.writes and tool.usable_by(roles)]
    return (*pointed, *looks)  # the look-ups stay: "EX-4: order the missing P-240" reads the case first


def _pointed(registry: Registry, linked: Linked, text: str) -> list[str]:
    """The drafts `text` points at (`tool_offer.pointed_drafts`), less those that need a document the message never
    names (a receipt of no purchase order for "they arrived damaged")."""
    pointed = pointed_drafts(registry, text, linked.mentions)
    return [n for n in pointed if not _lacks_document(registry, n, linked.mentions)]


def _asked_ahead(parts: list[Part], named: list[list[Mention]], usable: Sequence[str]) -> list[Part]:
    """A part that only names things, before a look-up part that asks about things of that kind, asks what that
    part asks ("v200 and v210 available at RNO?": V-200's stock too; the 1.5B model looked up V-200, then an
    order)."""
    out = list(parts)
    for i in range(len(out) - 2, -1, -1):
        part, after = out[i], out[i + 1]
        if part.writes or part.tools or after.writes or not after.tools:
            continue
        kinds = {m.kind for m in named[i]}
        wanted = {k for name in after.tools if name in CUES for k in CUES[name].mentions}
        if (
            not kinds & SUBJECTS
            or not kinds <= wanted | {MentionKind.QUANTITY}
            or any(worded(name, part.text) for name in usable)
        ):
            continue
        calls = _looked_up(after.tools, named[i], out[:i])
        out[i] = replace(part, tools=after.tools, calls=calls, subjects=_subjects(named[i], calls))
        if not any(m.kind in SUBJECTS or m.kind == MentionKind.DOCUMENT for m in named[i + 1]):
            out[i + 1] = replace(after, calls=0)  # "p100 pumps in DAL, any left?": one look-up answers both
    return out


def _a_question(linked: Linked) -> bool:
    """A request that asks about what it names, not about what came before ("who approves that?": the draft of
    the turn before, which code cannot see here): a question, without a pronoun standing for a record."""
    asked = linked.text.rstrip().endswith("?") or _looks_up(linked.text, linked.text.strip())
    return asked and not any(_stands_for_before(linked, m.start()) for m in BEFORE.finditer(linked.text))


def _stands_for_before(linked: Linked, at: int) -> bool:
    """Whether the pronoun at `at` stands for a record of an earlier message: the message names no record before
    it, nor a thing in general ("a transfer")."""
    return not any(m.start < at for m in linked.mentions) and IN_GENERAL.search(linked.text, 0, at) is None


def next_route(parts: Sequence[Part], messages: Sequence[dict[str, Any]], first: tuple[str, ...] = ()) -> Route:
    """The next call's route, from the calls made since the user spoke: the first uncovered look-up part's tools,
    answer only once every part is covered, else free; `first` (`drafts_first`) offers a request of changes only
    the drafts its words point at for its first call, and that draft, required, once it has looked up instead. A
    draft code sent back to look first, once the look-ups ran, is made now (`redo_after_look_up`), whatever the
    parts."""
    redo = redo_after_look_up(messages)
    if redo:
        return Route(tools=redo, required=True)
    if first and not any(m.get("tool_calls") for m in since_user(messages)):
        return Route(tools=first)
    if first and not any(writes for _, writes in _calls(messages) or [(first[0], True)]):
        return Route(tools=first[:1], required=True)  # it looked first ("counted 100": what is on hand?): now the draft
    if len(parts) == 1 and parts[0].asks and parts[0].tools:  # a question's calls ("BRAZOSHV vs LONESTAR3": two)
        made = _calls(messages) or []
        covered = sum(1 for name, writes in made if not writes and name in parts[0].tools)
        return FREE if covered >= parts[0].calls or len(made) > covered else _look_up(parts[0], covered)
    if len(parts) < 2 or not any(p.tools and not p.writes for p in parts):
        return FREE
    calls = _calls(messages)
    if calls is None:  # code sent the last round's calls back: the step rule's rounds, not the parts'
        return FREE
    reads = [name for name, writes in calls if not writes]
    made_writes = sum(1 for _, writes in calls if writes)
    for part in parts:
        if part.writes:
            if made_writes == 0:  # the first round is the step rule's (a request that looks first drafts after)
                return Route(tools=part.tools, required=part.certain) if calls else FREE  # looked up: the draft
            made_writes -= 1
        for index in range(part.calls if part.tools and not part.writes else 0):
            covering = next((name for name in reads if name in part.tools), None)
            if covering is None:
                return _look_up(part, index)
            reads.remove(covering)
    unrouted = [p for p in parts if not p.writes and not p.tools and not FILLER.fullmatch(p.text)]
    return FREE if unrouted else Route(answer_only=True)  # a part no cue points at: the step rule's to judge


def _look_up(part: Part, index: int) -> Route:
    """A look-up part's route to its `index`th call: its tools; the one tool it points at, required (the 1.5B model,
    allowed to answer, sometimes answers "I need to sign off on the draft for SO-1042" without looking)."""
    subject = part.subjects[index] if index < len(part.subjects) else ()
    return Route(tools=part.tools, required=len(part.tools) == 1, part=part.text, subject=subject)


def _route(
    usable: Sequence[str],
    text: str,
    mentions: Sequence[Mention],
    before: Sequence[Part],
    readers: dict[str, tuple[str, ...]],
    listing: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    """The look-up tools one part's words point at most strongly; a part without words of any tool's ("and
    LONESTAR3", "the customer says they paid INV-1429") takes the route of the part before it when that route
    fits what this part names; else, when it asks to look at the one document it names ("look at EX-10"), the
    tools that read that kind of document; else none."""
    scores = {name: score(name, text, mentions, writes=False) for name in usable}
    previous = before[-1].tools if before and not before[-1].writes else ()
    named = any(m.kind in SUBJECTS or m.kind == MentionKind.DOCUMENT for m in mentions)
    if previous and not named and REFERS_BACK.search(text):  # "why can't we pay it?": about the thing before
        return previous
    if not any(worded(name, text) for name in usable):
        if previous and all(scores.get(name, 0) > 0 for name in previous):
            return previous
        documents = {document_of(m) for m in mentions if m.kind == MentionKind.DOCUMENT}
        looking = LOOKING.match(text) is not None and len(documents) == 1
        return readers.get(str(documents.pop()), ()) if looking else ()
    best = max(scores.values(), default=0)
    tied = tuple(name for name in usable if scores[name] == best)
    of_listed = tuple(name for name in tied if name in CUES and CUES[name].documents & listing)
    tied = of_listed or tied  # "then show me the one about SO-2259": one of the cases listed before, not the order
    return tied if best > 0 and len(tied) <= MOST_TIED else ()


SUBJECTS = frozenset({MentionKind.ITEM, MentionKind.WAREHOUSE, MentionKind.CUSTOMER, MentionKind.SUPPLIER})


def _looked_up(tools: Sequence[str], mentions: Sequence[Mention], before: Sequence[Part]) -> int:
    """How many look-ups a part takes: the most things of one kind it names that its tools look up one at a time
    ("Which of Dallas or Reno has more S-100": two warehouses, two stock look-ups); none when it asks the part
    before it more about the same thing ("Is ACME on hold? How much of its credit is left?": one look-up)."""
    kinds = {k for name in tools if name in CUES for k in CUES[name].mentions} & SUBJECTS
    named = [{m.ids[0] for m in mentions if m.kind == kind and m.ids} for kind in kinds]
    documents = [m for m in mentions if m.kind == MentionKind.DOCUMENT]
    if before and not before[-1].writes and before[-1].tools == tuple(tools) and not any(named) and not documents:
        return 0
    return max([1, *(len(ids) for ids in named)])


# The look-up that reads one document of a kind, for a part that only asks to look at it ("look at EX-10").
READERS = {"SO": ("get_order_status",), "EX": ("get_exception",), "DR": ("get_draft_status",), "RMA": ("get_return",)}
# The look-ups that list documents of a kind: a later part may ask for one of them by what it is about.
LISTED_BY = {"EX": "list_exceptions", "DR": "list_pending_approvals"}
SUBJECT_ARGUMENTS = {
    MentionKind.ITEM: "sku",
    MentionKind.CUSTOMER: "customer",
    MentionKind.SUPPLIER: "supplier",
    MentionKind.WAREHOUSE: "warehouse",
}
DOCUMENT_ARGUMENTS = {p: DOCUMENT_FIELDS[p] for p in ("SO", "EX", "DR", "RMA")}  # the documents a look-up is about


def _subjects(mentions: Sequence[Mention], calls: int) -> tuple[Subject, ...]:
    """What each of a part's calls is about: its one subject; with several calls, one per thing of the kind it
    names several of, in the order written, each with the rest of what it names ("Which of Dallas or Reno has more
    S-100": S-100 at DAL, then S-100 at RNO; the 1.5B model looked Dallas up twice)."""
    if calls == 1:
        return (_subject(mentions),)
    for kind in SUBJECT_ARGUMENTS:
        ids = list(dict.fromkeys(m.ids[0] for m in mentions if m.kind == kind and m.ids and not m.ambiguous))
        if len(ids) == calls and not any(m.kind == kind and m.ambiguous for m in mentions):
            rest = _subject([m for m in mentions if m.kind != kind])
            return tuple((*rest, (SUBJECT_ARGUMENTS[kind], i)) for i in ids)
    return ()


def _subject(mentions: Sequence[Mention]) -> Subject:
    """The records a look-up part names one of, by the argument that takes them ("and SO-2258": order_number), and
    the item it describes as a search's query ("the 3/4 inch brass ball valve")."""
    out: dict[str, str] = {}
    for kind, argument in SUBJECT_ARGUMENTS.items():
        named = {m.ids[0] for m in mentions if m.kind == kind and m.ids and not m.ambiguous}
        if len(named) == 1 and not any(m.kind == kind and m.ambiguous for m in mentions):
            out[argument] = named.pop()
    documents = [m.ids[0] for m in mentions if m.kind == MentionKind.DOCUMENT and m.ids]
    for prefix, argument in DOCUMENT_ARGUMENTS.items():
        of_kind = {d for d in documents if d.startswith(f"{prefix}-")}
        if len(of_kind) == 1:
            out[argument] = of_kind.pop()
    items = [m.text for m in mentions if m.kind == MentionKind.ITEM]
    if len(items) == 1:
        out["query"] = items[0]
    return tuple(out.items())


# An optional argument a look-up may go without when one of these is given: it follows from them (a warehouse's entity).
IMPLIED_BY = {"entity": ("warehouse",)}


def routed_call(
    route: Route,
    registry: Registry,
    idle: dict[str, list[list[str]]] | None,
    messages: Sequence[dict[str, Any]],
) -> tuple[str, dict[str, Any]] | None:
    """The look-up code makes itself, without a model call: a required route to one read tool whose arguments the
    part's own records fill, every one of them; each argument left out is one nothing in the conversation could
    support (`idle`, per tool, as `provenance.idle_arguments` gives it) or one those given imply. The model, asked,
    could only copy them: "what's the status of SO-2289 and ..." is get_order_status {"order_number": "SO-2289"},
    which the 1.5B model took 5 s to write (reading the request and writing 23 tokens). None when the words leave
    anything to choose, when the call was made since the user spoke, or for a write (a draft is the model's)."""
    if not route.required or route.tools is None or len(route.tools) != 1:
        return None
    name = route.tools[0]
    if is_write(name) or name not in registry.tools:
        return None
    fields = registry.tools[name].args.model_fields
    arguments = {k: v for k, v in route.subject if k in fields}
    unused = {path[0] for path in (idle or {}).get(name, []) if len(path) == 1}
    for argument, info in fields.items():
        implied = not info.is_required() and any(k in arguments for k in IMPLIED_BY.get(argument, ()))
        if argument not in arguments and argument not in unused and not implied:
            return None
    made = {call_key(n, a) for n, a in calls_made(messages)}
    return None if call_key(name, arguments) in made else (name, arguments)


def aimed(messages: Sequence[dict[str, Any]], route: Route, registry: Registry) -> list[dict[str, Any]]:
    """The conversation with the last round's calls of the routed tools about the part's own records: the 1.5B
    model asked "How many V-200 and V-210 are free in Reno?" looks V-200 up twice, so the second call, routed to
    "V-210 are free in Reno", is made for V-210. Only the arguments the tool takes; nothing else changes."""
    if not route.subject or not route.tools or not messages or not messages[-1].get("tool_calls"):
        return list(messages)
    calls = [_aimed_call(call, route, registry, messages) for call in messages[-1]["tool_calls"]]
    return [*messages[:-1], {**messages[-1], "tool_calls": calls}]


def _aimed_call(
    call: dict[str, Any], route: Route, registry: Registry, messages: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    name = call["function"]["name"]
    if route.tools is None or name not in route.tools or name not in registry.tools:
        return call
    takes = registry.tools[name].args.model_fields
    arguments = {**loaded(call["function"]["arguments"]), **{k: v for k, v in route.subject if k in takes}}
    given = {k for k, _ in route.subject}
    for prefix, argument in DOCUMENT_FIELDS.items():  # "the one about SO-2259": the case the list ties to it
        if argument in takes and argument not in given:
            found = _listed_about(messages, prefix, [str(v) for _, v in route.subject])
            arguments = {**arguments, argument: found} if found else arguments
    return {**call, "function": {**call["function"], "arguments": json.dumps(arguments)}}


def _listed_about(messages: Sequence[dict[str, Any]], prefix: str, values: Sequence[str]) -> str | None:
    """The one document numbered `prefix`-N that a row of this turn's results ties to one of `values`: the row
    numbers it and says the value ("EX-2", "SO-2259 line 1: 18 A-180 short at ATL"); None when none or several."""
    number = re.compile(rf"{re.escape(prefix)}-\d+")
    found = set()
    for message in since_user(messages):
        if message.get("role") != "tool" or not values:
            continue
        for row in _rows(loaded(message.get("content"))):
            texts = [str(v) for v in row.values() if isinstance(v, str)]
            numbered = {t for t in texts if number.fullmatch(t)}
            if len(numbered) == 1 and any(v in t for t in texts for v in values):
                found |= numbered
    return found.pop() if len(found) == 1 else None


def _rows(data: Any) -> list[dict[str, Any]]:
    """The records a result lists: the objects in its top-level lists."""
    if not isinstance(data, dict):
        return []
    return [row for value in data.values() if isinstance(value, list) for row in value if isinstance(row, dict)]


def _looks_up(request: str, first: str) -> bool:
    """Whether the request opens by asking to look something up: a question, or a look-up verb ("check", "find",
    "list", "compare", "how many"); a request that opens with a statement is one write in pieces."""
    at = request.find(first)
    asked = request[at + len(first) :].lstrip().startswith("?") if at >= 0 else False
    return asked or ASKS.match(first) is not None or LOOKING.match(first) is not None


def _writes(text: str, counted: bool, drafts: Sequence[str], asked: bool, *, named: bool = True) -> bool:
    """Whether a part asks for a change: a change verb, not one used as a noun ("the order", "order 2289") nor in
    a question ("what's the most I can transfer", "can I take a new order from FRONTIER5?": may I, with nothing
    counted), or a draft tool's own words ("record a payment", "book the invoice"), or a count and route that go on
    from an earlier change (`counted`: "... and 5 V-210 from Dallas to Reno"). A part that names nothing (`named`)
    says a change's noun, not its verb ("for a transfer between two of our companies")."""
    if ASKS.match(text) or (asked and MAY_I.search(text) and not COUNT.search(text)):
        return False
    if asked and WHETHER.match(text):  # "Can Dallas cover SO-2258 line 1?": a question, not "can you switch ..."
        return False
    verbs = NOT_A_CHANGE.sub(" ", text if named else CHANGE_NOUN.sub(" ", text))
    if CHANGE_WORDS.search(verbs) is not None or any(worded(name, verbs, writes=True) for name in drafts):
        return True
    return counted and CHANGE_WORDS.search(text) is None


def _drafts_asked(registry: Registry, linked: Linked, drafts: Sequence[str]) -> tuple[str, ...]:
    """The draft tools the request's own words point at; else those what it names points at (`tool_offer.score`),
    less those only their own words ask for (`Cue.by_name`: a write part offered a master-data change for "draft
    150 V-200 from Dallas for them" took it); all of them when none is pointed at."""
    by_words = tuple(n for n in drafts if worded(n, linked.text, writes=True))
    named = tuple(
        n
        for n in drafts
        if score(n, linked.text, linked.mentions, writes=registry.tools[n].writes) > 0
        and (n not in CUES or CUES[n].by_name)
    )
    return by_words or named or tuple(drafts)


def _lacks_subject(
    registry: Registry, name: str, mentions: Sequence[Mention], finds: bool, listed: frozenset[str] = frozenset()
) -> bool:
    """Whether a look-up needs what the message never names: a document of its cue's kinds (the status of no
    order) that no look-up it asks for lists either (`listed`: "list the shortage cases, then show me the one about
    SO-2259"), or an item it neither names nor asks to find (the stock of no item: "what's left" of a customer's
    credit, "how many short" on EX-1)."""
    required = _required(registry.tools[name].args)
    if "sku" in required and not finds and not any(m.kind == MentionKind.ITEM for m in mentions):
        return True
    return _lacks_document(registry, name, mentions, listed)


def _lacks_document(
    registry: Registry, name: str, mentions: Sequence[Mention], listed: frozenset[str] = frozenset()
) -> bool:
    """Whether a tool needs a document of its cue's kinds (an order, a case, a transfer) the message never names,
    nor asks a look-up that lists (`listed`)."""
    cue = CUES.get(name)
    if cue is None or not cue.documents:
        return False
    required = _required(registry.tools[name].args)
    named = {document_of(m) for m in mentions} | listed
    return any(f.endswith("_number") for f in required) and not (cue.documents & named)


def _readers(usable: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Per document kind (SO, EX, ...), the look-up among `usable` that reads one such document by its number."""
    return {prefix: tuple(n for n in READERS[prefix] if n in usable) for prefix in READERS}


@cache
def _required(args: type[BaseModel]) -> tuple[str, ...]:
    """A tool's required arguments, read from its schema once (routing runs on every turn)."""
    return tuple(str(f) for f in args.model_json_schema().get("required") or [])


def _spans(text: str) -> list[tuple[int, int]]:
    """Where the parts of `text` lie, the words that break them left out; empty parts dropped."""
    cuts = [0, *(x for m in PART_BREAK.finditer(text) for x in (m.start(), m.end())), len(text)]
    spans = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return [(a, b) for a, b in spans if re.search(r"\w", text[a:b])]


def _calls(messages: Sequence[dict[str, Any]]) -> list[tuple[str, bool]] | None:
    """(name, writes) of each call made since the user spoke, refused for good or run (`steps.calls_made`); None
    when code sent the last round's every call back (the model looks first, or splits its routes)."""
    if last_round_sent_back(messages):
        return None
    return [(name, is_write(name)) for name, _ in calls_made(messages)]

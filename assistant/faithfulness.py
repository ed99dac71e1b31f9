"""Faithfulness: statements in an answer that the turn's own tool results contradict.

The grounding check only asks whether each number of an answer appears somewhere in the results; a small model
passes it while saying "on credit hold" of a customer the result says is not, or quoting another figure of the
result as the credit limit. This checker reads three kinds of statement, by a small vocabulary mapped to result
keys and to the labels of the tools' fact sentences (tools/facts.py), never by examples:

- a state: on or not on (credit) hold, a draft's or an order's status word, for the record the sentence names or
  the only record of that kind this turn;
- a figure next to a label ("credit limit", "on hand", "reserved", ...) whose value is none of the values the
  results give that label;
- a claim of none ("no shortages", "nothing pending") when the results list some, or when nothing this turn looked.

It leans towards silence: a hedged sentence ("once you confirm it will be executed"), a number near two labels,
or a record it cannot tell apart are left alone. A false alarm teaches people to ignore the real ones.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from core.masterdata.phrases import SIZE
from core.numbering import (
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    PAYMENT,
    PURCHASE_ORDER,
    SALES_ORDER,
    SHIPMENT,
    SUPPLIER_INVOICE,
    TRANSFER,
    mention_pattern,
)
from tools import facts as fact

Kind = Literal["state", "figure", "none"]


@dataclass(frozen=True)
class Contradiction:
    """What the answer said, what the results say instead, and about which label and record."""

    kind: Kind
    said: str  # the answer's words
    records_say: str  # what this turn's results say, in words
    label: str  # "credit hold", "status", "credit limit", "shortage", ...
    record: str | None = None  # the record it is about, when one is known
    facts: tuple[str, ...] = ()  # the results' fact sentences behind it, quoted in the correction

    def __str__(self) -> str:
        about = f" ({self.record})" if self.record else ""
        return f"{self.label}{about}: said '{self.said}'; the records say {self.records_say}"


# -- the vocabulary ---------------------------------------------------------------------------------------------

HEDGE = re.compile(
    r"\?|\b(?:if|once|when|after|before|would|will|until|unless|should|could|might|may|whether|can|cannot|"
    r"can't|must|need|needs|requires?|to be|be)\b",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(?:not|no|never|nothing|none|yet|no longer|neither|nor)\b|n't\b", re.IGNORECASE)
ON_HOLD = re.compile(r"\b(?:on|under)\s+(?:a\s+)?(?:credit\s+)?hold\b", re.IGNORECASE)
NO_HOLD = re.compile(r"\b(?:no|not\s+any)\s+(?:credit\s+)?holds?\b|\boff\s+(?:credit\s+)?hold\b", re.IGNORECASE)


@dataclass(frozen=True)
class StatusWord:
    """A status as an answer words it, the record kind it is said of, and the stored statuses that agree."""

    pattern: re.Pattern[str]
    name: str
    of: Literal["draft", "order"]
    agrees: frozenset[str]
    negatable: bool = True  # a "not" before it turns it into another claim, which we leave alone


def _word(
    pattern: str, name: str, of: Literal["draft", "order"], agrees: Iterable[str], negatable: bool = True
) -> StatusWord:
    return StatusWord(re.compile(pattern, re.IGNORECASE), name, of, frozenset(agrees), negatable)


STATUS_WORDS = (
    _word(r"\bexecuted\b", "executed", "draft", {"executed"}),
    _word(r"\bapproved\b", "approved", "draft", {"approved", "executed"}),
    _word(
        r"\b(?:pending|awaiting|waiting for|sent for|submitted for)\s+(?:\w+\s+)?approval\b",
        "pending approval",
        "draft",
        {"pending_approval"},
    ),
    _word(
        r"\bunconfirmed\b|\bnot\s+(?:yet\s+)?(?:been\s+)?confirmed\b|\bawaiting\s+(?:your\s+)?confirmation\b"
        r"|\b(?:is|it's|remains|only|still|just)\s+(?:only\s+|still\s+|just\s+)?a\s+preview\b",
        "preview, not confirmed",
        "draft",
        {"unconfirmed"},
        negatable=False,
    ),
    _word(
        r"\bconfirmed\b(?!\s+that)",
        "confirmed",
        "draft",
        {"pending_approval", "approved", "executed", "rejected", "blocked", "failed", "expired", "cancelled"},
    ),
    _word(  # an order confirmed: still confirmed, or shipped or invoiced since; not on hold, cancelled or a draft
        r"\bconfirmed\b(?!\s+that)",
        "confirmed",
        "order",
        {"confirmed", "partially_shipped", "invoiced"},
    ),
    _word(r"\brejected\b", "rejected", "draft", {"rejected"}),
    _word(r"\bblocked\b", "blocked", "draft", {"blocked"}),
    _word(
        r"\b(?:is|are|was|were|been|has|have)\s+(?:\w+\s+)?shipped\b",
        "shipped",
        "order",
        {"partially_shipped", "invoiced"},
    ),
    _word(r"\b(?:is|are|was|were|been)\s+(?:\w+\s+)?(?:backordered|on\s+backorder)\b", "backordered", "order", set()),
)


@dataclass(frozen=True)
class Term:
    """A label as answers word it, the result keys that give its values, and the fact label that states it."""

    pattern: re.Pattern[str]
    label: str
    keys: frozenset[str]


def _term(pattern: str, label: str, *keys: str) -> Term:
    return Term(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), label, frozenset(keys))


TERMS = (
    _term(r"credit\s+limits?|limits?", fact.CREDIT_LIMIT, "credit_limit"),
    _term(r"exposure", fact.EXPOSURE, "exposure"),
    _term(
        r"(?:open\s+|outstanding\s+)?receivables?|(?:outstanding|unpaid)\s+invoices|owes?|owing",
        fact.OPEN_RECEIVABLES,
        "open_receivables",
    ),
    _term(r"open\s+orders?", fact.OPEN_ORDERS, "open_orders"),
    _term(
        r"available(?:\s+to\s+promise)?|atp|left|headroom|remaining",
        "available",
        "available",
        "available_now",
        "available_on_date",
        "total_available",
    ),
    _term(r"in\s+stock", "in stock", "available", "available_now", "available_on_date", "total_available", "on_hand"),
    _term(r"on[-\s]hand|physically", fact.ON_HAND, "on_hand"),
    _term(r"reserved|allocated", fact.RESERVED, "reserved"),
    _term(r"back[-\s]?order(?:ed|s)?|on\s+backorder", fact.BACKORDERED, "backordered", "backordered_units"),
    _term(r"incoming|inbound|on\s+order|arriving|due\s+in|on\s+the\s+way", fact.INCOMING, "incoming"),
    _term(  # not a count of cases ("3 open shortage cases")
        r"short(?:age|ages|fall)?(?!\s+(?:exception\s+)?(?:cases?|exceptions?)\b)|missing|more\s+units?",
        fact.SHORTAGE,
        "short",
    ),
    _term(r"ordered", "ordered", "quantity"),
    _term(r"shipped", "shipped", "shipped"),
    _term(r"backlog", fact.BACKLOG, "backlog_value", "backlog_lines"),
    _term(r"inventory(?:\s+value)?|stock\s+value", fact.INVENTORY_VALUE, "inventory_value"),
    _term(r"revenue|sales(?!\s+orders?)", fact.REVENUE, "revenue"),
    _term(r"margin", fact.MARGIN, "margin_pct"),
    _term(r"fill[-\s]rate", fact.FILL_RATE, "fill_rate_pct"),
    _term(r"on[-\s]time(?:\s+shipping)?", fact.ON_TIME, "on_time_pct"),
    _term(r"(?:inventory\s+)?turns", "inventory turns", "inventory_turns"),
)


@dataclass(frozen=True)
class NoneClaim:
    """A claim that there are none of something, and what the results must show to allow it."""

    pattern: re.Pattern[str]
    what: str  # the words of the correction: "open shortage cases"
    case_type: str | None  # a type of exception case; None: any case ("exceptions") or approvals
    approvals: bool = False


def _none(pattern: str, what: str, case_type: str | None = None, approvals: bool = False) -> NoneClaim:
    return NoneClaim(re.compile(pattern, re.IGNORECASE), what, case_type, approvals)


NONE_CLAIMS = (
    _none(
        r"\bno\s+(?:open\s+|current\s+|active\s+)?shortages?\b|\bnothing\s+(?:is\s+)?short\b",
        "shortage cases",
        "shortage",
    ),
    _none(r"\bno\s+(?:open\s+|current\s+|active\s+)?credit\s+holds\b", "credit hold cases", "credit_hold"),
    _none(r"\bno\s+(?:open\s+|current\s+)?price\s+deviations?\b", "price deviation cases", "price_deviation"),
    _none(
        r"\bno\s+(?:open\s+|current\s+)?late\s+(?:supplier|deliver|purchase)\w*", "late supplier cases", "late_supplier"
    ),
    _none(
        r"\bno\s+(?:open\s+|current\s+|active\s+|pending\s+)?(?:exception\s+)?(?:cases|exceptions)\b"
        r"|\bno\s+(?:open\s+)?exception\s+cases?\b",
        "exception cases",
    ),
    _none(
        r"\bnothing\s+(?:is\s+)?(?:pending|waiting|to\s+(?:approve|sign\s+off))\b"
        r"|\bno\s+(?:pending\s+)?approvals?(?:\s+(?:pending|waiting))?\b|\bno\s+drafts?\s+(?:are\s+|is\s+)?(?:pending|waiting)\b"
        r"|\bno\s+pending\b",
        "drafts waiting for approval",
        approvals=True,
    ),
)

ACTIVE_CASE = {"open", "assigned"}
NUMBER = re.compile(r"(?<![\w.-])(?P<cur>[$€£]\s?)?-?\d[\d,]*(?:\.\d+)?(?P<pct>\s?%)?")
CURRENCY_BEFORE = re.compile(r"\b[A-Z]{3}\s*$")
CURRENCY_AFTER = re.compile(r"^\s*[A-Z]{3}\b")
DATE_OR_TIME = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?(?!\d)|\b\d{1,2}:\d{2}\b")
LINE_NUMBER = re.compile(r"\b(?:line|lines|#)\s*\d+\b", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z$€£%]+|\d[\d,.]*")
CLAUSE = re.compile(r"[;()\n]|,\s|\.\s|\s[-\u2013\u2014]\s|\bbut\b|\bwhile\b|\bwhereas\b", re.IGNORECASE)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
PART_OF = re.compile(r"\d[\d,.]*\s+of\s+(?:the\s+|them\s+|all\s+)?(\d[\d,.]*)", re.IGNORECASE)
BLOCKED_IF_CONFIRMED = "If confirmed: Blocked"
WINDOW = 3  # at most this many words between a figure and its label
RECORD_ID = mention_pattern(
    [SALES_ORDER, PURCHASE_ORDER, TRANSFER, INVOICE, SUPPLIER_INVOICE, PAYMENT, SHIPMENT, DRAFT, EXCEPTION_CASE]
)
FACT = re.compile(r"^(?P<head>[^:]+):\s(?P<value>.+)$")
NumberKind = Literal["money", "percent", "plain"]


# -- what the results say ---------------------------------------------------------------------------------------


@dataclass
class Record:
    """One record the results describe, with the states the checker compares."""

    id: str
    kind: Literal["customer", "order", "draft"]
    names: tuple[str, ...]
    status: str | None = None
    on_hold: bool | None = None
    backordered: bool = False
    blocked_if_confirmed: bool = False  # a preview the policy would block: "it is blocked" is fair


@dataclass
class Results:
    """This turn's results, indexed for the checker."""

    records: dict[str, Record] = field(default_factory=dict)
    values: dict[str, set[tuple[NumberKind, Decimal]]] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)
    cases: list[tuple[str, str]] = field(default_factory=list)  # (type, status) of each listed case
    case_counts: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (status, type) -> count facts
    open_case_figures: list[int] = field(default_factory=list)  # open exceptions from KPIs
    approvals: list[int] = field(default_factory=list)  # how many wait, each time a tool looked
    # (label, figure) pairs the tools' own texts state, e.g. a decision's "exposure would reach USD 3,361.39":
    # an answer quoting one is quoting, not mislabelling
    stated: set[tuple[str, Decimal]] = field(default_factory=set)
    percents: set[Decimal] = field(default_factory=set)  # the shares the tools' own texts give ("118% of it")

    def of_kind(self, kind: str) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind]


def index_results(results: list[Any]) -> Results:
    """What the checker needs from the results: records and their states, labelled values, fact sentences."""
    out = Results()
    for result in results:
        for parent, node in _nodes(result):
            _read_node(out, parent, node)
    return out


def _nodes(node: Any, parent: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield parent, node
        for key, value in node.items():
            yield from _nodes(value, str(key))
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value, parent)


def _read_node(out: Results, parent: str, node: dict[str, Any]) -> None:
    _read_record(out, parent, node)
    for key, value in node.items():
        if key == "facts" and isinstance(value, list):
            out.facts += [str(f) for f in value]
            for sentence in value:
                _read_fact(out, str(sentence))
        elif key == "incoming" and isinstance(value, list):
            quantities = [q["quantity"] for q in value if isinstance(q, dict) and isinstance(q.get("quantity"), int)]
            for q in [*quantities, sum(quantities)]:
                _add(out, "incoming", "plain", Decimal(q))
        elif isinstance(value, str) and not _is_decimal(value):
            _read_text(out, value)
        elif isinstance(value, (int, str)) and not isinstance(value, bool):
            number = _number(value) if isinstance(value, int) or _is_decimal(value) else None
            if number is not None:
                _add(out, key, _kind_of(key, value), number)
                _add_projected(out, key, number)
    if parent == "waiting" and "draft" in node:
        return
    if "waiting" in node and isinstance(node.get("total"), int):
        out.approvals.append(node["total"])
    if isinstance(node.get("approvals_pending"), int):
        out.approvals.append(node["approvals_pending"])
    if isinstance(node.get("open_exceptions"), int):
        out.open_case_figures.append(node["open_exceptions"])
    if "case" in node and isinstance(node.get("type"), str) and isinstance(node.get("status"), str):
        out.cases.append((node["type"], node["status"]))


def _read_record(out: Results, parent: str, node: dict[str, Any]) -> None:
    if isinstance(node.get("on_hold"), bool) and isinstance(node.get("customer"), str):
        names = tuple(n for n in (node["customer"], node.get("name")) if isinstance(n, str) and n)
        _record(out, Record(node["customer"], "customer", names, on_hold=node["on_hold"]))
    elif isinstance(node.get("order"), str) and isinstance(node.get("status"), str):
        lines: list[Any] = node["lines"] if isinstance(node.get("lines"), list) else []
        backordered = any(isinstance(ln, dict) and (ln.get("backordered") or 0) > 0 for ln in lines)
        status = node["status"]
        _record(out, Record(node["order"], "order", (node["order"],), status, status == "on_hold", backordered))
    elif isinstance(node.get("draft"), str) and (isinstance(node.get("status"), str) or parent == "waiting"):
        status = node["status"] if isinstance(node.get("status"), str) else "pending_approval"
        would_block = str(node.get("decision", "")).startswith(BLOCKED_IF_CONFIRMED)
        _record(out, Record(node["draft"], "draft", (node["draft"],), status, blocked_if_confirmed=would_block))


def _record(out: Results, record: Record) -> None:
    out.records[record.id] = record


COUNT_FACT = re.compile(r"^(?P<status>open|assigned|resolved|dismissed) (?P<type>[a-z ]+?) cases(?: in \w+)?$")


def _read_fact(out: Results, sentence: str) -> None:
    """A fact's value under its label; a case count also says what was looked at."""
    parsed = FACT.match(sentence.rstrip("."))
    if parsed is None:
        return
    head, value = parsed["head"].strip(), parsed["value"]
    counted = COUNT_FACT.match(head.lower())
    if counted is not None and value.strip().isdigit():
        case_type = None if counted["type"] == "exception" else counted["type"].replace(" ", "_")
        out.case_counts[(counted["status"], case_type)] = int(value)
    for term in TERMS:
        if term.label in head.lower():
            for kind, number in _numbers(LINE_NUMBER.sub(" ", DATE_OR_TIME.sub(" ", value))):
                out.values.setdefault(term.label, set()).add((kind, number))


def _read_text(out: Results, text: str) -> None:
    """The labelled figures a tool's sentence states (a decision, a summary), read as the checker reads answers."""
    if not NUMBER.search(text):
        return
    out.percents |= {number for kind, number in _numbers(text) if kind == "percent"}
    for sentence in _sentences(text):
        cleaned = _blanked(sentence, *NOT_FIGURES)
        out.stated |= {(term.label, number) for term, number, _, _ in _pairs(cleaned)}


def _add(out: Results, key: str, kind: NumberKind, number: Decimal) -> None:
    for term in TERMS:
        if key in term.keys:
            out.values.setdefault(term.label, set()).add((kind, number))


# A figure a result gives as what a label's value would become ("exposure_if_released"): not the value, but an answer
# that quotes it ("releasing would make the exposure 11769.47 USD") says what the result says.
PROJECTED = re.compile(r"(?P<key>[a-z_]+?)_(?:if|after|would|projected)(?:_[a-z_]+)?")


def _add_projected(out: Results, key: str, number: Decimal) -> None:
    projected = PROJECTED.fullmatch(key)
    if projected is None:
        return
    out.stated |= {(term.label, number) for term in TERMS if projected["key"] in term.keys}


def _kind_of(key: str, value: int | str) -> NumberKind:
    if key.endswith("_pct"):
        return "percent"
    if isinstance(value, str) and key not in ("inventory_turns", "approval_median_hours"):
        return "money"  # amounts are Decimals, shown to the model as strings; quantities are ints
    return "plain"


def _is_decimal(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(?:\.\d+)?", text))


def _number(value: int | str) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _numbers(text: str) -> list[tuple[NumberKind, Decimal]]:
    found = []
    for match in NUMBER.finditer(text):
        value = _number(match.group().strip("$€£% "))
        if value is not None:
            found.append((_number_kind(text, match), value))
    return found


def _number_kind(text: str, match: re.Match[str]) -> NumberKind:
    if match["pct"]:
        return "percent"
    if match["cur"] or CURRENCY_BEFORE.search(text[: match.start()]) or CURRENCY_AFTER.match(text[match.end() :]):
        return "money"
    return "plain"


# -- the checker ------------------------------------------------------------------------------------------------


def contradictions(answer: str, results: list[Any], question: str = "") -> list[Contradiction]:
    """Every statement of `answer` that this turn's `results` contradict (see the module's docstring)."""
    if not answer.strip():
        return []
    seen = index_results(results)
    found: list[Contradiction] = []
    asked = {n for _, n in _numbers(DATE_OR_TIME.sub(" ", question))}
    found += _premise_claims(answer, seen, question)
    for sentence in _sentences(answer):
        found += _state_claims(sentence, seen)
        found += _figure_claims(sentence, seen, asked)
        found += _none_claims(sentence, seen)
        found += _unknown_claims(sentence, seen)
    return list(dict.fromkeys(found))


def correction(found: list[Contradiction]) -> str:
    """What code appends to an answer it contradicts: the results' own sentences behind the contradicted labels."""
    if not found:
        return ""
    quoted = list(dict.fromkeys(f for c in found for f in c.facts))
    unquoted = list(dict.fromkeys(c.records_say for c in found if not c.facts))
    said = " ".join(quoted + [f"{text[:1].upper()}{text[1:]}." for text in unquoted])
    unlooked = all(c.kind == "none" and not c.facts and c.records_say.startswith("not looked") for c in found)
    return f"Check: {said}" if unlooked else f"Check: the records say: {said}"


def _sentences(answer: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(answer) if s.strip()]


# (a) states

YES = re.compile(r"^\W*(?:yes|yep|yeah|yup|correct|that's right|that is right|right|indeed)\b\W*", re.IGNORECASE)
# A question's tag: "SO-2289 is confirmed, isn't it?", "... went through, right?".
TAG = re.compile(
    r"[,\s]*\b(?:(?:is|was|are|were|has|have|did|does|do)n't (?:it|they|he|she)|right|correct|yes|no|ok|true)\W*$",
    re.IGNORECASE,
)
OPENS_QUESTION = re.compile(r"^\s*(?:is|are|was|were|has|have|did|does|do)\s+", re.IGNORECASE)
NO = "No"


def _premise_claims(answer: str, seen: Results, question: str) -> list[Contradiction]:
    """A yes to a question whose claim the results deny: "SO-2289 is confirmed, isn't it?" answered "Yes, SO-2289
    is on hold" (the answer's own sentence is true; its yes is not). A question in the negative ("isn't it on
    hold?") is left alone: its yes and no are read either way."""
    yes = YES.match(answer)
    claim = _claim_of(question) if yes is not None else None
    if yes is None or claim is None:
        return []
    said = f"{yes.group(0).strip(' ,.!:')} to '{question.strip()}'"
    return [Contradiction("state", said, c.records_say, c.label, c.record, c.facts) for c in _state_claims(claim, seen)]


def _claim_of(question: str) -> str | None:
    """A yes-or-no question as the statement a yes affirms ("Is SO-2289 on hold?" -> "SO-2289 on hold"); None when
    it is in the negative."""
    last = [s for s in re.split(r"(?<=[.!])\s+", question.strip()) if s.strip()][-1:]
    claim = OPENS_QUESTION.sub("", TAG.sub("", last[0] if last else "")).strip(" ?")
    return None if not claim or NEGATION.search(claim) else claim


def answered_no(answer: str, results: list[Any], question: str) -> str:
    """The answer with its yes made a no when the results deny the question's claim and the rest of the answer
    agrees with them ("Yes, SO-2289 is on hold ..." to "is it confirmed?" is "No, SO-2289 is on hold ..."); as
    it was otherwise (then the checker flags it)."""
    yes = YES.match(answer)
    if yes is None or not _premise_claims(answer, index_results(results), question):
        return answer
    rest = answer[yes.end() :]
    if contradictions(rest, results):
        return answer
    return f"{NO}, {rest}"


def _state_claims(sentence: str, seen: Results) -> list[Contradiction]:
    return _hold_claims(sentence, seen) + _status_claims(sentence, seen)


def _hedged(sentence: str, at: int) -> bool:
    """A condition, a future or a modal before the claim, or in its clause: "once you confirm, it will be executed"."""
    end = next((m.start() for m in CLAUSE.finditer(sentence, at)), len(sentence))
    return bool(HEDGE.search(sentence[:end]))


def _clause_at(sentence: str, start: int, end: int) -> str:
    """The clause around a claim, as the answer said it."""
    starts = [m.end() for m in CLAUSE.finditer(sentence) if m.end() <= start]
    stop = next((m.start() for m in CLAUSE.finditer(sentence, end)), len(sentence))
    return sentence[max(starts, default=0) : stop].strip()


def _hold_claims(sentence: str, seen: Results) -> list[Contradiction]:
    claims = [(m, not _negated(sentence, m.start())) for m in ON_HOLD.finditer(sentence)]
    claims += [(m, False) for m in NO_HOLD.finditer(sentence)]
    claims = [(m, held) for m, held in claims if not _hedged(sentence, m.start())]
    holders = [r for r in seen.records.values() if r.on_hold is not None]
    found = []
    for match, held in claims:
        targets = _targets(sentence, match.start(), holders)
        if not targets or any(t.on_hold == held for t in targets):
            continue
        found.append(
            Contradiction(
                "state",
                _clause_at(sentence, match.start(), match.end()),
                "; ".join(_hold_words(t) for t in targets),
                fact.CREDIT_HOLD if targets[0].kind == "customer" else fact.STATUS,
                targets[0].id if len(targets) == 1 else None,
                tuple(
                    _facts_about(seen, t, fact.CREDIT_HOLD if t.kind == "customer" else fact.STATUS) for t in targets
                ),
            )
        )
    return found


def _hold_words(record: Record) -> str:
    if record.kind == "customer":
        return f"{record.id} is {'' if record.on_hold else 'not '}on credit hold"
    return f"{record.id} status is {fact.status_words(record.status or '')}"


def _status_claims(sentence: str, seen: Results) -> list[Contradiction]:
    found = []
    claimed: dict[str, set[str]] = {}
    for word in STATUS_WORDS:
        for match in word.pattern.finditer(sentence):
            if (word.negatable and _negated(sentence, match.start())) or _hedged(sentence, match.start()):
                continue
            targets = _targets(sentence, match.start(), seen.of_kind(word.of))
            if len(targets) != 1:
                continue
            record = targets[0]
            claimed.setdefault(record.id, set()).add(word.name)
            if _agrees(word, record):
                continue
            found.append(
                Contradiction(
                    "state",
                    _clause_at(sentence, match.start(), match.end()),
                    f"{record.id} status is {fact.status_words(record.status or '')}",
                    fact.STATUS,
                    record.id,
                    (_facts_about(seen, record, fact.STATUS),),
                )
            )
    return found


def _agrees(word: StatusWord, record: Record) -> bool:
    if word.name == "backordered":
        return record.backordered
    if word.name == "blocked" and record.blocked_if_confirmed:
        return True
    return record.status in word.agrees


def _negated(sentence: str, at: int) -> bool:
    """A negation among the few words before a claim, in its own clause: "is not on hold", "has not been executed
    yet" — not an answer's "No:" or "No," before it ("No: FRONTIER5 is on credit hold")."""
    clause = re.split(r"[:;,()\n]|\.\s", sentence[:at])[-1]
    before = " ".join(clause.split()[-4:])
    return bool(NEGATION.search(before))


def _targets(sentence: str, at: int, candidates: list[Record]) -> list[Record]:
    """The record a claim is about: the nearest one the sentence names (before the claim first), else all the
    candidates this turn (the caller decides whether several is too many)."""
    named = [(pos, r) for r in candidates for pos in _mentions(sentence, r)]
    if not named:
        others = [m for m in RECORD_ID.findall(sentence) if m not in {r.id for r in candidates}]
        return [] if others else candidates  # a sentence about another record is not about the only one here
    before = [(pos, r) for pos, r in named if pos < at]
    _, record = max(before, key=lambda p: p[0]) if before else min(named, key=lambda p: p[0])
    return [record]


def _mentions(sentence: str, record: Record) -> list[int]:
    positions = []
    for name in record.names:
        flags = 0 if name.isupper() else re.IGNORECASE
        positions += [m.start() for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence, flags)]
    return positions


def _facts_about(seen: Results, record: Record, label: str) -> str:
    for sentence in seen.facts:
        if sentence.startswith(f"{record.id} ") and label in sentence:
            return sentence
    return f"{_hold_words(record)}." if label == fact.CREDIT_HOLD else f"{record.id} status: {record.status}."


# (b) figures


def _figure_claims(sentence: str, seen: Results, asked: set[Decimal]) -> list[Contradiction]:
    found = []
    cleaned = _blanked(sentence, *NOT_FIGURES)
    cuts = [0, *(p for m in CLAUSE.finditer(cleaned) for p in m.span()), len(cleaned)]
    for start, end in zip(cuts[::2], cuts[1::2], strict=True):
        for term, number, kind, (lo, hi) in _pairs(cleaned[start:end]):
            said = sentence[start + lo : start + hi]
            values = seen.values.get(term.label, set())
            if not values or number in asked or _matches(number, kind, values) or (term.label, number) in seen.stated:
                continue
            if kind == "plain" and not any(k == "plain" for k, _ in values):
                continue  # a count next to an amount's label ("2 open orders") is not that amount
            if kind == "money" and not any(k == "money" for k, _ in values):
                continue
            if kind == "percent" and number in seen.percents:
                continue  # a share the results' own words give ("would make it USD 5,001.63, 294% of it")
            quoted = tuple(f for f in seen.facts if term.label in _head(f))[:4]
            found.append(Contradiction("figure", said.strip(), _values_words(term, values), term.label, None, quoted))
    return found


def _head(sentence: str) -> str:
    """A fact's label part, before its colon, in lower case."""
    parsed = FACT.match(sentence.rstrip("."))
    return parsed["head"].lower() if parsed else ""


RECORD_OR_SKU = re.compile(r"\b[A-Z]{1,4}-\d+[A-Z0-9-]*\b")
NOT_FIGURES = (RECORD_OR_SKU, DATE_OR_TIME, LINE_NUMBER, SIZE)  # digits that are no figure of the results


def _blanked(sentence: str, *patterns: re.Pattern[str]) -> str:
    """The sentence with record ids, SKUs, dates, line numbers and sizes (digits that are not figures) blanked out as
    one letter-word each, keeping every position, so that what was said can be quoted from the sentence itself."""
    for pattern in patterns:
        sentence = pattern.sub(lambda m: "X" * len(m.group()), sentence)
    return sentence


def _pairs(clause: str) -> list[tuple[Term, Decimal, NumberKind, tuple[int, int]]]:
    """Each figure with its label, when each is the other's nearest within a few words."""
    words = [(m.start(), m.end()) for m in WORD.finditer(clause)]
    labels = [(term, m) for term in TERMS for m in term.pattern.finditer(clause)]
    labels = [
        (t, m)
        for t, m in labels
        if not any(
            m != n and n.start() <= m.start() and m.end() <= n.end() and len(n.group()) > len(m.group())
            for _, n in labels
        )
    ]
    wholes = {m.start(1) for m in PART_OF.finditer(clause)}  # "2 of 4 shipped": 4 is the whole, 2 the figure
    numbers = [(m, _number_kind(clause, m)) for m in NUMBER.finditer(clause) if m.start() not in wholes]
    gap: dict[tuple[int, int], int] = {}
    for i, (_, lm) in enumerate(labels):
        for j, (nm, _) in enumerate(numbers):
            lo, hi = (lm.end(), nm.start()) if lm.end() <= nm.start() else (nm.end(), lm.start())
            between = sum(_weight(clause[s:e]) for s, e in words if s >= lo and e <= hi)
            if between <= WINDOW:
                gap[(i, j)] = between
    pairs = []
    for (i, j), d in gap.items():
        best_for_number = [g for (a, b), g in gap.items() if b == j and labels[a][0].label != labels[i][0].label]
        best_for_label = [g for (a, b), g in gap.items() if a == i and b != j]
        if all(d < g for g in best_for_number) and all(d < g for g in best_for_label):
            nm, kind = numbers[j]
            value = _number(nm.group().strip("$€£% "))
            if value is not None:
                lm = labels[i][1]
                pairs.append((labels[i][0], value, kind, (min(lm.start(), nm.start()), max(lm.end(), nm.end()))))
    return pairs


CONNECTORS = {"and", "with", "plus", "or", "versus", "vs", "against"}


def _weight(word: str) -> int:
    """A word between a figure and a label; a connector ("and", "with") counts double, since it usually starts
    the next figure's phrase: in "USD 20,000.00 and an exposure of" the amount is not the exposure."""
    return 2 if word.lower() in CONNECTORS else 1


def _matches(number: Decimal, kind: NumberKind, values: set[tuple[NumberKind, Decimal]]) -> bool:
    """Equal, or equal once the result's value is rounded as the answer rounded it ("66.7%" for 66.67)."""
    places = max(0, -int(number.as_tuple().exponent)) if isinstance(number.as_tuple().exponent, int) else 0
    quantum = Decimal(1).scaleb(-places)
    return any(v == number or v.quantize(quantum, ROUND_HALF_UP) == number for _, v in values)


def _values_words(term: Term, values: set[tuple[NumberKind, Decimal]]) -> str:
    shown = sorted({v for _, v in values})[:6]
    return f"{term.label}: " + ", ".join(f"{v:,f}" for v in shown)


# (c) claims of none


def _none_claims(sentence: str, seen: Results) -> list[Contradiction]:
    found = []
    for claim in NONE_CLAIMS:
        match = claim.pattern.search(sentence)
        if match is None or _hedged(sentence, match.start()):
            continue
        looked, some = _approvals(seen) if claim.approvals else _cases(seen, claim.case_type)
        if looked and not some:
            continue
        says = f"open {claim.what}: {some}" if looked else f"not looked up this turn: {claim.what}"
        label = fact.WAITING_FOR_YOU if claim.approvals else claim.what
        quoted = tuple(f for f in seen.facts if _counts(f, claim))[:3]
        said = _clause_at(sentence, match.start(), match.end())
        found.append(Contradiction("none", said, says, label, None, quoted if looked else ()))
    return found


# "I don't know that customer", "I can't find the order": said while this turn's results describe one.
UNKNOWN = re.compile(
    r"\b(?:don'?t|do\s+not|can'?t|cannot|couldn'?t|could\s+not)\s+(?:know|find|locate|see)\s+"
    r"(?:that|this|the|a|any|your)?\s*(?P<kind>customer|order)s?\b"
    r"|\b(?:unknown|no\s+such)\s+(?P<kind2>customer|order)\b",
    re.IGNORECASE,
)


def _unknown_claims(sentence: str, seen: Results) -> list[Contradiction]:
    """A claim not to know a customer or an order the turn's results describe."""
    match = UNKNOWN.search(sentence)
    if match is None:
        return []
    kind = (match.group("kind") or match.group("kind2")).lower()
    found = seen.of_kind("customer" if kind == "customer" else "order")
    if not found:
        return []
    record = found[0]
    quoted = tuple(f for f in seen.facts if f.startswith(f"{record.id} "))[:3]
    said = _clause_at(sentence, match.start(), match.end())
    return [Contradiction("none", said, f"{kind} {record.id} was found this turn", kind, record.id, quoted)]


def _approvals(seen: Results) -> tuple[bool, int]:
    return bool(seen.approvals), max(seen.approvals, default=0)


def _cases(seen: Results, case_type: str | None) -> tuple[bool, int]:
    counts = {key: n for key, n in seen.case_counts.items() if key[0] in ACTIVE_CASE and key[1] in (None, case_type)}
    listed = sum(1 for t, s in seen.cases if s in ACTIVE_CASE and case_type in (None, t))
    kpis = seen.open_case_figures if case_type is None else []
    looked = bool(counts) or bool(kpis)
    exact = [n for (_, t), n in counts.items() if t == case_type]
    return looked, max([listed, *exact, *kpis])


def _counts(sentence: str, claim: NoneClaim) -> bool:
    head = sentence.split(":", 1)[0].lower()
    if claim.approvals:
        return fact.WAITING_FOR_YOU in head or fact.APPROVALS_PENDING in head
    kind = (claim.case_type or "exception").replace("_", " ")
    return kind in head or fact.OPEN_CASES in head

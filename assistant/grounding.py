"""Grounding: which records an answer relied on, which of its numbers no tool result supports, and which of
its statements the results contradict.

The check is mechanical on purpose. Every number in an answer must appear in a tool result of
the same turn (or in the user's own message); an answer that quotes "40 available" when the
tool said 12 is flagged, whoever wrote it. A date supports only the same date, not the numbers
it is written with. A number that appears somewhere but under another label, or a state the results
deny, is a contradiction (assistant/faithfulness.py).
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from assistant.faithfulness import FACT, RECORD_ID, RECORD_OR_SKU, Contradiction, contradictions

SKU_KEYS = ("sku",)
# A number standing alone or with a unit ("5x", "40pcs"), never the first digits of a code that goes on with letters
# and digits (a tracking number "1Z999AA1…" gives no count of 1).
NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?(?![A-Za-z]+\d)")
DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?!\d)")


@dataclass(frozen=True)
class Grounding:
    sources: list[str]  # the records the answer names (none when it names none)
    unsupported_numbers: list[str]
    contradictions: list[Contradiction] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported_numbers and not self.contradictions


def record_ids(results: Iterable[Any]) -> list[str]:
    """Ids of the records the tool results came from, in order of first appearance."""
    found: dict[str, None] = {}
    for result in results:
        for key, value in leaves(result):
            if key in SKU_KEYS and isinstance(value, str):
                found.setdefault(value)
            if isinstance(value, str):
                for match in RECORD_ID.findall(value):
                    found.setdefault(match)
    return list(found)


def check(answer: str, results: list[Any], question: str = "") -> Grounding:
    """The records the answer names, the numbers and dates in it that nothing this turn supports, and what in it
    the results contradict."""
    ids = record_ids(results)
    cited = [i for i in ids if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", answer)]
    shown = json.dumps(results, default=str)
    known_dates = set(DATE.findall(shown)) | set(DATE.findall(question))
    known = _numbers_in(shown) | _numbers_in(question)
    text = RECORD_ID.sub(" ", answer)
    for sku in ids:
        text = text.replace(sku, " ")
    dates = [d for d in dict.fromkeys(DATE.findall(text)) if d not in known_dates]
    unsupported = dates + [n for n in dict.fromkeys(NUMBER.findall(DATE.sub(" ", text))) if _value(n) not in known]
    return Grounding(
        sources=cited, unsupported_numbers=unsupported, contradictions=contradictions(answer, results, question)
    )


def _numbers_in(text: str) -> set[Decimal]:
    """The numbers of a text, dates left out: a date supports only itself, not "20" by 2026-11-20."""
    values = {_value(n) for n in NUMBER.findall(DATE.sub(" ", text))}
    return {v for v in values if v is not None}


def _value(token: str) -> Decimal | None:
    try:
        return Decimal(token.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def leaves(node: Any, key: str = "") -> Iterable[tuple[str, Any]]:
    """Every scalar in a JSON value with the name of the field holding it (a list's items: the list's name)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from leaves(v, key)
    else:
        yield key, node


RECAP_PER_RESULT = 3  # a result's first facts are its headline ones (tools/facts.py orders them so)
RECAP_MOST = 6


def recap(results: list[dict[str, Any]], answer: str, *, with_records: bool = False, request: str = "") -> list[str]:
    """The read results' headline facts that the answer does not already state, in code's words, so that what a
    turn of several steps looked up reaches the user as the records say it, whatever the model left out.

    Each result gives its first facts the answer left out: one it stated takes no room, so an answer that said two
    orders' status and total still gets each order's lines. See `_stated` for what an answer states; the records
    the `request` names count as named."""
    said = {_value(n) for n in NUMBER.findall(DATE.sub(" ", RECORD_ID.sub(" ", answer)))}
    named = {r.upper() for r in RECORD_ID.findall(answer)}
    asked = {r.upper() for r in RECORD_ID.findall(request)}
    out: list[str] = []
    each = max(RECAP_PER_RESULT, RECAP_MOST // max(len(results), 1))  # one result: as many facts as the recap holds
    for result in results:
        facts = [str(f) for f in result.get("facts") or []]
        untold = [
            f
            for n, f in enumerate(facts)
            if not _stated(f, answer, said, named, asked, with_records=with_records, headline=n == 0)
        ]
        out += [f for f in untold[:each] if f not in out]
    return out[:RECAP_MOST]


def _stated(
    fact: str,
    answer: str,
    said: set[Decimal | None],
    named: set[str],
    asked: set[str] | frozenset[str] = frozenset(),
    *,
    with_records: bool = False,
    headline: bool = False,
) -> bool:
    """Whether the answer already states the fact, or the fact tells nothing ("reserved at ATL: 0 units"; a result's
    `headline`, its first fact, tells something even at zero: "A-180 available to promise at ATL: 0 units").

    A fact is stated when the answer has every figure in it (its record ids and dates aside) and names the records
    it names that the request did not (`asked`): "USD 242.32 falling due" does not tell which invoice, SINV-3; a
    fact without figures, when the answer names every record it names and has the words of its value ("SO-2253
    status: confirmed.", not merely SO-2253; "Open exception cases: EX-1, EX-2." by its cases) or, naming none, has
    its sentence; `with_records`, also every record it names, asked or not (a briefing's cases: what the user opens
    next). `said` and `named` are the answer's figures and records."""
    bare = RECORD_OR_SKU.sub(" ", DATE.sub(" ", RECORD_ID.sub(" ", fact)))
    figures = {_value(n) for n in NUMBER.findall(bare)} - {None}
    records = {r.upper() for r in RECORD_ID.findall(fact)}
    if figures and figures <= {Decimal(0)} and not headline:
        return True
    if figures:
        told = figures <= said
    elif records:
        value = FACT.match(bare.strip())
        words = re.findall(r"[a-z]{3,}", value.group("value").lower()) if value else []
        told = records <= named and all(w in answer.lower() for w in words)
    else:
        told = fact.rstrip(".").lower() in answer.lower()
    unnamed = records - named
    return told and not (unnamed if with_records else unnamed - asked)

"""What the user's message names, told to the model in a short note, and what the conversation supports.

The core links the message (`core.masterdata.mentions`); this module renders the result for the model as
one system message placed right after the user's message, never among the leading system messages (the
local model caches that prefix), and gathers the evidence the argument check (`assistant.provenance`)
holds a tool call's values against: the user's words, what they resolved to, and earlier tool results.
"""

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from assistant.grounding import NUMBER, leaves
from core.masterdata.mentions import Linked, Mention, MentionKind
from core.masterdata.phrases import SIZE

Message = dict[str, Any]
NOTE_MENTIONS = 8  # a note names at most this many mentions: the model needs the ids, not an essay
# Result fields whose whole numbers are counts of stock: a quantity may come from them ("what it needs").
LINE_NUMBER = re.compile(r"\b(?:ln|line|li)\.?\s*#?\s*(\d{1,3})\b", re.IGNORECASE)
COUNT_FIELDS = re.compile(r"quantity|backordered|reserved|on_hand|available|short|incoming|needed|open|qty|total")


# Result fields that name a record by its code, sometimes followed by its name: the code is given as a value.
CODE_FIELDS = frozenset({"customer", "supplier", "warehouse", "from_warehouse", "to_warehouse", "sku", "entity"})


def key(value: object) -> str:
    """A value as it is compared: upper case, letters and digits only ("so-1042" = "SO1042", "v 200" = "V200")."""
    return re.sub(r"[^0-9A-Z]", "", str(value).upper())


STEM = 4  # the fewest letters two forms of one word share ("open", "opened")


def words_of(text: str) -> list[str]:
    """The words of a text as they are compared ("late_supplier" -> LATE, SUPPLIER)."""
    return [key(w) for w in re.findall(r"[A-Za-z]+", text)]


def same_word(a: str, b: str) -> bool:
    """Two forms of one word: an inflection or a cut ("SHORTAGES", "SHORT" of "SHORTAGE"; "APPROVE" of "APPROVAL"),
    as words of at least `STEM` letters that differ in their last letters only."""
    shared = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a == b or shared >= max(STEM, min(len(a), len(b)) - 1)


def says_in(words: Iterable[str], phrase: str) -> bool:
    """Whether `words` (`words_of` a text) hold every word of the phrase, in some form ("shortages" says "shortage");
    a word of two letters ("on" of "on_hold") says nothing alone."""
    wanted = [w for w in words_of(phrase) if len(w) > 2] or words_of(phrase)
    held = list(words)
    return bool(wanted) and all(any(same_word(w, u) for u in held) for w in wanted)


def _said(mention: Mention) -> str | None:
    """One mention in the note's words, or None when it tells the model nothing it cannot read itself."""
    quoted = f"'{mention.text}'"
    if mention.ambiguous:
        return f"{quoted} could be {_either(mention)} — ask which"
    if mention.kind == MentionKind.QUANTITY:
        if mention.of_sku and mention.unit == "x":
            return f"{quoted} = {mention.number} of {mention.of_sku} (one line)"
        return None if mention.text[:1].isdigit() else f"{quoted} = {mention.number}"
    if not mention.ids:
        if mention.kind == MentionKind.ITEM:
            return f"{quoted} is no SKU of ours"  # a typo, or a word like a refrigerant "R-410A": not a guess
        return f"{quoted}: no such {mention.kind.value} found" if mention.kind == MentionKind.DOCUMENT else None
    if mention.kind == MentionKind.DATE:
        return f"{quoted} = {' to '.join(mention.ids)}"
    if key(mention.text) == key(mention.ids[0]):
        return None
    return f"{quoted} = {mention.kind.value} {mention.ids[0]}"


def _either(mention: Mention) -> str:
    named = [f"{c} ({label})" if label else c for c, label in zip(mention.candidates, _labels(mention), strict=True)]
    return ", ".join(named[:-1]) + " or " + named[-1]


def _labels(mention: Mention) -> list[str]:
    return list(mention.labels) if len(mention.labels) == len(mention.candidates) else [""] * len(mention.candidates)


def note_for(linked: Linked | None) -> str | None:
    """The note for the model ("In this message: 'Dallas' = warehouse DAL; ..."), or None when it says nothing."""
    if linked is None:
        return None
    parts = [said for said in map(_said, linked.mentions) if said][:NOTE_MENTIONS]
    return f"In this message: {'; '.join(parts)}." if parts else None


def with_note(messages: list[Message], note: str | None) -> list[Message]:
    """The messages with the note right after the last user message (the current turn's)."""
    if note is None:
        return messages
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    at = users[-1] + 1 if users else len(messages)
    return [*messages[:at], {"role": "system", "content": note}, *messages[at:]]


# -- evidence ----------------------------------------------------------------------------------------------


@dataclass
class Evidence:
    """What a conversation supports as a tool argument: keys the user wrote or their words resolved to, counts
    and dates they gave, and what earlier tool results returned. `current` is the message being answered."""

    current: Linked | None = None
    keys: set[str] = field(default_factory=set)
    firm: set[str] = field(default_factory=set)  # resolved by linking or returned by a tool: not mere words
    said: set[str] = field(default_factory=set)  # of those, resolved from the user's words
    returned: list[frozenset[str]] = field(default_factory=list)  # each tool result's keys
    user_text: list[str] = field(default_factory=list)
    words: set[str] = field(default_factory=set)  # every word the user wrote (`words_of`)
    numbers: set[int] = field(default_factory=set)
    counts: set[int] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    today: str = ""  # a tool's result carries today's date everywhere ("available on 2026-12-06"): not a date given
    amounts: set[Decimal] = field(default_factory=set)  # every number the user wrote, decimals included ($12.50)
    # The records a value names ("Dallas" -> DAL): a model may name what the user wrote as a code by its name.
    resolve: Callable[[str], tuple[str, ...]] = field(default=lambda text: ())
    # The kinds of record a value names on its own ("EX-1": a document, "NA": an entity), to tell a value of the
    # wrong kind (a case number as a SKU) from one of the right kind.
    kinds: Callable[[str], frozenset[MentionKind]] = field(default=lambda text: frozenset())
    current_places: set[str] = field(default_factory=set)  # the warehouses, of any entity, the current message names

    def names_another_kind(self, value: object, wanted: frozenset[MentionKind]) -> bool:
        """The value, read on its own, names a record but none of the wanted kinds ("EX-1" for a SKU)."""
        named = self.kinds(value) if isinstance(value, str) else frozenset()
        return bool(named) and not named & wanted

    def names_a_given_record(self, value: object) -> bool:
        """The value resolves to a record the conversation gave: "Dallas" when the user wrote DAL."""
        return isinstance(value, str) and any(self.has_key(found) for found in self.resolve(value))

    def has_key(self, value: object) -> bool:
        """Written by the user, resolved from their words or returned by a tool; a longer value (a customer's
        name) may also be part of what the user wrote."""
        wanted = key(value)
        return bool(wanted) and (wanted in self.keys or (len(wanted) >= 5 and any(wanted in t for t in self.user_text)))

    def says(self, phrase: str) -> bool:
        """The user wrote every word of the phrase, in some form (`says_in`)."""
        return says_in(self.words, phrase)

    def names_unseen_place(self) -> bool:
        """The current message names a warehouse outside the user's scope ("Birmingham" to a user of NA only): what
        it says of places is then not the user's to be read in their scope alone."""
        if self.current is None:
            return False
        seen = {key(i) for m in self.current.of(MentionKind.WAREHOUSE) for i in m.ids}
        return bool({key(p) for p in self.current_places} - seen)

    def ambiguity(self, value: object) -> Mention | None:
        """The current message's ambiguous mention this value is one reading of, unless the value is also
        supported some other way (the user wrote it, a tool returned it)."""
        if self.current is None:
            return None
        wanted = key(value)
        if wanted in self.said:
            return None
        for mention in self.current.mentions:
            options = {key(c) for c in mention.candidates}
            if mention.ambiguous and wanted in options and not self._singled_out(wanted, options):
                return mention
        return None

    def _singled_out(self, wanted: str, options: set[str]) -> bool:
        """A tool returned the value without the mention's other readings: a search for "brass tee" that lists the
        1/2in, 3/4in and 1in tees answers nothing about which one the user means (the 1.5B model took the first)."""
        return any(wanted in keys and not keys & (options - {wanted}) for keys in self.returned)


def evidence_of(
    messages: list[Message],
    link: Callable[[str], Linked],
    current: Linked | None,
    places: Callable[[str], set[str]] = lambda text: set(),
    resolve: Callable[[str], tuple[str, ...]] = lambda text: (),
    today: str = "",
    kinds: Callable[[str], frozenset[MentionKind]] = lambda text: frozenset(),
) -> Evidence:
    """The evidence in a conversation's messages: every user message (linked) and every tool result.

    `places` gives the warehouses a text names in any entity: support for a warehouse argument only, so that
    a question about another entity's warehouse reaches the core, which refuses it."""
    evidence = Evidence(current=current, resolve=resolve, today=today, kinds=kinds)
    for message in messages:
        if message["role"] == "user":
            text = str(message.get("content") or "")
            evidence.current_places = places(text)  # the last user message's stay: it is the current one
            _add_user(evidence, text, link)
            evidence.keys |= {key(code) for code in evidence.current_places}
        elif message["role"] == "tool":
            _add_result(evidence, str(message.get("content") or ""))
    return evidence


MINUS_CURRENCY = re.compile(r"[-\u2212]\s*[$€£]\s*(?=\d)")  # "-$3": the amount is -3


def _add_user(evidence: Evidence, text: str, link: Callable[[str], Linked]) -> None:
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9\-_#/.]*", text)
    evidence.user_text.append(key(text))
    evidence.words |= set(words_of(text))
    evidence.keys |= {key(w) for w in words} | {key(a + b) for a, b in itertools.pairwise(words)}
    # "-5", "1,200", "12.50", "-$3" (-3); not the 200 of V-200
    written = [Decimal(n.replace(",", "")) for n in NUMBER.findall(MINUS_CURRENCY.sub("-", text))]
    numbers = {int(n) for n in written if n == n.to_integral_value()}
    numbers |= {int(n) for n in LINE_NUMBER.findall(text)}  # "ln1", "line#2": the digits run on from the word
    evidence.numbers |= numbers
    # "-5" too: the core refuses it in its own words, better than a question; not a size ("1/2in brass ball valve -
    # PO 50" gave a count of 1 the model took)
    sized = [Decimal(n.replace(",", "")) for n in NUMBER.findall(SIZE.sub(" ", MINUS_CURRENCY.sub("-", text)))]
    evidence.counts |= {int(n) for n in sized if n == n.to_integral_value()}
    evidence.amounts |= set(written)
    linked = link(text)
    for mention in linked.mentions:
        if mention.kind == MentionKind.QUANTITY and mention.number is not None:
            evidence.numbers.add(mention.number)
            evidence.counts.add(mention.number)
        elif mention.kind == MentionKind.DATE:
            evidence.dates |= set(_days(mention.ids))
        if not mention.ambiguous and mention.kind != MentionKind.DATE:
            resolved = {key(i) for i in mention.ids} | ({key(mention.within)} if mention.within else set())
            evidence.keys |= resolved
            evidence.firm |= resolved
            evidence.said |= resolved
    evidence.dates |= set(re.findall(r"\d{4}-\d{2}-\d{2}", text))


def _days(ids: tuple[str, ...]) -> Iterator[str]:
    """Every day of a date mention (a range: each day in it)."""
    first, last = date.fromisoformat(ids[0]), date.fromisoformat(ids[-1])
    for offset in range((last - first).days + 1):
        yield (first + timedelta(days=offset)).isoformat()


def _add_result(evidence: Evidence, content: str) -> None:
    """What a tool's result gives. A refusal gives nothing: its "did you mean LIBERTYC?" is the core's guess at a
    record the user never named (the 1.5B model drafted for LIBERTYC when the user asked for WIDGETCO, and the
    order executed once confirmed)."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return
    if isinstance(data, dict) and "error" in data:
        return
    found: set[str] = set()
    for name, value in leaves(data):
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            evidence.numbers.add(value)
            if COUNT_FIELDS.search(name):
                evidence.counts.add(value)
        elif isinstance(value, str):
            found.add(key(value))
            if name in CODE_FIELDS and value.split():  # "MAGNOLIA2 Magnolia Mechanical Co.": the code, then the name
                found.add(key(value.split()[0]))
            evidence.dates |= set(re.findall(r"\d{4}-\d{2}-\d{2}", value)) - {evidence.today}
            found |= {key(n) for n in re.findall(r"\b[A-Z]{1,4}-\d+\b", value)}  # record numbers in sentences
    evidence.keys |= found
    evidence.firm |= found
    evidence.returned.append(frozenset(found))

"""Entity linking: which records, dates and quantities a user's message names, resolved in the user's own scope.

`link_mentions` reads a message before any model does and reports each mention with its span, its kind and
the business key it resolves to (SKU, customer code, warehouse code, document number, ISO date, a count), or
the candidates when it could be several. Look-ups see only the actor's legal entities: another entity's
customer, warehouse or document is "not found", exactly like one that does not exist. Matching is
conservative: a mention that is not clearly one record is ambiguous (a question for the user), never a guess.
"""

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.documents import id_by_external_ref
from core.drafts.models import DraftAction
from core.exceptions.models import ExceptionCase
from core.finance.models import Invoice
from core.masterdata.item_search import items_by_sku_keys, items_matching_words
from core.masterdata.models import Customer, LegalEntity, Supplier, Warehouse
from core.masterdata.phrases import SIZE, find_dates, find_quantities
from core.masterdata.service import sku_key
from core.numbering import (
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    MAX_DIGITS,
    PAYMENT,
    PURCHASE_ORDER,
    SALES_ORDER,
    SHIPMENT,
    SUPPLIER_INVOICE,
    TRANSFER,
    DocumentKind,
)
from core.payables.models import SupplierInvoice
from core.purchasing.models import PurchaseOrder
from core.receivables.models import CustomerPayment
from core.sales.models import SalesOrder, Shipment
from core.transfers.models import Transfer

MAX_CANDIDATES = 5  # an ambiguous mention lists at most this many; beyond that it is too vague to list
# Words that are codes of ours but also plain English: matched only when written in capitals ("MAN", "SIN").
PLAIN_WORDS = frozenset({"MAN", "SIN", "SEA", "ALL", "ANY", "CAN", "NOW", "DUE", "ONE", "NEW", "OLD", "US"})
PARTY_CUES = frozenset({"for", "customer", "client", "supplier", "vendor"})
NAME_SUFFIXES = frozenset({"inc", "llc", "co", "ltd", "pte", "sdn", "bhd", "corp", "plc", "gmbh"})
# Words that say what to do, not which product: never taken as an item description.
NOT_PRODUCT_WORDS = frozenset({
    "a", "an", "the", "of", "for", "to", "from", "in", "on", "at", "by", "with", "and", "or", "please", "pls", "can",
    "could", "we", "you", "i", "me", "my", "our", "us", "do", "does", "did", "is", "are", "be", "it", "its", "this",
    "that", "these", "those", "what", "which", "who", "how", "many", "much", "any", "some", "there", "here", "have",
    "has", "need", "needs", "want", "order", "orders", "ordered", "transfer", "transfers", "move", "moves", "send",
    "ship", "shipped", "check", "stock", "stocks", "available", "availability", "promise", "draft", "status",
    "where", "when", "why", "show", "find", "search", "look", "up", "more", "than", "unit", "units", "pcs", "each",
    "make", "change", "set", "customer", "supplier", "warehouse", "item", "items", "sku", "skus", "today",
    "tomorrow", "week", "month", "free", "tell", "left", "reserved", "incoming",
})  # fmt: skip


class MentionKind(StrEnum):
    ITEM = "item"
    CUSTOMER = "customer"
    SUPPLIER = "supplier"
    WAREHOUSE = "warehouse"
    ENTITY = "entity"
    DOCUMENT = "document"
    DATE = "date"
    QUANTITY = "quantity"


@dataclass(frozen=True)
class Mention:
    """One thing a message names: where (`start`:`end` of `text`), what kind, and what it resolved to.

    `ids` holds the resolved key (a date range holds its first and last day); `candidates` the keys it could
    be when ambiguous, with `labels` naming them for a question; neither: not found in the user's scope.
    A quantity carries its `number`, its unit word and the SKU it counts (`of_sku`) when one follows it; a
    warehouse the entity it belongs to (`within`), so that "Atlanta and Dallas" supports entity NA."""

    text: str
    start: int
    end: int
    kind: MentionKind
    ids: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    number: int | None = None
    unit: str = ""
    of_sku: str | None = None
    within: str | None = None  # a warehouse's legal entity ("Dallas": NA)

    @property
    def resolved(self) -> bool:
        return bool(self.ids)

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


@dataclass(frozen=True)
class Linked:
    """A message and what it names, in text order."""

    text: str
    mentions: tuple[Mention, ...]

    def of(self, kind: MentionKind) -> list[Mention]:
        return [m for m in self.mentions if m.kind == kind]

    def only_named(self, kind: MentionKind) -> str | None:
        """The one record of a kind the message names; None when it names none, several, or one with doubt."""
        mentions = self.of(kind)
        if any(m.ambiguous or not m.ids for m in mentions):
            return None
        named = {m.ids[0] for m in mentions}
        return named.pop() if len(named) == 1 else None

    def supported_keys(self) -> set[str]:
        """Every key a mention resolved to or could be: what this message supports as an argument."""
        return {key for m in self.mentions for key in (*m.ids, *m.candidates)}

    def quantities_of(self, sku: str) -> list[int]:
        """The counts this message gives for one SKU ("5 x V-200": [5])."""
        return [m.number for m in self.of(MentionKind.QUANTITY) if m.of_sku == sku and m.number is not None]


@dataclass
class _Text:
    """The message with the spans already claimed by a mention, so that one word is one mention."""

    text: str
    taken: list[tuple[int, int]] = field(default_factory=list)
    found: list[Mention] = field(default_factory=list)

    def free(self, start: int, end: int) -> bool:
        return not any(start < e and s < end for s, e in self.taken)

    def add(self, mention: Mention) -> None:
        self.taken.append((mention.start, mention.end))
        self.found.append(mention)

    def words(self) -> list[tuple[int, int, str]]:
        """The free words, with their spans, lower-cased."""
        return [
            (m.start(), m.end(), m.group().lower())
            for m in re.finditer(r"[A-Za-z0-9][A-Za-z0-9&/.-]*[A-Za-z0-9]|[A-Za-z0-9]", self.text)
            if self.free(m.start(), m.end())
        ]


def link_mentions(session: Session, actor: Actor, text: str, today: date) -> Linked:
    """The records, dates and quantities `text` names, resolved within the actor's entities only."""
    message = _Text(text)
    _link_documents(session, actor, message)
    _link_dates(message, today)
    _link_skus(session, message)
    _link_places(session, actor, message)
    _link_parties(session, actor, message)
    if not any(m.kind == MentionKind.ITEM and m.ids for m in message.found):  # "R-410A" is no SKU: still read on
        _link_item_description(session, message)
    _link_quantities(message)
    return Linked(text, tuple(sorted(message.found, key=lambda m: m.start)))


# -- documents ---------------------------------------------------------------------------------------------

DOCUMENT_KINDS = (
    SALES_ORDER,
    PURCHASE_ORDER,
    TRANSFER,
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    SHIPMENT,
    SUPPLIER_INVOICE,
    PAYMENT,
)
_DOCUMENT = re.compile(
    r"(?<![A-Za-z0-9])(?P<prefix>"
    + "|".join(sorted((k.prefix for k in DOCUMENT_KINDS), key=len, reverse=True))
    + rf")(?P<sep>[\s\-_#]?)(?P<digits>\d{{1,{MAX_DIGITS}}})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# "order 2301" is a sales order; "order 100 V-200" or "order 100 units" is a count.
_BARE_ORDER = re.compile(
    rf"\border\s*(?:no\.?|number|#)?\s*(?P<digits>\d{{3,{MAX_DIGITS}}})\b"
    r"(?!\s*(?:x\b|\u00d7|units?\b|pcs\b|pieces\b|of\b|[A-Za-z]{1,4}-?\d))",
    re.IGNORECASE,
)
# "case 15" is exception case EX-15; "a case of 12", "in case" are not.
_BARE_CASE = re.compile(
    rf"(?<!\bin )\bcase\s*(?:no\.?|number|#)?\s*(?P<digits>\d{{1,{MAX_DIGITS}}})\b(?!\s*(?:of|x)\b)", re.IGNORECASE
)
_KIND_BY_PREFIX = {k.prefix: k for k in DOCUMENT_KINDS}


def _link_documents(session: Session, actor: Actor, message: _Text) -> None:
    for match in _DOCUMENT.finditer(message.text):
        prefix, separator = match.group("prefix"), match.group("sep")
        if not prefix.isupper() and separator.isspace():
            continue  # "so 5 units" is no sales order; "SO 1042", "so-1042" and "so1042" are
        kind = _KIND_BY_PREFIX[prefix.upper()]
        if separator.isspace() and _counted(session, actor, message, match, kind):
            continue  # "PO 50 from KEYSTONE": a purchase order of 50, not PO-50
        _add_document(session, actor, message, match, kind, int(match.group("digits")))
    for match in _BARE_ORDER.finditer(message.text):
        if message.free(match.start("digits"), match.end("digits")):
            _add_document(session, actor, message, match, SALES_ORDER, int(match.group("digits")), "digits")
    for match in _BARE_CASE.finditer(message.text):
        if message.free(match.start("digits"), match.end("digits")):
            _add_document(session, actor, message, match, EXCEPTION_CASE, int(match.group("digits")))


_COUNTED_AFTER = re.compile(r"\s+(?:from|of|x|units?|pcs|pieces|for|into|to)\b", re.IGNORECASE)


def _counted(session: Session, actor: Actor, message: _Text, match: re.Match[str], kind: DocumentKind) -> bool:
    """Whether "PO 50" is a count after a document's word: no such document in scope, and words of a count follow."""
    if not _COUNTED_AFTER.match(message.text, match.end()):
        return False
    digits = match.group("digits")
    return not _document_in_scope(session, actor, kind, int(digits)) and not _imported_as(
        session, actor, kind, match.group()
    )


def _add_document(
    session: Session,
    actor: Actor,
    message: _Text,
    match: re.Match[str],
    kind: DocumentKind,
    id_: int,
    group: int | str = 0,
) -> None:
    start, end = match.span(group)
    if not _document_in_scope(session, actor, kind, id_):
        id_ = _imported_as(session, actor, kind, message.text[start:end]) or 0
    ids = (kind.format(id_),) if id_ else ()
    message.add(Mention(message.text[start:end], start, end, MentionKind.DOCUMENT, ids=ids))


def _imported_as(session: Session, actor: Actor, kind: DocumentKind, said: str) -> int | None:
    """The document in scope that carried this number in the system it was imported from ("SO-50130" → SO-3)."""
    models: dict[DocumentKind, type[Any]] = {SALES_ORDER: SalesOrder, PURCHASE_ORDER: PurchaseOrder, INVOICE: Invoice}
    model = models.get(kind)
    return None if model is None else id_by_external_ref(session, model, said, entity_ids=actor.entity_ids)


def _document_in_scope(session: Session, actor: Actor, kind: DocumentKind, id_: int) -> bool:
    """Whether the document exists in one of the actor's entities (a transfer or draft: either side's)."""
    scope = list(actor.entity_ids)
    if kind == SHIPMENT:
        query = select(Shipment.id).join(SalesOrder, SalesOrder.id == Shipment.order_id)
        return session.scalar(query.where(Shipment.id == id_, SalesOrder.entity_id.in_(scope))) is not None
    if kind == TRANSFER:
        inside = or_(Transfer.from_entity_id.in_(scope), Transfer.to_entity_id.in_(scope))
        return session.scalar(select(Transfer.id).where(Transfer.id == id_, inside)) is not None
    if kind == DRAFT:
        inside = or_(DraftAction.entity_id.in_(scope), DraftAction.counterparty_entity_id.in_(scope))
        return session.scalar(select(DraftAction.id).where(DraftAction.id == id_, inside)) is not None
    columns = {
        SALES_ORDER: (SalesOrder.id, SalesOrder.entity_id),
        PURCHASE_ORDER: (PurchaseOrder.id, PurchaseOrder.entity_id),
        EXCEPTION_CASE: (ExceptionCase.id, ExceptionCase.entity_id),
        INVOICE: (Invoice.id, Invoice.entity_id),
        SUPPLIER_INVOICE: (SupplierInvoice.id, SupplierInvoice.entity_id),
        PAYMENT: (CustomerPayment.id, CustomerPayment.entity_id),
    }
    key, entity = columns[kind]
    return session.scalar(select(key).where(key == id_, entity.in_(scope))) is not None


# -- dates and quantities ----------------------------------------------------------------------------------


def _link_dates(message: _Text, today: date) -> None:
    for found in find_dates(message.text, today):
        if found.first is None or found.last is None or not message.free(found.start, found.end):
            continue
        days = (
            (found.first.isoformat(),)
            if found.first == found.last
            else (found.first.isoformat(), found.last.isoformat())
        )
        message.add(Mention(message.text[found.start : found.end], found.start, found.end, MentionKind.DATE, ids=days))


_COUNT_GAP = re.compile(r"\s*(?:(?:x|\u00d7|\*)\s*)?(?:(?:of|the|more)\s+)*$", re.IGNORECASE)
_COUNT_AFTER = re.compile(r"\s*(?:x|\u00d7|\*|:|qty\.?|quantity)\s*$", re.IGNORECASE)


def _link_quantities(message: _Text) -> None:
    items = [m for m in message.found if m.kind == MentionKind.ITEM]
    for found in find_quantities(message.text):
        if found.number is None or not message.free(found.start, found.end):
            continue
        text = message.text[found.start : found.end]
        counted = _counted_item(message.text, found.start, found.end, items)
        if found.weak and counted is None:
            continue  # "a valve", "the one in Dallas": no count
        message.add(
            Mention(
                text, found.start, found.end, MentionKind.QUANTITY, number=found.number, unit=found.unit, of_sku=counted
            )
        )


def _counted_item(text: str, start: int, end: int, items: Sequence[Mention]) -> str | None:
    """The SKU a count is of: written right after it ("5 x V-200", "40 units of V-200") or right before
    ("V-200 x 5"), and only one that resolved to exactly one item."""
    for item in items:
        after = item.start >= end and _COUNT_GAP.fullmatch(text, end, item.start)
        before = item.end <= start and _COUNT_AFTER.fullmatch(text, item.end, start)
        if (after or before) and len(item.ids) == 1:
            return item.ids[0]
    return None


# -- items -------------------------------------------------------------------------------------------------

# A SKU as people type it: "V-200", "v200", "FT-210"; "V 200" only in capitals ("for 40" is no SKU).
_SKU = re.compile(
    r"(?<![A-Za-z0-9/-])(?P<letters>[A-Za-z]{1,4})(?P<sep>[-\s]?)(?P<digits>\d{2,6}[A-Za-z]?)(?![A-Za-z0-9/])"
)


def _link_skus(session: Session, message: _Text) -> None:
    matches = [
        m
        for m in _SKU.finditer(message.text)
        if message.free(m.start(), m.end()) and (m.group("sep") != " " or m.group("letters").isupper())
    ]
    found = items_by_sku_keys(session, [sku_key(m.group()) for m in matches])
    for match in matches:
        item = found.get(sku_key(match.group()))
        if item is not None:
            message.add(Mention(match.group(), match.start(), match.end(), MentionKind.ITEM, ids=(item.sku,)))
        elif match.group("sep") == "-":  # written like a SKU but no such item: say so (not found)
            message.add(Mention(match.group(), match.start(), match.end(), MentionKind.ITEM))


def _name_hits(name: str, words: set[str]) -> int:
    """How many of the message's words start a word of the item's name ("valve" in "valves", "3/4" in "3/4in")."""
    lowered = name.lower()
    return sum(1 for w in words if re.search(rf"(?<![a-z0-9]){re.escape(w)}", lowered))


def _all_said(name: str, stems: set[str]) -> bool:
    """Whether every word of the item's name is one the message wrote, or starts with one ("3/4" of "3/4in")."""
    return all(any(word.startswith(stem) for stem in stems) for word in re.findall(r"[a-z0-9/.-]+", name.lower()))


def _link_item_description(session: Session, message: _Text) -> None:
    """An item named by its description ("the brass ball valve"): resolved when one item's name matches the
    most of the message's words (at least two), ambiguous when a few tie, nothing when many do; of those tied,
    the one whose every name word the message wrote ("3/4in brass ball valves" is "Brass ball valve 3/4in", not
    "Lead-free brass ball valve 3/4in": nobody said lead-free)."""
    words = [(s, e, w) for s, e, w in message.words() if w not in NOT_PRODUCT_WORDS and (len(w) >= 3 or "/" in w)]
    stems = {w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 4 else w for _, _, w in words}
    if len(stems) < 2:
        return
    rows = items_matching_words(session, [(s, 10) for s in sorted(stems)], limit=50)
    scored = [(item, _name_hits(item.name, stems)) for item in rows]
    best = max((hits for _, hits in scored), default=0)
    tied = [item for item, hits in scored if hits == best]
    sizes = [size for size in sizes_in(message.text) if message.free(size[0], size[1])]
    sized = [item for item in tied if {form for _, _, form in sizes} & {form for _, _, form in sizes_in(item.name)}]
    tied = sized or tied  # "the 1 inch bronze gate valve": the 1in one, not the 3/4in, 1-1/4in or 6in
    if best < 2 or len(tied) > MAX_CANDIDATES - 1:
        return
    whole = [item for item in tied if _all_said(item.name, stems)]
    tied = whole if len(whole) == 1 else tied  # "3/4in brass ball valves": not the lead-free one, a word unsaid
    used = [(s, e) for s, e, w in words if any(_name_hits(item.name, {_stem(w)}) for item in tied)]
    used += [(s, e) for s, e, _ in sizes] if sized else []
    start, end = min(s for s, _ in used), max(e for _, e in used)
    skus = tuple(item.sku for item in tied)
    mention = Mention(
        message.text[start:end],
        start,
        end,
        MentionKind.ITEM,
        ids=skus if len(skus) == 1 else (),
        candidates=skus if len(skus) > 1 else (),
        labels=tuple(item.name for item in tied) if len(skus) > 1 else (),
    )
    message.add(mention)


def sizes_in(text: str) -> list[tuple[int, int, str]]:
    """The sizes a text writes, each with its span and in the form item names write it: "1 inch", "1in" and "1 in"
    are 1in, "1 1/4 inch" is 1-1/4in, a bare fraction ("1/2 brass valve") is in inches, "25 mm" is 25mm."""
    return [(m.start(), m.end(), _size_form(m.group())) for m in SIZE.finditer(text)]


def _size_form(written: str) -> str:
    form = re.sub(r"\s*(?:inches|inch|in)\b|\"", "in", written.lower().strip())
    form = re.sub(r"(\d)[\s-]+(\d)", r"\1-\2", form).replace(" ", "")
    return form + "in" if re.fullmatch(r"[\d/-]+", form) else form


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 4 else word


def product_words(linked: Linked, start: int = 0, end: int | None = None) -> str:
    """The words of a message (or of its part from `start` to `end`) that may describe a product, in order: those no
    mention claimed, less the words that say what to do ("Move 20 of the 1 inch brass valves from Dallas" gives "1
    inch brass valves"). What a catalogue search looks for when the user described an item instead of naming it."""
    message = _Text(linked.text, taken=[(m.start, m.end) for m in linked.mentions])
    stop = len(linked.text) if end is None else end
    kept = [
        w
        for s, e, w in message.words()
        if start <= s and e <= stop and w not in NOT_PRODUCT_WORDS and (len(w) > 1 or w.isdigit())
    ]
    return " ".join(kept)


# -- warehouses and entities -------------------------------------------------------------------------------


def _link_places(session: Session, actor: Actor, message: _Text) -> None:
    scope = list(actor.entity_ids)
    warehouses = session.scalars(select(Warehouse).where(Warehouse.entity_id.in_(scope)).order_by(Warehouse.code))
    for warehouse in warehouses:
        names = [warehouse.name, warehouse.city]
        _link_names(message, MentionKind.WAREHOUSE, warehouse.code, names, within=warehouse.entity.code)
    entities = session.scalars(select(LegalEntity).where(LegalEntity.id.in_(scope)).order_by(LegalEntity.code))
    for entity in entities:
        _link_names(message, MentionKind.ENTITY, entity.code, [entity.name], code_in_capitals=True)


def _link_names(
    message: _Text,
    kind: MentionKind,
    code: str,
    names: Iterable[str],
    *,
    code_in_capitals: bool = False,
    within: str | None = None,
) -> None:
    """Every free place where the code or one of the names is written as whole words."""
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", message.text, re.IGNORECASE):
            if message.free(match.start(), match.end()):
                message.add(Mention(match.group(), match.start(), match.end(), kind, ids=(code,), within=within))
    # a hyphen joins a code to a number or a word ("DAL-1"), not to an arrow ("DAL->ATL")
    for match in re.finditer(rf"(?<![A-Za-z0-9-]){re.escape(code)}(?![A-Za-z0-9]|-(?!>))", message.text, re.IGNORECASE):
        capitals = match.group().isupper()
        if (capitals or not (code_in_capitals or code.upper() in PLAIN_WORDS)) and message.free(*match.span()):
            message.add(Mention(match.group(), match.start(), match.end(), kind, ids=(code,), within=within))


def warehouses_written(session: Session, text: str) -> set[str]:
    """The codes of every warehouse, of any entity, that `text` names by code, city or name.

    Not a look-up for the user: it only tells whether a warehouse a model put in a call was named by the user
    ("Dallas" for DAL), so that asking about another entity's warehouse is refused by the core in the user's
    own words instead of being quietly answered for another warehouse. Nothing it finds is shown."""
    words = {w.upper() for w in re.findall(r"[A-Za-z0-9]+", text)}
    written = set()
    for code, name, city in session.execute(select(Warehouse.code, Warehouse.name, Warehouse.city)):
        names = [n.upper() for n in (name, city)]
        if code.upper() in words or any(re.search(rf"\b{re.escape(n)}\b", text.upper()) for n in names):
            written.add(code)
    return written


# The words right before a place that say which way stock goes: "from Dallas", "out of Reno", "ex DAL"; "to
# Atlanta", "into ATL"; or an arrow between two places ("DAL -> MAN"). Anything else ("Dallas and Reno", "at
# Dallas") tells no direction.
_FROM_WORDS = re.compile(r"\b(?:from|out\s+of|ex)\s+(?:the\s+)?$", re.IGNORECASE)
_TO_WORDS = re.compile(r"\b(?:to|into)\s+(?:the\s+)?$", re.IGNORECASE)
_ARROW = r"(?:-+>|=+>|\u2192)"
_ARROW_AFTER = re.compile(rf"\s*{_ARROW}")
_ARROW_BEFORE = re.compile(rf"{_ARROW}\s*$")
_TO_AFTER = re.compile(r"\s+(?:to|into)\s+(?:the\s+)?", re.IGNORECASE)


def direction_written(linked: Linked, mention: Mention) -> str | None:
    """ "from" or "to" when the words right before a mention say which way ("from Dallas", "into ATL"), an arrow
    points away from it or at it ("DAL -> MAN"), or "to" leads from it to another warehouse ("DAL to RNO"), else
    None."""
    before = linked.text[: mention.start]
    if _FROM_WORDS.search(before) or _ARROW_AFTER.match(linked.text, mention.end) or _to_a_warehouse(linked, mention):
        return "from"
    return "to" if _TO_WORDS.search(before) or _ARROW_BEFORE.search(before) else None


def _to_a_warehouse(linked: Linked, mention: Mention) -> bool:
    """Whether "to" or "into" right after a warehouse leads to another one ("600 A-160 DAL to RNO")."""
    after = _TO_AFTER.match(linked.text, mention.end)
    return after is not None and any(
        m.kind == MentionKind.WAREHOUSE and m.start == after.end() for m in linked.mentions if m is not mention
    )


# -- customers and suppliers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Party:
    kind: MentionKind
    code: str
    name: str

    @property
    def words(self) -> list[str]:
        words = re.findall(r"[a-z0-9&]+", self.name.lower())
        while len(words) > 1 and words[-1] in NAME_SUFFIXES:
            words.pop()
        return words


def _parties(session: Session, actor: Actor) -> list[_Party]:
    scope = list(actor.entity_ids)
    customers = session.execute(select(Customer.code, Customer.name).where(Customer.entity_id.in_(scope)))
    suppliers = session.execute(select(Supplier.code, Supplier.name).where(Supplier.entity_id.in_(scope)))
    return [_Party(MentionKind.CUSTOMER, c, n) for c, n in customers] + [
        _Party(MentionKind.SUPPLIER, c, n) for c, n in suppliers
    ]


def _link_parties(session: Session, actor: Actor, message: _Text) -> None:
    """Customers and suppliers by code ("ACME"), by name ("Acme Industrial"), or by the first word(s) of
    their name; several sharing the words written ("Brazos") make one ambiguous mention."""
    parties = _parties(session, actor)
    _link_party_codes(message, parties, capitals_only=True)
    words = message.words()
    position = 0
    while position < len(words):
        span, matched = _best_name_match(message.text, words, position, parties)
        if matched:
            start, end = words[position][0], words[position + span - 1][1]
            message.add(_party_mention(message.text[start:end], start, end, matched))
            position += span
        else:
            position += 1
    _link_party_codes(message, parties, capitals_only=False)


def _link_party_codes(message: _Text, parties: Sequence[_Party], *, capitals_only: bool) -> None:
    """Codes typed in capitals ("ACME") come before names; in any case ("bolt") only after them."""
    by_code = {p.code.upper(): p for p in parties}
    for start, end, word in message.words():
        party = by_code.get(word.upper())
        written = message.text[start:end]
        if party is None or not (written.isupper() or (not capitals_only and word.upper() not in PLAIN_WORDS)):
            continue
        message.add(Mention(written, start, end, party.kind, ids=(party.code,)))


def _best_name_match(
    text: str, words: list[tuple[int, int, str]], position: int, parties: Sequence[_Party]
) -> tuple[int, list[_Party]]:
    """The parties whose name starts with the most consecutive words from `position` on, and how many."""
    best, matched = 0, []
    for party in parties:
        span = _prefix_length(text, words, position, party.words)
        if span > best:
            best, matched = span, [party]
        elif span == best and span > 0:
            matched.append(party)
    return best, matched


def _prefix_length(text: str, words: list[tuple[int, int, str]], position: int, name: list[str]) -> int:
    """How many of the name's words are written from `position` on, consecutively; one word counts only when
    capitalised ("Brazos", not "brazos", "peak season" or "valve" for Valve Co)."""
    count = 0
    while count < len(name) and position + count < len(words):
        start, _, word = words[position + count]
        expected = name[count]
        if word != expected and not (count == 0 and len(expected) >= 6 and _close(word, expected)):
            break
        if count > 0 and words[position + count - 1][1] + 3 < start:
            break  # not consecutive
        count += 1
    if count == 1 and not text[words[position][0]].isupper() and not _named_alone(text, words, position):
        return 0
    return count


def _named_alone(text: str, words: list[tuple[int, int, str]], position: int) -> bool:
    """One name word in lower case that can only be a party: after "for", "customer" or "supplier", and ending
    the phrase ("10 V-200 for brazos from reno"), not a word of another phrase ("for peak season")."""
    before = words[position - 1][2] if position > 0 else ""
    after = words[position + 1] if position + 1 < len(words) else None
    gap = text[words[position][1] : after[0]] if after else ""
    ends = after is None or bool(re.search(r"[,.;:!?()]", gap)) or after[2] in NOT_PRODUCT_WORDS
    return before in PARTY_CUES and ends


def _close(word: str, expected: str) -> bool:
    """A typo of a long name word ("Brazoss"), not another word."""
    return difflib.SequenceMatcher(None, word, expected).ratio() >= 0.88


def _party_mention(text: str, start: int, end: int, matched: list[_Party]) -> Mention:
    kind = matched[0].kind if len({p.kind for p in matched}) == 1 else MentionKind.CUSTOMER
    full = [p for p in matched if len(p.words) == len(re.findall(r"[A-Za-z0-9&]+", text))]
    if len(matched) == 1 or len(full) == 1:
        party = matched[0] if len(matched) == 1 else full[0]
        return Mention(text, start, end, party.kind, ids=(party.code,))
    listed = sorted(matched, key=lambda p: p.name)[:MAX_CANDIDATES]
    return Mention(
        text,
        start,
        end,
        kind,
        candidates=tuple(p.code for p in listed),
        labels=tuple(p.name for p in listed),
    )

"""Intercompany balances per pair of entities, converted to one currency, and the check that each pair nets to zero.

Each intercompany transfer is booked twice: the sender's due-from in its currency, the receiver's due-to in its
own at the rate fixed on the transfer. A pair nets to zero when every transfer between the two is booked on both
sides for the same value (the due-to equals the due-from at the transfer's rate, which is kept to four places:
within that rounding). Translated into the group
currency at the day's rates the two sides can still differ by a few cents or more: that translation difference
comes from the rates, not from a document, and is reported apart.
"""

import difflib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.errors import NotFound
from core.finance.models import IntercompanyPosting, PostingKind
from core.fx import Rate, rates_on
from core.masterdata.models import LegalEntity
from core.money import CENT, format_money, round_money
from core.numbering import TRANSFER
from core.sales.pricing import GROUP_CURRENCY
from core.transfers.models import Transfer

ZERO = Decimal("0.00")
RATE_HALF_STEP = Decimal("0.00005")  # a transfer's rate is stored to four places


@dataclass(frozen=True)
class DocumentGap:
    """A transfer whose two bookings disagree: one side missing, or the amounts differ at the transfer's rate."""

    transfer: str
    postings: list[int]
    sender: str
    receiver: str
    due_from: Decimal | None  # sender's currency
    due_to: Decimal | None  # receiver's currency
    expected_due_to: Decimal  # the due-from at the transfer's rate, receiver's currency
    difference: Decimal  # what the document leaves unmatched, in the reporting currency
    reason: str


@dataclass(frozen=True)
class PairBalance:
    """Two entities' balances with each other: each in its own currency and translated into the reporting one."""

    first: str
    second: str
    first_currency: str
    second_currency: str
    first_net: Decimal  # what `first` is owed by (+) or owes (-) `second`, in its own currency
    second_net: Decimal
    first_converted: Decimal
    second_converted: Decimal
    currency: str
    transfers: int
    gaps: list[DocumentGap] = field(default_factory=list)

    @property
    def difference(self) -> Decimal:
        """What is left when the two sides are added in the reporting currency (zero: they net)."""
        return self.first_converted + self.second_converted

    @property
    def nets_to_zero(self) -> bool:
        """Every transfer of the pair is booked on both sides for the same value."""
        return not self.gaps

    @property
    def translation_difference(self) -> Decimal:
        """The part of the difference that comes from translating at the day's rates, not from a document."""
        return self.difference - sum((g.difference for g in self.gaps), ZERO)


@dataclass(frozen=True)
class IntercompanyReport:
    on: date
    currency: str
    pairs: list[PairBalance]
    rates: list[Rate]
    not_checked: list[str]  # pairs with one side outside the actor's entities
    basis: str


@dataclass
class _Side:
    posting_ids: list[int] = field(default_factory=list)
    amount: Decimal = ZERO
    currency: str = ""


@dataclass
class _Document:
    transfer_id: int
    sender: int
    receiver: int
    rate: Decimal
    sides: dict[str, _Side] = field(default_factory=dict)  # by posting kind


def intercompany_balances(
    session: Session, actor: Actor, *, currency: str | None = None, on: date | None = None, entity: str | None = None
) -> IntercompanyReport:
    """Each pair of entities in scope: both sides' balances on a day, in the reporting currency, netted and checked."""
    on = on or clock.today()
    currency = (currency or GROUP_CURRENCY).strip().upper()
    entities = {
        row.id: row for row in session.execute(select(LegalEntity.id, LegalEntity.code, LegalEntity.base_currency))
    }
    named = _named_entity(entities, actor, entity)
    documents = _documents(session, on, named)
    pairs: dict[tuple[int, int], list[_Document]] = {}
    not_checked: set[str] = set()
    for doc in documents:
        a, b = sorted((doc.sender, doc.receiver), key=lambda i: entities[i].code)
        if not (actor.can_see(a) or actor.can_see(b)):
            continue
        if not (actor.can_see(a) and actor.can_see(b)):
            not_checked.add(f"{entities[a].code}-{entities[b].code}")
            continue
        pairs.setdefault((a, b), []).append(doc)
    needed = {(entities[e].base_currency, currency) for pair in pairs for e in pair}
    needed |= {(s.currency, currency) for docs in pairs.values() for d in docs for s in d.sides.values()}
    rates = rates_on(session, needed, on)
    balances = [
        _pair(entities, a, b, docs, rates, currency)
        for (a, b), docs in sorted(pairs.items(), key=lambda p: (entities[p[0][0]].code, entities[p[0][1]].code))
    ]
    used = sorted({rates[(entities[e].base_currency, currency)] for pair in pairs for e in pair}, key=lambda r: r.pair)
    return IntercompanyReport(
        on=on,
        currency=currency,
        pairs=balances,
        rates=used,
        not_checked=sorted(not_checked),
        basis=(
            f"Intercompany postings up to {on} (each transfer's due-from at the sender, due-to at the receiver), "
            f"netted per pair in each entity's currency and translated into {currency} at the rates valid on {on}. "
            "A transfer is matched when both sides are booked and the due-to equals the due-from at the transfer's "
            "own rate; the translation difference is what the day's rates leave, not a document."
        ),
    )


def _named_entity(entities: dict[int, Any], actor: Actor, entity: str | None) -> int | None:
    if entity is None:
        return None
    wanted = entity.strip().upper()
    found = next((eid for eid, row in entities.items() if row.code == wanted), None)
    if found is None:
        codes = sorted(row.code for row in entities.values())
        raise NotFound("legal entity", entity, difflib.get_close_matches(wanted, codes, n=3, cutoff=0.5) or codes)
    actor.require_entity(found, f"entity {wanted}")
    return found


def _documents(session: Session, on: date, entity_id: int | None) -> list[_Document]:
    """Every transfer with a posting up to the day, with its two sides (one query)."""
    until = datetime.combine(on + timedelta(days=1), time.min)
    statement = (
        select(
            IntercompanyPosting.id,
            IntercompanyPosting.transfer_id,
            IntercompanyPosting.entity_id,
            IntercompanyPosting.kind,
            IntercompanyPosting.currency,
            IntercompanyPosting.amount,
            Transfer.from_entity_id,
            Transfer.to_entity_id,
            Transfer.exchange_rate,
        )
        .join(Transfer, Transfer.id == IntercompanyPosting.transfer_id)
        .where(IntercompanyPosting.posted_at < until)
        .order_by(IntercompanyPosting.transfer_id, IntercompanyPosting.id)
    )
    if entity_id is not None:
        statement = statement.where(or_(Transfer.from_entity_id == entity_id, Transfer.to_entity_id == entity_id))
    documents: dict[int, _Document] = {}
    for row in session.execute(statement):
        doc = documents.setdefault(
            row.transfer_id,
            _Document(row.transfer_id, row.from_entity_id, row.to_entity_id, Decimal(row.exchange_rate)),
        )
        side = doc.sides.setdefault(row.kind, _Side(currency=row.currency))
        side.posting_ids.append(row.id)
        side.amount += round_money(row.amount)
    return list(documents.values())


def _rounding(due_from: Decimal) -> Decimal:
    """How far a due-to may be from the due-from at the transfer's rate and still match: the rate is kept to four
    places (half a step of it on the amount) and each side is rounded to the cent."""
    return round_money(due_from * RATE_HALF_STEP) + CENT


def _pair(
    entities: dict[int, Any], a: int, b: int, docs: list[_Document], rates: dict[tuple[str, str], Rate], currency: str
) -> PairBalance:
    net = {a: ZERO, b: ZERO}
    gaps = []
    for doc in docs:
        due_from, due_to = doc.sides.get(PostingKind.DUE_FROM.value), doc.sides.get(PostingKind.DUE_TO.value)
        if due_from:
            net[doc.sender] += due_from.amount
        if due_to:
            net[doc.receiver] -= due_to.amount
        gap = _gap(entities, doc, due_from, due_to, rates, currency)
        if gap is not None:
            gaps.append(gap)
    ca, cb = entities[a].base_currency, entities[b].base_currency
    return PairBalance(
        first=entities[a].code,
        second=entities[b].code,
        first_currency=ca,
        second_currency=cb,
        first_net=net[a],
        second_net=net[b],
        first_converted=rates[(ca, currency)].apply(net[a]),
        second_converted=rates[(cb, currency)].apply(net[b]),
        currency=currency,
        transfers=len(docs),
        gaps=gaps,
    )


def _gap(
    entities: dict[int, Any],
    doc: _Document,
    due_from: _Side | None,
    due_to: _Side | None,
    rates: dict[tuple[str, str], Rate],
    currency: str,
) -> DocumentGap | None:
    sender, receiver = entities[doc.sender], entities[doc.receiver]
    expected = round_money((due_from.amount if due_from else ZERO) * doc.rate)
    if due_from and due_to and abs(due_to.amount - expected) <= _rounding(due_from.amount):
        return None
    if due_from and due_to:  # both booked, for different values: the receiver's shortfall, translated
        effect = rates[(due_to.currency, currency)].apply(expected - due_to.amount)
    elif due_from:
        effect = rates[(due_from.currency, currency)].apply(due_from.amount)
    else:
        assert due_to is not None
        effect = -rates[(due_to.currency, currency)].apply(due_to.amount)
    number = TRANSFER.format(doc.transfer_id)
    if due_from is None:
        reason = f"{sender.code} has not booked its due-from on {number}; {receiver.code} booked its due-to"
    elif due_to is None:
        reason = f"{receiver.code} has not booked its due-to on {number}; {sender.code} booked its due-from"
    else:
        reason = (
            f"{receiver.code} booked {format_money(due_to.amount, due_to.currency)} due-to on {number}, but "
            f"{sender.code}'s due-from {format_money(due_from.amount, due_from.currency)} at the transfer's rate "
            f"{doc.rate.normalize():f} is {format_money(expected, receiver.base_currency)}"
        )
    return DocumentGap(
        transfer=number,
        postings=[*(due_from.posting_ids if due_from else []), *(due_to.posting_ids if due_to else [])],
        sender=sender.code,
        receiver=receiver.code,
        due_from=due_from.amount if due_from else None,
        due_to=due_to.amount if due_to else None,
        expected_due_to=expected,
        difference=effect,
        reason=reason,
    )

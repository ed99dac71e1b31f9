"""The records a question offers when a call lacks one the user did not name: what their words could mean.

"Assign the Atlanta shortage case to Wes" names no case; asked only "which case?", the user has to go and look.
The question lists the open cases in the user's scope that fit what the words say (a case type, and the
warehouse, customer, supplier, item or order the case is about), soonest due first. "Move 20 of the 1 inch brass
valves" names no SKU: the question lists the items the words describe (the linker's candidates when it found a
few, else a catalogue search of the message's product words). When nothing fits, or the words name a place
outside the user's scope, nothing is offered and the plain question stands. Everything is read through the
core's services, in the actor's scope; none of it is a guess the call runs with.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from assistant.grounding import leaves
from assistant.linking import Evidence, key
from core.actor import Actor
from core.exceptions import ExceptionCase, ExceptionType, page_cases
from core.masterdata.mentions import Linked, Mention, MentionKind, product_words
from tools.search.hybrid import described_items

MAX_CASES = 6
MAX_ITEMS = 5
CASES_READ = 500  # the open cases, soonest due first, a question chooses from (the core's most per page)

# The words that name a case type ("the Atlanta shortage case", "the ACME credit hold").
CASE_TYPE_WORDS = {
    ExceptionType.SHORTAGE: r"short(?:age|ages|fall)?",
    ExceptionType.CREDIT_HOLD: r"credit[\s-]*holds?",
    ExceptionType.PRICE_DEVIATION: r"pric(?:e|es|ing)(?:\s+deviations?)?",
    ExceptionType.LATE_SUPPLIER: r"late\s+(?:suppliers?|po|purchase|deliver\w*)",
    ExceptionType.APPROVAL_OVERDUE: r"(?:overdue\s+)?approvals?",
    ExceptionType.RECEIPT_VARIANCE: r"receipt\s+variances?|receiving",
    ExceptionType.TRANSFER_DISCREPANCY: r"transfer\s+discrepanc(?:y|ies)",
    ExceptionType.INVOICE_MISMATCH: r"(?:invoice\s+)?mismatch(?:es)?",
    ExceptionType.OVERDUE_RECEIVABLES: r"overdue\s+receivables?|receivables?|past\s+due",
    ExceptionType.REPLENISHMENT: r"replenish\w*|reorder\w*",
    ExceptionType.DEMAND_ANOMALY: r"(?:demand\s+)?anomal(?:y|ies)",
    ExceptionType.LATE_ORDER_RISK: r"late\s+orders?",
    ExceptionType.SUPPLIER_RISK: r"supplier\s+risks?",
    ExceptionType.MARGIN_LEAKAGE: r"margins?(?:\s+leakage)?",
}
# The records a case can be about, by the kind of mention that names them.
CASE_SUBJECTS = (
    MentionKind.WAREHOUSE,
    MentionKind.CUSTOMER,
    MentionKind.SUPPLIER,
    MentionKind.ITEM,
    MentionKind.DOCUMENT,
)


@dataclass(frozen=True)
class Candidates:
    """Records a question offers, each with a label (or none), and how many fit in all; `said` is the user's words
    they were found for, when there are some ("1 inch brass valves")."""

    keys: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    total: int = 0
    said: str = ""

    @classmethod
    def of(cls, mention: Mention) -> "Candidates":
        """An ambiguous mention's readings ("1in brass valve": V-230, V-130 or V-170)."""
        return cls(mention.candidates, mention.labels, len(mention.candidates), mention.text)

    def listed(self) -> str:
        """ "V-230 (Brass ball valve 1in), V-130 (…) or V-170 (…)"; "EX-1, EX-2 or one of 5 more"."""
        labels = self.labels if len(self.labels) == len(self.keys) else ("",) * len(self.keys)
        named = [f"{k} ({label})" if label else k for k, label in zip(self.keys, labels, strict=True)]
        more = self.total - len(named)
        if not named:
            return ""
        if more > 0:
            return f"{', '.join(named)} or one of {more} more"
        return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"


Finder = Callable[[Session, Actor, Linked, Evidence], Candidates]  # by the current message and the conversation


def candidates_for(session: Session, actor: Actor, evidence: Evidence, name: str) -> Candidates:
    """The records the current message could mean for an argument the call lacks, by the argument's name; none
    for an argument no finder serves, or when there is no current message."""
    find = FINDERS.get(name)
    current = evidence.current
    return find(session, actor, current, evidence) if find is not None and current is not None else Candidates()


# -- items -------------------------------------------------------------------------------------------------


def item_candidates(session: Session, actor: Actor, current: Linked, evidence: Evidence) -> Candidates:
    """The items the message describes: its one ambiguous item mention's candidates, else the catalogue's best
    matches for its product words; none when it has several ambiguous item mentions (which line is which?)."""
    doubts = [m for m in current.of(MentionKind.ITEM) if m.ambiguous]
    if len(doubts) == 1:
        return Candidates.of(doubts[0])
    words = product_words(current)
    if doubts or not words:
        return Candidates()
    items, total = described_items(session, words, MAX_ITEMS)
    return Candidates(tuple(i.sku for i in items), tuple(i.name for i in items), total, words)


# -- exception cases ---------------------------------------------------------------------------------------


def case_candidates(session: Session, actor: Actor, current: Linked, evidence: Evidence) -> Candidates:
    """The open cases in the actor's scope that fit what the message says, soonest due first."""
    if evidence.names_unseen_place():
        return Candidates()  # "the Birmingham case" to a user who cannot see Birmingham: not one of theirs
    subjects = _case_subjects(current)
    types: list[ExceptionType | None] = [*case_types_written(current.text)] or [None]  # none named: any type
    cases = [c for t in types for c in _open_cases(session, actor, t, current)]
    fitting = sorted((c for c in cases if _is_about(c, subjects)), key=lambda c: (c.sla_due_at, c.id))
    shown = fitting[:MAX_CASES]
    return Candidates(tuple(c.number for c in shown), tuple(c.title for c in shown), len(fitting))


def case_types_written(text: str) -> list[ExceptionType]:
    """The case types the words name ("shortage", "credit hold"), in the order of CASE_TYPE_WORDS."""
    return [t for t, words in CASE_TYPE_WORDS.items() if re.search(rf"\b(?:{words})\b", text, re.IGNORECASE)]


def _open_cases(session: Session, actor: Actor, type: ExceptionType | None, current: Linked) -> list[ExceptionCase]:
    """The actor's open and assigned cases of a type (any, for None), in the one entity the message names if any."""
    entities = {i for m in current.of(MentionKind.ENTITY) for i in m.ids}
    entity = entities.pop() if len(entities) == 1 else None
    page = page_cases(session, actor, type=type, entity=entity, active_only=True, limit=CASES_READ)
    return page.cases


def _case_subjects(current: Linked) -> list[set[str]]:
    """For each kind of record the message names, the keys it could be ("Brazos": both Brazos customers)."""
    named: dict[MentionKind, set[str]] = {}
    for mention in current.mentions:
        if mention.kind in CASE_SUBJECTS and (mention.ids or mention.candidates):
            named.setdefault(mention.kind, set()).update(key(i) for i in (*mention.ids, *mention.candidates))
    return list(named.values())


def _is_about(case: ExceptionCase, subjects: list[set[str]]) -> bool:
    """The case's records include one of each kind the message names (the warehouse, the customer, …)."""
    related = {key(value) for _, value in leaves(case.related) if isinstance(value, str)}
    return all(keys & related for keys in subjects)


FINDERS: dict[str, Finder] = {"sku": item_candidates, "case_number": case_candidates}

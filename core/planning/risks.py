"""The risk analyses as the doors read them (CLI, REST): late-order risk, supplier scorecards and alerts, margin
leakage, each scoped to the caller's entities (or the one entity named, which must be theirs), as of today."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.exceptions.findings import Finding
from core.planning.late_orders import find_late_order_risks
from core.planning.margin_leakage import find_margin_leakage
from core.planning.suppliers import Scorecard, supplier_finding, supplier_scorecards
from core.reporting.service import entities_in_scope


@dataclass(frozen=True)
class SupplierReport:
    as_of: date
    scorecards: list[Scorecard]
    alerts: list[Finding]


def scope_of(session: Session, actor: Actor, entity: str | None) -> list[int]:
    """The entity ids the caller reads: theirs, or the one named (NotFound / OutOfScope otherwise)."""
    return [e.id for e in entities_in_scope(session, actor, entity)]


def late_order_risks(session: Session, actor: Actor, *, entity: str | None = None) -> list[Finding]:
    """Open lines in the caller's entities that will likely miss their promise date, largest value first."""
    found = find_late_order_risks(session, as_of=clock.today(), entity_ids=scope_of(session, actor, entity))
    return sorted(found, key=lambda f: (-f.impact, f.key))


def supplier_report(session: Session, actor: Actor, *, entity: str | None = None) -> SupplierReport:
    """The scorecard of each supplier of the caller's entities, and the alerts among them."""
    today = clock.today()
    cards = supplier_scorecards(session, as_of=today, entity_ids=scope_of(session, actor, entity))
    return SupplierReport(today, cards, [supplier_finding(c) for c in cards if c.judged])


def margin_leakage(session: Session, actor: Actor, *, entity: str | None = None) -> list[Finding]:
    """Customers of the caller's entities whose margin leaks, most money lost first."""
    found = find_margin_leakage(session, as_of=clock.today(), entity_ids=scope_of(session, actor, entity))
    return sorted(found, key=lambda f: (-f.impact, f.key))

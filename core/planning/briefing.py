"""The daily briefing: what needs one person's attention today, in their entities and for their roles.

One line per topic, each a count and the top items by priority (core/planning/priorities.py) with their numbers
and where to open them:

- the drafts waiting for their approval ("3 approvals waiting (1 overdue)");
- the open cases they may handle (routed to their role, assigned to them, or any as a manager), by type: the
  planning findings ("5 reorder proposals (12 items run out within the lead time, 5 proposed drafts ready)") and
  the classic exceptions ("2 shortages (1 past SLA)");
- for those who record payments, the customers to chase ("ACME 45 days past due").

Every figure comes from the data and every sentence from this code; nothing here is written by a model.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Permission
from core.audit import AuditContext, events_for, record_event
from core.drafts.inbox import waiting_for
from core.exceptions.models import ACTIVE_STATUSES, ExceptionCase, ExceptionType
from core.exceptions.service import chunks, may_handle
from core.money import format_money
from core.planning.priorities import Ranked, rank_cases, rank_collections, rank_drafts
from core.receivables.ageing import MAX_LISTED, collections

TOP = 3
ROUND_LOCK = 0x42524946  # "BRIF": held while a worker claims a day's round of briefings (PostgreSQL)
# Per case type: the noun for one and for several, and what the cases say (a count goes in front).
TOPICS: dict[ExceptionType, tuple[str, str, str]] = {
    ExceptionType.REPLENISHMENT: ("reorder proposal", "reorder proposals", ""),
    ExceptionType.LATE_ORDER_RISK: ("order line", "order lines", "at risk of missing {its} promise date"),
    ExceptionType.SUPPLIER_RISK: ("supplier alert", "supplier alerts", ""),
    ExceptionType.MARGIN_LEAKAGE: ("margin leak", "margin leaks", ""),
    ExceptionType.DEMAND_ANOMALY: ("demand anomaly", "demand anomalies", ""),
    ExceptionType.SHORTAGE: ("shortage", "shortages", ""),
    ExceptionType.CREDIT_HOLD: ("credit hold", "credit holds", ""),
    ExceptionType.PRICE_DEVIATION: ("price deviation", "price deviations", ""),
    ExceptionType.LATE_SUPPLIER: ("late supplier delivery", "late supplier deliveries", ""),
    ExceptionType.APPROVAL_OVERDUE: ("overdue approval case", "overdue approval cases", ""),
    ExceptionType.RECEIPT_VARIANCE: ("receipt variance", "receipt variances", ""),
    ExceptionType.TRANSFER_DISCREPANCY: ("transfer discrepancy", "transfer discrepancies", ""),
    ExceptionType.INVOICE_MISMATCH: ("invoice mismatch", "invoice mismatches", ""),
    ExceptionType.OVERDUE_RECEIVABLES: ("overdue receivables case", "overdue receivables cases", ""),
}
FINDINGS_FIRST = list(TOPICS)  # the order of the lines: the planning findings, then the classic exceptions


@dataclass(frozen=True)
class BriefingItem:
    """One item of a line: its record number, one sentence, where to open it and its priority score."""

    ref: str
    text: str
    link: str
    score: float


@dataclass(frozen=True)
class BriefingLine:
    """One topic: how many, the sentence that says it, and the top items."""

    topic: str
    count: int
    text: str
    link: str
    items: list[BriefingItem] = field(default_factory=list)


@dataclass(frozen=True)
class Briefing:
    """A person's briefing for a day; `text` is what a channel shows when it can show only words."""

    user: str
    day: date
    lines: list[BriefingLine]

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def headline(self) -> str:
        if self.empty:
            return f"Nothing needs your attention on {self.day.isoformat()}."
        return f"Your briefing for {self.day.isoformat()}: " + "; ".join(line.text for line in self.lines) + "."

    def text(self) -> str:
        """The briefing as plain text: the headline, then each line with its top items."""
        rows = [self.headline]
        for line in self.lines:
            rows.append(f"- {line.text}")
            rows.extend(f"    {item.ref}: {item.text}" for item in line.items)
        return "\n".join(rows)


def briefing(session: Session, actor: Actor, *, today: date | None = None) -> Briefing:
    """What needs this person's attention: approvals waiting for them, the cases they may handle by type, and for
    finance the customers to chase, each line a count with its top items by priority."""
    day = today or clock.today()
    lines = [_approvals(session, actor), *_cases(session, actor), _collections(session, actor)]
    return Briefing(actor.username, day, [line for line in lines if line is not None and line.count])


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# --- Approvals ---------------------------------------------------------------------------------------


def _approvals(session: Session, actor: Actor) -> BriefingLine:
    ranked = rank_drafts(session, waiting_for(session, actor=actor))
    overdue = sum(1 for r in ranked if r.overdue)
    text = _plural(len(ranked), "approval", "approvals") + " waiting" + (f" ({overdue} overdue)" if overdue else "")
    items = [
        BriefingItem(
            r.item.number,
            f"{r.item.summary} ({format_money(r.item.amount, r.item.currency)}" + (", overdue)" if r.overdue else ")"),
            f"/inbox?draft={r.item.number}",
            r.score,
        )
        for r in ranked[:TOP]
    ]
    return BriefingLine("approvals", len(ranked), text, "/inbox", items)


# --- Cases ---------------------------------------------------------------------------------------------


def handled_cases(session: Session, actor: Actor) -> list[ExceptionCase]:
    """The open and assigned cases in the actor's entities that they may handle (role, assignment, or manager)."""
    found: list[ExceptionCase] = []
    for batch in chunks(sorted(actor.entity_ids)):
        found.extend(
            session.scalars(
                select(ExceptionCase).where(
                    ExceptionCase.entity_id.in_(batch),
                    ExceptionCase.status.in_([s.value for s in ACTIVE_STATUSES]),
                )
            )
        )
    return [c for c in sorted(found, key=lambda c: c.id) if may_handle(actor, c)]


def _cases(session: Session, actor: Actor) -> list[BriefingLine]:
    by_type: dict[str, list[Ranked[ExceptionCase]]] = defaultdict(list)
    for ranked in rank_cases(session, handled_cases(session, actor)):
        by_type[ranked.item.type].append(ranked)
    order = {t.value: n for n, t in enumerate(FINDINGS_FIRST)}
    return [_case_line(kind, by_type[kind]) for kind in sorted(by_type, key=lambda k: order.get(k, len(order)))]


def _where(cases: list[Ranked[ExceptionCase]]) -> str:
    """ " at DAL" when every case names the same warehouse in its evidence, else nothing."""
    places = {str(_facts(r.item).get("warehouse") or "") for r in cases}
    return f" at {places.pop()}" if len(places) == 1 and "" not in places else ""


def _facts(case: ExceptionCase) -> dict[str, Any]:
    related = case.related or {}
    evidence = related.get("evidence")
    return {**related, **(evidence if isinstance(evidence, dict) else {})}


def _case_line(kind: str, cases: list[Ranked[ExceptionCase]]) -> BriefingLine:
    one, many, says = TOPICS.get(
        ExceptionType(kind), (kind.replace("_", " ") + " case", kind.replace("_", " ") + " cases", "")
    )
    its = "its" if len(cases) == 1 else "their"
    text = _plural(len(cases), one, many) + (" " + says.format(at=_where(cases), its=its) if says else "")
    notes = []
    short = _running_out(cases) if kind == ExceptionType.REPLENISHMENT.value else 0
    if short:
        notes.append(f"{_plural(short, 'item runs', 'items run')} out within the lead time")
    proposals = sum(1 for r in cases if (r.item.related or {}).get("proposal"))
    if proposals:
        notes.append(f"{_plural(proposals, 'proposed draft', 'proposed drafts')} ready")
    overdue = sum(1 for r in cases if r.overdue)
    if overdue:
        notes.append(f"{overdue} past SLA")
    text += f" ({', '.join(notes)})" if notes else ""
    items = [
        BriefingItem(r.item.number, _case_item(r.item), f"/exceptions?case={r.item.number}", r.score)
        for r in cases[:TOP]
    ]
    return BriefingLine(kind, len(cases), text, f"/exceptions?type={kind}", items)


def _running_out(cases: list[Ranked[ExceptionCase]]) -> int:
    """The items of these reorder proposals that run out within their supplier's lead time (from their evidence)."""
    lines = (ln for r in cases for ln in ((r.item.related or {}).get("evidence") or {}).get("lines") or [])
    return sum(1 for ln in lines if isinstance(ln, dict) and ln.get("stockout_within_lead_time"))


def _case_item(case: ExceptionCase) -> str:
    proposal = (case.related or {}).get("proposal")
    return case.title + (f"; proposed: {proposal['summary']}" if isinstance(proposal, dict) else "")


# --- Collections -----------------------------------------------------------------------------------------


def _collections(session: Session, actor: Actor) -> BriefingLine | None:
    if not actor.may(Permission.RECORD_PAYMENT):
        return None
    ranked = rank_collections(session, collections(session, actor, limit=MAX_LISTED))
    items = [
        BriefingItem(
            r.item.customer,
            f"{r.item.oldest_days} days past due ({format_money(r.item.past_due, r.item.currency)} past due, "
            f"oldest {r.item.oldest_invoice})",
            f"/api/receivables/ageing?customer={r.item.customer}",
            r.score,
        )
        for r in ranked[:TOP]
    ]
    top = f" ({ranked[0].item.customer} {ranked[0].item.oldest_days} days past due)" if ranked else ""
    text = _plural(len(ranked), "customer", "customers") + " to chase" + top
    return BriefingLine("collections", len(ranked), text, "/api/receivables/ageing", items)


# --- Sending them: one round a day per channel, whichever worker asks first ------------------------------


def claim_briefing_round(session: Session, *, channel: str, day: date) -> bool:
    """Whether the caller sends `channel`'s briefings of `day`: the first to ask claims the round, recorded on the
    audit log; every later ask that day (another worker, a restart) is told no. On PostgreSQL a transaction lock
    makes two workers asking at once claim it once."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUND_LOCK})
    subject = f"{channel}:{day.isoformat()}"
    if events_for(session, subject_type="briefing_round", subject_id=subject):
        return False
    record_event(
        session,
        AuditContext(actor_user_id=None),
        action="briefing.round",
        subject_type="briefing_round",
        subject_id=subject,
    )
    return True

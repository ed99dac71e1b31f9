"""After a hardening run: does the database still tell one consistent story?

Both the concurrency run and the crash run end here. A race or a killed process is only harmless
if, afterwards, the stock balances still equal the ledger and the open claims, every draft the run
touched was carried out at most once and left exactly one result document, and the hash-chained
audit log verifies and holds, for every executed draft, its policy decision, its approvals (when it
needed any) and its execution. Each problem is reported as a sentence naming the record.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditEvent, ChainReport, verify_chain
from core.drafts.models import DraftAction, DraftApproval, DraftStatus
from core.policy.decision import Outcome
from core.policy.facts import DraftKind
from core.policy.models import PolicyDecisionRecord
from core.purchasing.models import PurchaseOrder
from core.sales.models import OrderStatus, SalesOrder
from core.stock.models import DemandSource, Reservation, StockBalance
from core.stock.reconciliation import stock_disagreements
from core.transfers.models import Transfer, TransferStatus

# The kinds of draft whose execution creates a document (a sales order, a transfer, a purchase order).
CREATING_KINDS = frozenset({DraftKind.SALES_ORDER.value, DraftKind.TRANSFER.value, DraftKind.PURCHASE_ORDER.value})
# Statuses a draft can rest in once its transaction has committed; `approved` is only ever seen inside one.
SETTLED = {s.value for s in DraftStatus} - {DraftStatus.APPROVED.value}


@dataclass(frozen=True)
class Watermark:
    """The newest ids before a run, so the checks can tell what the run created."""

    draft_id: int
    sales_order_id: int
    transfer_id: int
    purchase_order_id: int


@dataclass(frozen=True)
class AuditReport:
    """What the checks found: the chain's verdict, what was looked at, and every problem as a sentence."""

    chain: ChainReport
    drafts: int  # drafts created since the watermark
    executed: int  # of them, executed
    documents: int  # result documents created since the watermark
    stock_positions: int
    stock_problems: tuple[str, ...]  # balances against the ledger and claims
    record_problems: tuple[str, ...]  # drafts against their documents, claims and audit trails

    @property
    def problems(self) -> tuple[str, ...]:
        return self.stock_problems + self.record_problems

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems


def _max_id(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.coalesce(func.max(column), 0))) or 0)


def watermark(session: Session) -> Watermark:
    """Where the database stands now, to be passed to `audit_after_run` later."""
    return Watermark(
        draft_id=_max_id(session, DraftAction.id),
        sales_order_id=_max_id(session, SalesOrder.id),
        transfer_id=_max_id(session, Transfer.id),
        purchase_order_id=_max_id(session, PurchaseOrder.id),
    )


def audit_after_run(session: Session, since: Watermark) -> AuditReport:
    """Every check at once: stock against ledger and claims, drafts against documents and audit events, the chain."""
    drafts = list(session.scalars(select(DraftAction).where(DraftAction.id > since.draft_id).order_by(DraftAction.id)))
    documents = _documents_since(session, since)
    records = [
        *execution_problems(drafts, documents),
        *document_claim_problems(session, since),
        *draft_event_problems(session, drafts),
    ]
    return AuditReport(
        chain=verify_chain(session),
        drafts=len(drafts),
        executed=sum(d.status == DraftStatus.EXECUTED for d in drafts),
        documents=len(documents),
        stock_positions=int(session.scalar(select(func.count()).select_from(StockBalance)) or 0),
        stock_problems=tuple(stock_disagreements(session)),
        record_problems=tuple(records),
    )


# --- Drafts and their result documents: each executed once, each with one document ----------------


def _documents_since(session: Session, since: Watermark) -> dict[str, int]:
    """Result documents created since the watermark, as number -> id."""
    found: dict[str, int] = {}
    for prefix, model, last in (
        ("SO", SalesOrder, since.sales_order_id),
        ("TR", Transfer, since.transfer_id),
        ("PO", PurchaseOrder, since.purchase_order_id),
    ):
        found.update({f"{prefix}-{i}": i for i in session.scalars(select(model.id).where(model.id > last))})
    return found


def execution_problems(drafts: Sequence[DraftAction], documents: dict[str, int]) -> list[str]:
    """A draft executed without a result, two drafts creating one document, a document no draft created.

    Only a sales order, transfer or purchase order draft creates its document; an order change names the order
    it changed, an exception action the case, and many of them may name the same one."""
    problems = [
        f"{d.number} is {d.status}, a state no committed draft rests in" for d in drafts if d.status not in SETTLED
    ]
    creating = [d for d in drafts if d.status == DraftStatus.EXECUTED and d.kind in CREATING_KINDS]
    for draft in drafts:
        if draft.status == DraftStatus.EXECUTED and (draft.result_ref is None or draft.executed_at is None):
            problems.append(f"{draft.number} is executed but has no result document or execution time")
        if draft.status != DraftStatus.EXECUTED and draft.result_ref is not None:
            problems.append(f"{draft.number} is {draft.status} yet names a result {draft.result_ref}")
    refs = Counter(d.result_ref for d in creating if d.result_ref)
    problems += [f"{ref} is the result of {n} drafts" for ref, n in refs.items() if n > 1]
    problems += [
        f"{d.number} names {d.result_ref}, which it did not create"
        for d in creating
        if d.result_ref and d.result_ref not in documents
    ]
    problems += [f"{number} was created by no executed draft" for number in documents if number not in refs]
    return problems


def document_claim_problems(session: Session, since: Watermark) -> list[str]:
    """Documents created since the watermark that do not hold the stock claims their state says they hold."""
    problems = []
    orders = session.scalars(
        select(SalesOrder).where(SalesOrder.id > since.sales_order_id, SalesOrder.status == OrderStatus.CONFIRMED)
    ).all()
    line_claims = _claims(session, DemandSource.SALES_ORDER_LINE, [ln.id for o in orders for ln in o.lines])
    for order in orders:
        problems += [
            f"{order.number} line {ln.line_no}: {line_claims.get(ln.id, 0)} claimed for {ln.open_quantity} open"
            for ln in order.lines
            if line_claims.get(ln.id, 0) != ln.open_quantity
        ]
    transfers = session.scalars(
        select(Transfer).where(Transfer.id > since.transfer_id, Transfer.status == TransferStatus.OPEN)
    ).all()
    transfer_claims = _claims(session, DemandSource.TRANSFER_LINE, [ln.id for t in transfers for ln in t.lines])
    for transfer in transfers:
        problems += [
            f"{transfer.number} line {ln.id}: {transfer_claims.get(ln.id, 0)} reserved for {ln.quantity} to move"
            for ln in transfer.lines
            if transfer_claims.get(ln.id, 0) != ln.quantity
        ]
    return problems


def _claims(session: Session, source: DemandSource, line_ids: Iterable[int]) -> dict[int, int]:
    """Reserved plus backordered units of each demand line."""
    ids = list(line_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Reservation.source_id, Reservation.quantity + Reservation.backordered).where(
            Reservation.source_type == source.value, Reservation.source_id.in_(ids)
        )
    )
    return {source_id: int(units) for source_id, units in rows}


# --- Audit: every executed draft has its decision, approvals and execution on the chain -----------


@dataclass(frozen=True)
class _Trail:
    """One draft's audit actions in chain order, its stored decisions and its approvals."""

    actions: list[str]
    executed_results: list[Any]
    decisions: list[str]
    approvals: int


def _trails(session: Session, drafts: Sequence[DraftAction]) -> dict[int, _Trail]:
    ids = [d.id for d in drafts]
    if not ids:
        return {}
    by_number = {d.number: d.id for d in drafts}
    actions: dict[int, list[str]] = defaultdict(list)
    results: dict[int, list[Any]] = defaultdict(list)
    events = session.execute(
        select(AuditEvent.subject_id, AuditEvent.action, AuditEvent.data)
        .where(AuditEvent.subject_type == "draft", AuditEvent.subject_id.in_(list(by_number)))
        .order_by(AuditEvent.seq)
    )
    for subject, action, data in events:
        actions[by_number[subject]].append(action)
        if action == "draft.executed":
            results[by_number[subject]].append(data.get("result"))
    decisions: dict[int, list[str]] = defaultdict(list)
    for draft_id, outcome in session.execute(
        select(PolicyDecisionRecord.draft_id, PolicyDecisionRecord.outcome)
        .where(PolicyDecisionRecord.draft_id.in_(ids))
        .order_by(PolicyDecisionRecord.id)
    ):
        decisions[draft_id or 0].append(outcome)
    approvals = Counter(
        session.scalars(
            select(DraftApproval.draft_id).where(DraftApproval.draft_id.in_(ids), DraftApproval.verdict == "approved")
        )
    )
    return {i: _Trail(actions[i], results[i], decisions[i], approvals[i]) for i in ids}


def draft_event_problems(session: Session, drafts: Sequence[DraftAction]) -> list[str]:
    """Drafts whose audit trail does not match what happened to them."""
    trails = _trails(session, drafts)
    return [problem for d in drafts for problem in trail_problems(d, trails[d.id])]


def trail_problems(draft: DraftAction, trail: _Trail) -> list[str]:
    """What is missing or doubled in one draft's trail: created once, confirmed at most once, each decision logged
    (none before the confirmation), approvals, execution."""
    name, count = draft.number, Counter(trail.actions)
    problems = []
    if not trail.actions or trail.actions[0] != "draft.created" or count["draft.created"] != 1:
        problems.append(f"{name}: the trail does not start with exactly one draft.created")
    confirmed = count["draft.confirmed"]
    if confirmed > 1:
        problems.append(f"{name}: confirmed {confirmed} times")
    if count["policy.decided"] != len(trail.decisions) or bool(trail.decisions) != bool(confirmed):
        # The policy decides only once the requester has confirmed; a preview never confirmed has no decision.
        problems.append(
            f"{name}: {count['policy.decided']} policy.decided events for {len(trail.decisions)} decisions"
            f" after {confirmed} confirmation(s)"
        )
    if count["draft.approved"] != trail.approvals:
        problems.append(f"{name}: {count['draft.approved']} draft.approved events for {trail.approvals} approvals")
    expected_executions = 1 if draft.status == DraftStatus.EXECUTED else 0
    if count["draft.executed"] != expected_executions:
        problems.append(f"{name} is {draft.status} with {count['draft.executed']} draft.executed events")
    if draft.status == DraftStatus.EXECUTED:
        problems += _executed_trail_problems(draft, trail)
    return problems


def _executed_trail_problems(draft: DraftAction, trail: _Trail) -> list[str]:
    """An executed draft: its execution names its document, comes last, and follows the approvals it needed."""
    name, problems = draft.number, []
    if trail.executed_results and trail.executed_results[0] != draft.result_ref:
        problems.append(f"{name}: draft.executed names {trail.executed_results[0]}, the draft {draft.result_ref}")
    if trail.actions and trail.actions[-1] != "draft.executed":
        problems.append(f"{name}: {trail.actions[-1]} was logged after its execution")
    needed_approval = bool(trail.decisions) and trail.decisions[0] == Outcome.NEEDS_APPROVAL.value
    if needed_approval and trail.approvals == 0:
        problems.append(f"{name} needed approval and was executed without any")
    last = trail.decisions[-1] if trail.decisions else None
    if last == Outcome.BLOCK.value or (last != Outcome.EXECUTE.value and not needed_approval):
        problems.append(f"{name}: executed although its last decision was {last}")
    return problems

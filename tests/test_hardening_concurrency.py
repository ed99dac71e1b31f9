"""The hardening runs, short: racing workers and killed approvals leave one consistent database.

The full runs are `python -m evals.hardening.concurrency` and `python -m evals.hardening.crash`;
these run the same code for a few seconds on the small world, and show that the checker they end
with catches each kind of damage it looks for.
"""

from collections import Counter
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from core.actor import Person
from core.audit import AuditContext, record_event
from core.drafts import service as drafts
from core.drafts.models import DraftAction, DraftApproval
from core.sales.service import LineRequest, confirm_order, create_order
from core.stock.models import LedgerEntry, StockBalance
from evals.common.audit_check import AuditReport, audit_after_run, watermark
from evals.common.results import Check
from evals.hardening.concurrency import Settings, run_on
from evals.hardening.crash import crash_on, state_problems
from tests.concurrency import all_at_once
from tests.world import World

pytestmark = pytest.mark.postgres


def _failed(checks: Sequence[Check]) -> list[str]:
    return [f"{c.check}: {c.measured}" for c in checks if not c.passed]


def test_sixteen_workers_racing_for_scarce_stock_oversell_nothing_and_execute_each_draft_once(
    pg_world: World,
) -> None:
    run = run_on(pg_world.db, Settings(seconds=8, workers=16, items=3, seed=7, company="test world"))
    assert _failed(run.checks) == []
    assert run.errors == run.surfaced_retryable == run.hung == 0
    assert run.executed > 0 and run.refused > 0 and run.pending > 0
    assert run.audit.ok and run.audit.executed > 0
    collided = ("approve: invalid_state", "approve: permission_denied")  # another approver got there first
    assert any(reason.startswith(collided) for reason, _ in run.refusals)


def test_an_approval_killed_before_its_commit_leaves_it_pending_and_after_leaves_it_executed(pg_world: World) -> None:
    run = crash_on(pg_world.db, attempts=3)  # after the commit, at a point inside the approval, before the commit
    assert [k.problems for k in run.kills] == [(), (), ()]
    assert [k.mode for k in run.kills] == ["after-commit", "timed", "before-commit"]
    assert all(k.killed for k in run.kills[::2])
    assert run.kills[0].state == "executed" and run.kills[0].recovery == "approving again refused"
    assert run.kills[1].state in {"pending_approval", "executed"}
    assert run.kills[2].state == "pending_approval" and run.kills[2].recovery == "approved afterwards: executed"
    assert run.audit.ok, run.audit.problems


def test_the_same_request_sent_eight_times_at_once_is_one_draft(pg_world: World) -> None:
    """A client retrying while its first call still runs gets the same draft back, not a unique-key error."""
    ctx = drafts.RequestContext(pg_world.actor("sam"), channel="assistant", conversation_id="c", tool_call_id="t1")
    payload = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 2, "warehouse": "DAL"}]}
    outcomes = all_at_once(
        pg_world,
        [lambda s: drafts.draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload) for _ in range(8)],
    )
    assert outcomes == Counter({"ok": 8})
    assert pg_world.read(lambda s: len(s.scalars(select(DraftAction.id)).all())) == 1
    assert pg_world.balance("V-200", "DAL").reserved == 2


# --- The checker catches what it is there to catch ----------------------------------------------------


def _executed_order(world: World) -> DraftAction:
    """A manager-approved sales order: draft, approval, execution, all through the gate."""
    ctx = drafts.RequestContext(world.actor("sam"), channel="assistant", conversation_id="c", tool_call_id="big")
    payload = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}
    draft = world.run(lambda s: drafts.draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload))
    gus = Person(world.actor("gus"), channel="web")
    return world.run(lambda s: drafts.approve(s, gus, draft_number=draft.id))


def _delete_a_ledger_row(world: World, _draft: DraftAction) -> None:
    world.run(lambda s: s.execute(delete(LedgerEntry).where(LedgerEntry.id == s.scalar(select(LedgerEntry.id)))))


def _reserve_one_more(world: World, _draft: DraftAction) -> None:
    world.run(lambda s: s.execute(update(StockBalance).where(StockBalance.on_hand > 0).values(reserved=1)))


def _log_a_second_execution(world: World, draft: DraftAction) -> None:
    """A second draft.executed event, properly chained: the chain verifies, the trail does not."""
    context = AuditContext(actor_user_id=None, channel="system")
    data = {"kind": draft.kind, "status": "executed", "result": draft.result_ref}
    world.run(
        lambda s: record_event(
            s, context, action="draft.executed", subject_type="draft", subject_id=draft.number, data=data
        )
    )


def _rewrite_an_audit_event(world: World, _draft: DraftAction) -> None:
    """What only the database's owner could do: switch off the append-only trigger and edit history."""

    def rewrite(s: Session) -> None:
        s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        s.execute(text("UPDATE audit_events SET channel = 'web' WHERE seq = 1"))

    world.run(rewrite)


def _order_past_the_gate(world: World, _draft: DraftAction) -> None:
    sam = world.actor("sam")

    def sell(s: Session) -> None:
        order = create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 1, warehouse="DAL")])
        confirm_order(s, sam, order_number=order.id)

    world.run(sell)


def _executed_without_its_document(world: World, draft: DraftAction) -> None:
    world.run(lambda s: s.execute(update(DraftAction).where(DraftAction.id == draft.id).values(result_ref="SO-999999")))


PLANTED: dict[str, tuple[Callable[[World, DraftAction], None], str]] = {
    "ledger row deleted": (_delete_a_ledger_row, "on_hand"),
    "reservation without a claim": (_reserve_one_more, "reserved"),
    "second execution event": (_log_a_second_execution, "2 draft.executed events"),
    "audit event rewritten": (_rewrite_an_audit_event, "chain"),
    "order placed past the gate": (_order_past_the_gate, "created by no executed draft"),
    "executed draft without its document": (_executed_without_its_document, "did not create"),
}


def _findings(report: AuditReport) -> str:
    return " | ".join([*report.problems, *([] if report.chain.ok else [f"chain: {report.chain.reason}"])])


@pytest.mark.parametrize("damage", list(PLANTED))
def test_the_audit_check_finds_planted_damage(pg_world: World, damage: str) -> None:
    since = pg_world.read(watermark)
    draft = _executed_order(pg_world)
    clean = pg_world.read(lambda s: audit_after_run(s, since))
    assert clean.ok and clean.executed == 1, _findings(clean)
    plant, expected = PLANTED[damage]
    plant(pg_world, draft)
    report = pg_world.read(lambda s: audit_after_run(s, since))
    assert not report.ok
    assert expected in _findings(report)


def test_the_crash_check_finds_an_approval_stored_without_its_execution(pg_world: World) -> None:
    ctx = drafts.RequestContext(pg_world.actor("sam"), channel="assistant", conversation_id="c", tool_call_id="big")
    payload = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}
    draft = pg_world.run(lambda s: drafts.draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload))
    assert pg_world.read(lambda s: state_problems(s, draft.id, "timed", killed=True)) == []
    gus = pg_world.actor("gus")
    pg_world.run(
        lambda s: s.add(
            DraftApproval(
                draft_id=draft.id,
                approver_id=gus.user_id,
                verdict="approved",
                role="manager",
                entity_id=draft.entity_id,
                comment="",
                created_at=draft.created_at,
            )
        )
    )
    problems = pg_world.read(lambda s: state_problems(s, draft.id, "timed", killed=True))
    assert problems == [f"{draft.number} is pending with 1 approvals stored; 0 were given before"]
    assert pg_world.read(lambda s: state_problems(s, draft.id, "after-commit", killed=True))[0] == (
        f"{draft.number} is pending_approval; the kill allows ['executed']"
    )

"""The write gate on the small world: drafts, the policy's three outcomes, approvals, re-validation, expiry."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Person
from core.audit import events_for, verify_chain
from core.drafts.inbox import (
    InboxFilter,
    awaiting_approval,
    decided_by,
    drafts_in_conversation,
    may_approve,
    waiting_for,
)
from core.drafts.models import DraftAction
from core.drafts.service import (
    RequestContext,
    approve,
    cancel,
    decision_blocker,
    draft_action,
    explain,
    pending_for,
    reject,
    require_rejection_comment,
    sweep_approvals,
)
from core.errors import ErpError, InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.exceptions import ExceptionType, page_cases
from core.sales.models import SalesOrder
from core.stock.models import Reservation
from core.stock.reconciliation import stock_disagreements
from core.stock.service import adjust_stock
from tests.concurrency import all_at_once
from tests.world import World


def _ctx(world: World, username: str, tool_call: str = "call-1") -> RequestContext:
    return RequestContext(world.actor(username), channel="assistant", conversation_id="conv-1", tool_call_id=tool_call)


def _person(world: World, username: str) -> Person:
    return Person(world.actor(username), channel="web")


def _order_payload(
    customer: str, sku: str, quantity: int, warehouse: str = "DAL", **extra: object
) -> dict[str, object]:
    """A sales-order draft's payload of one line (nothing is created: the draft tests pass it to the gate)."""
    return {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "warehouse": warehouse}], **extra}


def _draft(
    world: World, username: str, kind: str, payload: dict[str, object], tool_call: str = "call-1"
) -> DraftAction:
    ctx = _ctx(world, username, tool_call)
    return world.run(lambda s: draft_action(s, ctx, confirmed=True, kind=kind, payload=payload))


def _business_rows(world: World) -> tuple[int, int]:
    def count(s: Session) -> tuple[int, int]:
        orders = s.scalar(select(func.count()).select_from(SalesOrder))
        claims = s.scalar(select(func.count()).select_from(Reservation))
        return int(orders or 0), int(claims or 0)

    return world.read(count)


def test_a_small_order_executes_at_once_with_its_diff(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "V-200", 10))
    assert draft.status == "executed" and draft.result_ref is not None and draft.result_ref.startswith("SO-")
    assert draft.diff == ["V-200 @ DAL: reserved 0 → 10, available 100 → 90"]
    assert "ACME" in draft.summary and "USD 180.00" in draft.summary
    assert world.balance("V-200", "DAL").reserved == 10


def test_a_large_order_waits_for_a_manager_and_changes_nothing_until_then(world: World) -> None:
    before = _business_rows(world)
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))  # USD 6,000
    assert draft.status == "pending_approval"
    assert [r["role"] for r in draft.requirements] == ["manager"]
    assert "manager" in draft.explanation.lower()
    assert _business_rows(world) == before
    assert world.balance("X-900", "DAL").reserved == 0
    assert draft.diff == ["X-900 @ DAL: reserved 0 → 1, available 10 → 9"]

    executed = world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id, comment="ok"))
    assert executed.status == "executed"
    assert world.balance("X-900", "DAL").reserved == 1
    actions = [e.action for e in world.read(lambda s: events_for(s, subject_type="draft", subject_id=draft.number))]
    assert actions == [
        "draft.created",
        "draft.confirmed",
        "policy.decided",
        "draft.approved",
        "policy.decided",
        "draft.executed",
    ]
    assert world.read(verify_chain).ok


def test_the_requester_never_approves_their_own_draft(world: World) -> None:
    draft = _draft(world, "gus", "sales_order", _order_payload("ACME", "X-900", 1))
    with pytest.raises(PermissionDenied, match="someone else must approve"):
        world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id))
    assert world.read(lambda s: s.get(DraftAction, draft.id).status) == "pending_approval"  # type: ignore[union-attr]


def test_approvers_need_the_role_the_scope_and_the_limit(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    with pytest.raises(PermissionDenied, match="needs the role manager"):
        world.run(lambda s: approve(s, _person(world, "wes"), draft_number=draft.id))
    with pytest.raises(PermissionDenied, match="needs the role manager"):
        world.run(lambda s: approve(s, _person(world, "root"), draft_number=draft.id))
    bigger = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 2), tool_call="call-2")  # USD 12,000
    with pytest.raises(PermissionDenied, match=r"approval limit in NA is USD 10,000\.00"):
        world.run(lambda s: approve(s, _person(world, "mia"), draft_number=bigger.id))
    assert [d.number for d in world.read(lambda s: pending_for(s, world.actor("mia")))] == [draft.number]
    assert {d.number for d in world.read(lambda s: pending_for(s, world.actor("gus")))} == {
        draft.number,
        bigger.number,
    }


def test_intercompany_transfer_needs_a_manager_of_each_entity(world: World) -> None:
    payload = {"from_warehouse": "DAL", "to_warehouse": "BHM", "lines": [{"sku": "V-200", "quantity": 10}]}
    draft = _draft(world, "mia", "transfer", payload)
    assert draft.status == "pending_approval"
    assert sorted((r["role"], r["entity"]) for r in draft.requirements) == [("manager", "NA"), ("manager", "UK")]
    assert world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id).status) == "pending_approval"
    with pytest.raises(PermissionDenied, match=r"needs UK in your scope|needs the role"):
        world.run(lambda s: approve(s, _person(world, "nia"), draft_number=draft.id))
    done = world.run(lambda s: approve(s, _person(world, "ulf"), draft_number=draft.id))
    assert done.status == "executed" and done.result_ref is not None
    assert world.balance("V-200", "BHM").incoming == 10
    assert world.read(stock_disagreements) == []


def test_approval_re_validates_and_fails_cleanly_when_stock_has_gone(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 2))
    wes = world.actor("wes")
    world.run(lambda s: adjust_stock(s, wes, sku="X-900", warehouse="DAL", quantity=-9, reason="flood damage"))
    before = _business_rows(world)
    failed = world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id))
    assert failed.status == "failed"
    assert failed.failure_reason is not None and "X-900 at DAL: need 2, available 1" in failed.failure_reason
    assert _business_rows(world) == before
    assert world.balance("X-900", "DAL").reserved == 0


def test_a_customer_on_hold_is_blocked_and_nothing_is_written(world: World) -> None:
    before = _business_rows(world)
    draft = _draft(world, "sam", "sales_order", _order_payload("HOLDCO", "V-200", 1))
    assert draft.status == "blocked"
    assert "hold" in draft.explanation.lower()
    assert _business_rows(world) == before
    with pytest.raises(InvalidState):
        world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id))


def test_the_same_request_twice_is_the_same_draft(world: World) -> None:
    first = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    again = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    assert again.id == first.id
    ctx = _ctx(world, "sam")
    with pytest.raises(InvalidInput, match="already used for a different request"):
        world.run(
            lambda s: draft_action(
                s,
                ctx,
                confirmed=True,
                kind="sales_order",
                payload=_order_payload("ACME", "X-900", 3),
                idempotency_key=first.idempotency_key,
            )
        )


@pytest.mark.parametrize(
    ("kind", "payload", "text"),
    [
        ("sales_order", _order_payload("ACME", "V-200", -5), "quantity"),
        ("sales_order", _order_payload("ACME", "V-2000", 1), "did you mean V-200"),
        ("sales_order", {"customer": "ACME", "lines": []}, "lines"),
        ("teleport", {}, "unknown draft kind"),
        (
            "transfer",
            {"from_warehouse": "DAL", "to_warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 1}]},
            "two different",
        ),
    ],
)
def test_bad_requests_are_refused_and_leave_no_draft(
    world: World, kind: str, payload: dict[str, object], text: str
) -> None:
    with pytest.raises(Exception, match=text):
        _draft(world, "sam", kind, payload)
    assert world.read(lambda s: s.scalar(select(func.count()).select_from(DraftAction))) == 0


def test_rejection_needs_a_reason_and_ends_the_draft(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    with pytest.raises(InvalidInput, match="needs a comment"):
        world.run(lambda s: reject(s, _person(world, "gus"), draft_number=draft.id, comment=" "))
    with pytest.raises(InvalidInput, match="NUL"):  # a Slack modal's comment reaches the core unchecked
        world.run(lambda s: reject(s, _person(world, "gus"), draft_number=draft.id, comment="no\x00 stock"))
    rejected = world.run(
        lambda s: reject(s, _person(world, "gus"), draft_number=draft.id, comment="customer asked to wait")
    )
    assert rejected.status == "rejected"
    with pytest.raises(InvalidState):
        world.run(lambda s: approve(s, _person(world, "nia"), draft_number=draft.id))


def test_only_the_requester_cancels(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    with pytest.raises(PermissionDenied):
        world.run(lambda s: cancel(s, _ctx(world, "gus"), draft_number=draft.id))
    assert world.run(lambda s: cancel(s, _ctx(world, "sam"), draft_number=draft.id).status) == "cancelled"


def test_waiting_drafts_escalate_then_expire(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    later = clock.now() + timedelta(hours=25)
    report = world.run(lambda s: sweep_approvals(s, now=later))
    assert report.escalated == [draft.number] and report.expired == []
    assert world.run(lambda s: sweep_approvals(s, now=later)).escalated == []  # once only
    cases = world.read(lambda s: page_cases(s, world.actor("gus"), type=ExceptionType.APPROVAL_OVERDUE).cases)
    assert len(cases) == 1 and draft.number in cases[0].title
    expired = world.run(lambda s: sweep_approvals(s, now=clock.now() + timedelta(hours=73)))
    assert expired.expired == [draft.number]
    with pytest.raises(InvalidState):
        world.run(lambda s: approve(s, _person(world, "gus"), draft_number=draft.id))


def test_the_assistant_is_never_a_person_who_can_approve(world: World) -> None:
    with pytest.raises(PermissionDenied):
        Person(world.actor("gus"), channel="assistant")


def test_explain_says_where_a_draft_stands_in_plain_words(world: World) -> None:
    draft = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    text = world.read(lambda s: explain(s, world.actor("sam"), draft_number=draft.number))
    assert text.startswith(f"{draft.number} (pending approval).") and "manager" in text.lower()
    with pytest.raises(OutOfScope):
        world.read(lambda s: explain(s, world.actor("uma"), draft_number=draft.number))


@pytest.mark.postgres
def test_two_managers_approving_at_once_execute_the_draft_once(pg_world: World) -> None:
    draft = _draft(pg_world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    gus, nia = _person(pg_world, "gus"), _person(pg_world, "nia")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s: approve(s, gus, draft_number=draft.id),
            lambda s: approve(s, nia, draft_number=draft.id),
        ],
    )
    assert outcomes == Counter({"ok": 1, "invalid_state": 1})
    assert _business_rows(pg_world) == (1, 1)
    assert pg_world.balance("X-900", "DAL").reserved == 1


def test_the_same_order_requested_twice_without_a_call_id_is_two_drafts(world: World) -> None:
    ctx = RequestContext(world.actor("sam"), channel="cli")
    first = world.run(
        lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=_order_payload("ACME", "V-200", 1))
    )
    second = world.run(
        lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=_order_payload("ACME", "V-200", 1))
    )
    assert first.id != second.id and first.status == second.status == "executed"
    assert world.balance("V-200", "DAL").reserved == 2


def _blocker(world: World, username: str, draft: DraftAction) -> ErpError | None:
    actor = world.actor(username)
    return world.read(lambda s: decision_blocker(s, actor, s.get(DraftAction, draft.id)))  # type: ignore[arg-type]


def _refusal(world: World, username: str, draft: DraftAction) -> ErpError:
    with pytest.raises(ErpError) as raised:
        world.run(lambda s: approve(s, _person(world, username), draft_number=draft.id))
    return raised.value


def test_the_buttons_and_the_decision_follow_one_rule_with_one_message(world: World) -> None:
    own = _draft(world, "gus", "sales_order", _order_payload("ACME", "X-900", 1))
    order = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    bigger = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 2), tool_call="call-2")  # USD 12,000
    transfer = _draft(world, "mia", "transfer", _intercompany())
    world.run(lambda s: approve(s, _person(world, "gus"), draft_number=transfer.id))
    world.run(lambda s: reject(s, _person(world, "nia"), draft_number=own.id, comment="not now"))
    for username, draft, kind in [
        ("gus", own, InvalidState),  # rejected already
        ("sam", order, PermissionDenied),  # the requester
        ("wes", order, PermissionDenied),  # no manager role
        ("mia", bigger, PermissionDenied),  # over her limit
        ("gus", transfer, InvalidState),  # already decided on it
    ]:
        blocker, refusal = _blocker(world, username, draft), _refusal(world, username, draft)
        assert isinstance(blocker, kind) and type(blocker) is type(refusal), (username, draft.number)
        assert blocker.message == refusal.message
    assert _blocker(world, "gus", order) is None and _blocker(world, "ulf", transfer) is None


def test_a_rejection_without_a_comment_is_refused_by_one_rule() -> None:
    with pytest.raises(InvalidInput, match="needs a comment"):
        require_rejection_comment("  ")
    require_rejection_comment("too dear")


def _intercompany() -> dict[str, object]:
    return {"from_warehouse": "DAL", "to_warehouse": "BHM", "lines": [{"sku": "V-200", "quantity": 10}]}


def _inbox(world: World, username: str, **wanted: object) -> list[str]:
    actor, filters = world.actor(username), InboxFilter(**wanted)  # type: ignore[arg-type]
    return [d.number for d in world.read(lambda s: waiting_for(s, actor=actor, filters=filters))]


def test_the_inbox_filters_what_waits_by_entity_kind_age_and_value(world: World) -> None:
    order = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1)).number  # USD 6,000 in NA
    transfer = _draft(world, "mia", "transfer", _intercompany()).number  # NA to UK, a few hundred USD
    assert _inbox(world, "gus") == [order, transfer]
    assert _inbox(world, "gus", entity="uk") == [transfer]  # either side of an intercompany draft
    assert _inbox(world, "gus", kind="transfer") == [transfer]
    assert _inbox(world, "gus", min_value_usd=Decimal(1000)) == [order]
    assert _inbox(world, "gus", max_value_usd=Decimal(1000)) == [transfer]
    assert _inbox(world, "gus", min_age_hours=0) == [order, transfer]
    assert _inbox(world, "gus", min_age_hours=1) == []
    assert _inbox(world, "sam") == []
    with pytest.raises(NotFound):
        _inbox(world, "gus", entity="ZZ")


def test_the_history_lists_a_persons_decisions_latest_first(world: World) -> None:
    order = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    transfer = _draft(world, "mia", "transfer", _intercompany())
    world.run(lambda s: approve(s, _person(world, "gus"), draft_number=transfer.id))
    world.run(lambda s: approve(s, _person(world, "gus"), draft_number=order.id))
    gus = world.actor("gus")

    def history(limit: int) -> list[str]:
        return [d.number for d in world.read(lambda s: decided_by(s, actor=gus, limit=limit))]

    assert history(50) == [order.number, transfer.number]
    assert history(1) == [order.number]
    nia = world.actor("nia")
    assert world.read(lambda s: decided_by(s, actor=nia, limit=50)) == []


def test_a_conversation_shows_only_the_drafts_its_owner_asked_for(world: World) -> None:
    order = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))  # both in conversation conv-1
    transfer = _draft(world, "mia", "transfer", _intercompany())

    def drafts(username: str, conversation_id: str) -> list[str]:
        actor = world.actor(username)
        found = world.read(lambda s: drafts_in_conversation(s, actor=actor, conversation_id=conversation_id))
        return [d.number for d in found]

    assert drafts("sam", "conv-1") == [order.number]
    assert drafts("mia", "conv-1") == [transfer.number]
    assert drafts("sam", "conv-2") == []


def test_who_may_approve_needs_an_approving_role_and_a_limit(world: World) -> None:
    actors = {u: world.actor(u) for u in ("gus", "mia", "sam", "root")}
    allowed = {u: world.read(lambda s, a=a: may_approve(s, actor=a)) for u, a in actors.items()}
    assert allowed == {"gus": True, "mia": True, "sam": False, "root": False}


def test_a_draft_is_announced_only_while_it_waits(world: World) -> None:
    order = _draft(world, "sam", "sales_order", _order_payload("ACME", "X-900", 1))
    found = world.read(lambda s: awaiting_approval(s, draft_number=order.number))
    assert found is not None and found.id == order.id
    world.run(lambda s: approve(s, _person(world, "gus"), draft_number=order.id))
    for number in (order.number, "DR-999999", "SO-1"):
        assert world.read(lambda s, n=number: awaiting_approval(s, draft_number=n)) is None

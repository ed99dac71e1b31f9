"""Every change the gate makes leaves a linked audit event: drafts, decisions, and exception cases."""

from core.audit import events_for, verify_chain
from core.exceptions import ExceptionType, assign_case, comment_case, raise_case
from tests.world import World


def test_exception_cases_are_raised_and_changed_on_the_audit_chain(world: World) -> None:
    def raise_one(s):  # type: ignore[no-untyped-def]
        na = world.actor("gus")
        case, created = raise_case(
            s,
            type=ExceptionType.LATE_SUPPLIER,
            entity_id=min(na.entity_ids),
            dedup_key="late_supplier:purchase_order:999",
            severity="high",
            title="PO-999 is late",
            detail="expected last week",
            related={"purchase_order": "PO-999"},
        )
        assert created
        return case.number

    number = world.run(raise_one)
    gus = world.actor("gus")
    world.run(lambda s: assign_case(s, gus, case_number=number, assignee="bea"))
    world.run(lambda s: comment_case(s, gus, case_number=number, text="chased the supplier"))
    events = world.read(lambda s: events_for(s, subject_type="exception", subject_id=number))
    assert [e.action for e in events] == ["exception.raised", "exception.assigned", "exception.commented"]
    assert events[0].actor_user_id is None and events[1].actor_user_id == gus.user_id
    assert "buyer" in events[0].data["cases"][0]["routing"]
    assert world.read(verify_chain).ok

"""Every change the gate makes leaves a linked audit event: drafts, decisions, and exception cases."""

from pathlib import Path

from sqlalchemy import select

from assistant.agent import Assistant
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.actor import Person
from core.audit import events_for, verify_chain
from core.drafts.models import DraftAction
from core.drafts.service import approve, confirm
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


def test_every_event_of_a_draft_made_through_the_agent_names_its_conversation_and_tool_call(
    sqlite_world: World, tmp_path: Path
) -> None:
    order = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}  # needs a manager
    script = Script([Reply(calls=(Call("draft_sales_order", order),))])  # code answers the preview
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(sqlite_world.db, checkpointer, settings=ModelSettings(model=scripted_model(script)))
    turn = assistant.turn(sqlite_world.actor("sam"), "one X-900 for ACME")
    kept = assistant.graph.get_state({"configurable": {"thread_id": turn.conversation_id}}).values["messages"]
    [call_id] = [c["id"] for m in kept for c in m.get("tool_calls") or []]
    number = sqlite_world.read(lambda s: s.scalars(select(DraftAction)).one().number)
    sqlite_world.run(lambda s: confirm(s, Person(sqlite_world.actor("sam"), channel="web"), draft_number=number))
    sqlite_world.run(lambda s: approve(s, Person(sqlite_world.actor("gus"), channel="slack"), draft_number=number))
    events = sqlite_world.read(lambda s: events_for(s, subject_type="draft", subject_id=number))
    assert [e.action for e in events] == [
        "draft.created",
        "draft.confirmed",
        "policy.decided",
        "draft.approved",
        "policy.decided",
        "draft.executed",
    ]
    assert {(e.conversation_id, e.tool_call_id) for e in events} == {(turn.conversation_id, call_id)}
    assert sqlite_world.read(verify_chain).ok

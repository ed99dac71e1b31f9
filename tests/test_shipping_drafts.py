"""Shipping through the write gate: a preview changes nothing, the requester confirms, the policy executes or holds."""

import pytest
from sqlalchemy import func, select

from core.actor import Person
from core.audit import events_for
from core.drafts.service import RequestContext, approve, confirm, draft_action
from core.errors import InvalidInput, PermissionDenied
from core.sales.models import Shipment
from core.sales.service import LineRequest
from core.shipping.service import fulfilment_status, record_milestone
from core.stock.reconciliation import stock_disagreements
from tests.world import World

TRACKED = {"carrier": "UPS", "service_level": "Ground", "tracking_number": "1Z999AA10123456784", "packages": 1}


def _ctx(world: World, username: str, call: str = "call-1") -> RequestContext:
    return RequestContext(world.actor(username), channel="assistant", conversation_id="conv-1", tool_call_id=call)


def _shipments(world: World) -> int:
    return int(world.read(lambda s: s.scalar(select(func.count()).select_from(Shipment))) or 0)


def test_a_shipment_preview_changes_nothing_until_the_requester_confirms_then_executes(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), confirm=True)
    payload = {"order_number": number, "warehouse": "dal", "lines": [{"line_no": 1, "quantity": 10}], **TRACKED}
    draft = world.run(lambda s: draft_action(s, _ctx(world, "wes"), kind="shipment", payload=payload, confirmed=False))
    assert draft.status == "unconfirmed"
    assert draft.summary == (
        f"Ship {number} from DAL: 10 x V-200 (line 1) via UPS, Ground, tracking 1Z999AA10123456784; invoice USD 180.00"
    )
    assert "V-200 @ DAL: on hand 100 → 90, reserved 30 → 20" in draft.diff
    assert f"{number}: status → partially shipped" in draft.diff
    assert _shipments(world) == 0 and world.balance("V-200", "DAL").on_hand == 100
    done = world.run(lambda s: confirm(s, Person(world.actor("wes"), "web"), draft_number=draft.number))
    assert done.status == "executed" and done.result_ref is not None and done.result_ref.startswith("SH-")
    status = world.read(lambda s: fulfilment_status(s, world.actor("sam"), order_number=number))
    assert [(s.number, s.tracking_number, s.lines[0].quantity) for s in status.shipments] == [
        (done.result_ref, "1Z999AA10123456784", 10)
    ]
    assert world.read(stock_disagreements) == []


def test_a_high_value_shipment_waits_for_a_manager(world: World) -> None:
    number = world.place_order("ACME", LineRequest("X-900", 9, warehouse="DAL"), confirm=True)  # 9 x 6,000 USD
    draft = world.run(
        lambda s: draft_action(s, _ctx(world, "wes"), kind="shipment", payload={"order_number": number}, confirmed=True)
    )
    assert draft.status == "pending_approval"
    assert "shipment.high_value" in draft.explanation
    assert _shipments(world) == 0
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed"
    assert world.balance("X-900", "DAL").on_hand == 1
    assert world.read(stock_disagreements) == []


def test_sales_cannot_draft_a_shipment_and_a_line_named_twice_is_refused(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 30, warehouse="DAL"), confirm=True)
    with pytest.raises(PermissionDenied):
        world.run(
            lambda s: draft_action(
                s, _ctx(world, "sam"), kind="shipment", payload={"order_number": number}, confirmed=False
            )
        )
    twice = {"order_number": number, "lines": [{"line_no": 1, "quantity": 2}, {"line_no": 1, "quantity": 3}]}
    with pytest.raises(InvalidInput, match="named twice"):
        world.run(lambda s: draft_action(s, _ctx(world, "wes"), kind="shipment", payload=twice, confirmed=False))
    assert _shipments(world) == 0


def test_a_delivered_milestone_is_audited_with_its_person_and_channel(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 3, warehouse="DAL"), confirm=True)
    draft = world.run(
        lambda s: draft_action(s, _ctx(world, "wes"), kind="shipment", payload={"order_number": number}, confirmed=True)
    )
    wes = world.actor("wes")
    world.run(
        lambda s: record_milestone(s, wes, shipment_number=draft.result_ref or "", milestone="delivered", channel="web")
    )
    events = world.read(lambda s: events_for(s, subject_type="shipment", subject_id=draft.result_ref or ""))
    assert [(e.action, e.channel, e.actor_user_id) for e in events] == [("shipment.milestone", "web", wes.user_id)]

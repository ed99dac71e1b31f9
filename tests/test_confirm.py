"""Confirm before write: a draft is a preview until its requester confirms it; only then does the policy decide."""

import pytest

from core import clock
from core.actor import Person
from core.audit import events_for
from core.drafts.kinds import KINDS
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, confirm, draft_action, effect_of, sweep_approvals
from core.errors import InvalidState, PermissionDenied
from core.policy.facts import DraftKind
from core.stock.service import adjust_stock
from tests.fake_clock import FakeClock
from tests.world import World


def _preview(
    world: World,
    username: str,
    payload: dict[str, object],
    conversation: str = "conv-1",
    kind: str = "sales_order",
    restates: tuple[str, ...] = (),
) -> DraftAction:
    ctx = RequestContext(
        world.actor(username), channel="web", conversation_id=conversation, tool_call_id="call-7", restates=restates
    )
    return world.run(lambda s: draft_action(s, ctx, confirmed=False, kind=kind, payload=payload))


def _order(sku: str, quantity: int, customer: str = "ACME") -> dict[str, object]:
    return {"customer": customer, "lines": [{"sku": sku, "quantity": quantity, "warehouse": "DAL"}]}


def _transfer(from_warehouse: str, to_warehouse: str, quantity: int) -> dict[str, object]:
    return {
        "from_warehouse": from_warehouse,
        "to_warehouse": to_warehouse,
        "lines": [{"sku": "V-200", "quantity": quantity}],
    }


def _status(world: World, draft: DraftAction) -> str:
    return world.read(lambda s: s.get(DraftAction, draft.id)).status  # type: ignore[union-attr]


def _events(world: World, draft: DraftAction) -> list[tuple[str, object]]:
    events = world.read(lambda s: events_for(s, subject_type="draft", subject_id=draft.number))
    return [(e.action, e.data.get("by")) for e in events]


def _confirm(world: World, username: str, draft: DraftAction) -> DraftAction:
    return world.run(lambda s: confirm(s, Person(world.actor(username), channel="web"), draft_number=draft.number))


def test_a_preview_changes_nothing_and_says_what_the_policy_would_decide(world: World) -> None:
    draft = _preview(world, "sam", _order("V-200", 10))
    assert draft.status == "unconfirmed" and draft.decision_id is None and draft.result_ref is None
    assert draft.diff == ["V-200 @ DAL: reserved 0 → 10, available 100 → 90"]
    assert draft.explanation  # the verdict the policy would give, shown with the preview
    assert world.balance("V-200", "DAL").reserved == 0


def test_the_requesters_confirmation_lets_the_policy_execute_it(world: World) -> None:
    draft = _confirm(world, "sam", _preview(world, "sam", _order("V-200", 10)))
    assert draft.status == "executed" and draft.decision_id is not None and draft.result_ref is not None
    assert world.balance("V-200", "DAL").reserved == 10


def test_a_confirmed_draft_over_the_limit_waits_for_a_manager(world: World) -> None:
    draft = _confirm(world, "sam", _preview(world, "sam", _order("X-900", 1)))  # USD 6,000
    assert draft.status == "pending_approval"
    assert world.balance("X-900", "DAL").reserved == 0


def test_nobody_but_the_requester_can_confirm(world: World) -> None:
    draft = _preview(world, "sam", _order("V-200", 10))
    with pytest.raises(PermissionDenied, match="only the person who asked"):
        _confirm(world, "gus", draft)  # gus manages NA and could approve it later, but not confirm it
    assert world.read(lambda s: s.get(DraftAction, draft.id)).status == "unconfirmed"  # type: ignore[union-attr]
    assert world.balance("V-200", "DAL").reserved == 0


def test_a_draft_is_confirmed_once(world: World) -> None:
    draft = _confirm(world, "sam", _preview(world, "sam", _order("V-200", 10)))
    with pytest.raises(InvalidState, match="only an unconfirmed draft can be confirmed"):
        _confirm(world, "sam", draft)
    assert world.balance("V-200", "DAL").reserved == 10


def test_an_expired_preview_cannot_be_confirmed_and_the_sweep_expires_it(world: World, fake_clock: FakeClock) -> None:
    draft = _preview(world, "sam", _order("V-200", 10))
    fake_clock.advance(minutes=31)
    with pytest.raises(InvalidState, match="expired"):
        _confirm(world, "sam", draft)
    assert world.run(lambda s: sweep_approvals(s, now=clock.now())).expired == [draft.number]
    assert world.balance("V-200", "DAL").reserved == 0


def test_a_changed_request_replaces_the_preview_still_unconfirmed(world: World) -> None:
    first = _preview(world, "sam", _order("V-200", 10))
    second = _preview(world, "sam", _order("V-200", 30))  # "no, make that 30"
    assert world.read(lambda s: s.get(DraftAction, first.id)).status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(InvalidState, match="only an unconfirmed draft"):
        _confirm(world, "sam", first)
    assert _confirm(world, "sam", second).status == "executed"
    assert world.balance("V-200", "DAL").reserved == 30


def test_a_preview_is_replaced_only_within_its_own_conversation(world: World) -> None:
    first = _preview(world, "sam", _order("V-200", 10), conversation="conv-1")
    _preview(world, "sam", _order("V-200", 30), conversation="conv-2")
    assert _confirm(world, "sam", first).status == "executed"


def test_two_transfers_on_different_routes_in_one_message_both_stay_confirmable(world: World) -> None:
    to_atlanta = _preview(world, "sam", _transfer("DAL", "ATL", 10), kind="transfer")
    to_dallas = _preview(world, "sam", _transfer("ATL", "DAL", 5), kind="transfer")  # "... and 5 back to Dallas"
    assert (_status(world, to_atlanta), _status(world, to_dallas)) == ("unconfirmed", "unconfirmed")
    assert _confirm(world, "sam", to_atlanta).status == "executed"
    assert _confirm(world, "sam", to_dallas).status == "executed"
    assert (world.balance("V-200", "DAL").reserved, world.balance("V-200", "ATL").reserved) == (10, 5)
    assert ("draft.superseded", None) not in _events(world, to_atlanta)


def test_a_corrected_transfer_on_the_same_route_supersedes_the_old_one(world: World) -> None:
    forty = _preview(world, "sam", _transfer("DAL", "ATL", 40), kind="transfer")
    thirty = _preview(world, "sam", _transfer("dal", "Atl", 30), kind="transfer")  # "no, make that 30"
    assert _status(world, forty) == "cancelled"
    assert _events(world, forty)[-1] == ("draft.superseded", thirty.number)
    with pytest.raises(InvalidState, match="is cancelled; only an unconfirmed draft can be confirmed"):
        _confirm(world, "sam", forty)
    assert _confirm(world, "sam", thirty).status == "executed"
    assert world.balance("V-200", "DAL").reserved == 30


def test_a_correction_that_changes_the_subject_supersedes_the_preview_it_names(world: World) -> None:
    there = _preview(world, "sam", _transfer("DAL", "ATL", 10), kind="transfer")
    order = _preview(world, "sam", _order("V-200", 10, customer="ACME"))
    back = _preview(world, "sam", _transfer("ATL", "DAL", 10), kind="transfer", restates=(there.number, order.number))
    other = _preview(world, "sam", _order("V-200", 10, customer="BOLT"), restates=(order.number,))  # "it's for BOLT"
    assert (_status(world, there), _status(world, order)) == ("cancelled", "cancelled")
    assert _events(world, there)[-1] == ("draft.superseded", back.number)
    assert _events(world, order)[-1] == ("draft.superseded", other.number)  # not by the transfer: another kind
    with pytest.raises(InvalidState, match="is cancelled"):
        _confirm(world, "sam", there)
    assert _confirm(world, "sam", back).status == "executed"
    assert world.balance("V-200", "ATL").reserved == 10


def test_a_sales_order_preview_is_replaced_only_by_one_for_the_same_customer(world: World) -> None:
    acme = _preview(world, "sam", _order("V-200", 10))
    bolt = _preview(world, "sam", _order("V-200", 2, customer="BOLT"))  # another order in the same message
    acme_again = _preview(world, "sam", _order("V-200", 30, customer="acme"))  # "no, 30 for ACME"
    assert [_status(world, d) for d in (acme, bolt, acme_again)] == ["cancelled", "unconfirmed", "unconfirmed"]
    with pytest.raises(InvalidState, match="only an unconfirmed draft"):
        _confirm(world, "sam", acme)
    assert _confirm(world, "sam", bolt).status == "executed"
    assert _confirm(world, "sam", acme_again).status == "executed"
    assert world.balance("V-200", "DAL").reserved == 32


def test_what_a_draft_restates_is_its_subject_per_kind() -> None:
    change = {"order_number": "SO-7", "line_no": 1, "quantity": 5}
    case = {"case_number": "EX-3", "action": "resolve", "text": "supplier shipped"}
    restated = [
        (
            DraftKind.PURCHASE_ORDER,
            {"supplier": "VALVECO", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}]},
            {"supplier": "valveco", "warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 9}]},
        ),
        (DraftKind.ORDER_CHANGE, change, {**change, "quantity": 8}),
        (
            DraftKind.CREDIT_HOLD_RELEASE,
            {"customer": "HOLDCO", "reason": "paid"},
            {"customer": "HOLDCO", "reason": "wired"},
        ),
        (DraftKind.EXCEPTION_ACTION, case, {**case, "action": "dismiss"}),
    ]
    another = [
        (
            DraftKind.PURCHASE_ORDER,
            {"supplier": "VALVECO", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}]},
            {"supplier": "UKSUP", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}]},
        ),
        (DraftKind.ORDER_CHANGE, change, {**change, "line_no": 2}),  # two lines changed in one message
        (
            DraftKind.CREDIT_HOLD_RELEASE,
            {"customer": "HOLDCO", "reason": "paid"},
            {"customer": "BOLT", "reason": "paid"},
        ),
        (DraftKind.EXCEPTION_ACTION, {**case, "action": "assign", "assignee": "wes"}, {**case, "action": "comment"}),
        (DraftKind.TRANSFER, _transfer("DAL", "ATL", 5), _transfer("ATL", "DAL", 5)),
    ]
    for kind, older, newer in restated + another:
        model = KINDS[kind][0]
        assert model.model_validate(newer).replaces(model.model_validate(older)) == ((kind, older, newer) in restated)


def test_every_event_of_a_draft_names_the_conversation_and_tool_call_that_started_it(world: World) -> None:
    draft = _confirm(world, "sam", _preview(world, "sam", _order("X-900", 1)))
    world.run(lambda s: approve(s, Person(world.actor("gus"), channel="slack"), draft_number=draft.id))
    events = world.read(lambda s: events_for(s, subject_type="draft", subject_id=draft.number))
    assert [e.action for e in events] == [
        "draft.created",
        "draft.confirmed",
        "policy.decided",
        "draft.approved",
        "policy.decided",
        "draft.executed",
    ]
    assert {(e.conversation_id, e.tool_call_id) for e in events} == {("conv-1", "call-7")}
    assert [e.channel for e in events][-3:] == ["slack", "slack", "slack"]  # who acted stays who acted


def test_a_preview_whose_stock_is_gone_is_refused_the_same_way_with_the_reason(world: World) -> None:
    draft = _preview(world, "sam", _order("X-900", 8))  # 8 of the 10 at DAL
    world.run(lambda s: adjust_stock(s, world.actor("wes"), sku="X-900", warehouse="DAL", quantity=-5, reason="count"))
    with pytest.raises(InvalidState, match=r"no longer do what its preview showed .*not enough stock"):
        _confirm(world, "sam", draft)
    assert world.balance("X-900", "DAL").reserved == 0


def test_other_orders_moving_the_same_stock_leave_the_preview_confirmable(world: World) -> None:
    draft = _preview(world, "sam", _order("V-200", 10))
    _confirm(world, "sam", _preview(world, "sam", _order("V-200", 5), conversation="conv-2"))  # 5 reserved since
    confirmed = _confirm(world, "sam", draft)
    assert confirmed.status == "executed"
    assert confirmed.diff == ["V-200 @ DAL: reserved 5 → 15, available 95 → 85"]  # today's figures for approvers
    assert world.balance("V-200", "DAL").reserved == 15


def test_the_effect_of_a_preview_leaves_out_the_figures_around_it() -> None:
    before = ["V-200 @ DAL: reserved 0 → 10, available 100 → 90", "credit hold released for ACME"]
    after = ["V-200 @ DAL: reserved 5 → 15, available 95 → 85", "credit hold released for ACME"]
    assert effect_of(before) == effect_of(after) == ["V-200 @ DAL: reserved +10", "credit hold released for ACME"]
    assert effect_of(["V-200 @ DAL: reserved 0 → 12, available 100 → 88"]) != effect_of(before[:1])

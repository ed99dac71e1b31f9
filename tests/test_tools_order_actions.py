"""The grouped order-action tool through the registry, as the agent calls it: cancel and reallocate become their
own draft kinds, previewed and unconfirmed; refusals typed."""

from core.sales.service import LineRequest
from core.stock.reconciliation import stock_disagreements
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry
from tools.order_actions import ACTIONS

REGISTRY = default_registry()


def _call(world: World, user: str, args: dict[str, object]) -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id="t1")
    return REGISTRY.call(world.db, ctx, "draft_order_action", args)


def test_cancel_drafts_an_order_cancel_preview_naming_the_backorder_it_fills(world: World) -> None:
    order = world.place_order("BOLT", LineRequest("V-200", 12, warehouse="ATL"), confirm=True)
    waiting = world.place_order("ACME", LineRequest("V-200", 3, warehouse="ATL"), confirm=True, backorder=True)
    drafted = _call(
        world, "sam", {"order_number": order, "action": "cancel", "line_no": 1, "reason": "customer called"}
    )
    assert drafted.draft is not None and drafted.data["status"] == "unconfirmed", drafted.data
    assert drafted.data["summary"].startswith(f"Cancel on {order}: 12 x V-200 @ ATL (line 1)")
    assert f"{waiting} line 1 (ACME, tier A) gets 3 backordered units" in drafted.data["changes"]
    assert world.balance("V-200", "ATL").reserved == 12  # a preview changes nothing
    assert world.read(stock_disagreements) == []


def test_reallocate_drafts_a_reallocation_preview(world: World) -> None:
    giver = world.place_order("BOLT", LineRequest("V-200", 10, warehouse="ATL"), confirm=True)
    taker = world.place_order("ACME", LineRequest("V-200", 5, warehouse="ATL"), confirm=True, backorder=True)
    drafted = _call(world, "sam", {"order_number": giver, "action": "reallocate", "to_order": taker, "quantity": 2})
    assert drafted.draft is not None and drafted.data["summary"].startswith("Re-allocate 2 x V-200 @ ATL"), drafted.data
    assert f"{taker} line 1: 2 backordered → reserved" in drafted.data["changes"]


def test_the_tool_refuses_what_the_core_refuses(world: World) -> None:
    order = world.place_order("ACME", LineRequest("V-200", 2, warehouse="ATL"), confirm=True)
    warehouse = _call(world, "wes", {"order_number": order, "action": "cancel", "reason": "not mine"})
    assert warehouse.error is not None and warehouse.error.code == "permission_denied"
    other = _call(world, "uma", {"order_number": order, "action": "cancel", "reason": "not mine"})
    assert other.error is not None and other.error.code == "out_of_scope"
    nowhere = _call(world, "sam", {"order_number": order, "action": "reallocate"})
    assert nowhere.error is not None and nowhere.error.code == "invalid_input"
    assert world.balance("V-200", "ATL").reserved == 2


def test_the_actions_translate_only_the_fields_their_kind_takes() -> None:
    assert {"cancel", "reallocate"} <= set(ACTIONS)
    assert ACTIONS["cancel"][0] == "order_cancel" and ACTIONS["reallocate"][0] == "reallocation"

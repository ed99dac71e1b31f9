"""The assistant's return tools: draft_return previews an authorisation or a receipt through the gate (one schema,
an action picks which), get_return reads an RMA with its facts; a scripted model's call keeps the order and RMA
numbers the user gave and asks for one they did not; the schema stays small for the local model."""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import Role, rules_for
from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from core.stock.reconciliation import stock_disagreements
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry

REGISTRY = default_registry()


def _call(world: World, user: str, tool: str, args: dict[str, Any], call_id: str = "t1") -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(world.db, ctx, tool, args)


def _confirm(world: World, user: str, number: str) -> str:
    person = Person(world.actor(user), channel="web")
    return world.run(lambda s: confirm(s, person, draft_number=number).status)


def _shipped(world: World) -> str:
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=number))
    return number


def test_the_return_tools_cost_the_local_model_little() -> None:
    added = sum(len(json.dumps(REGISTRY.tools[name].schema())) for name in ("draft_return", "get_return"))
    assert added // 4 <= 450  # about 440 tokens for both schemas (len/4)


def test_the_numbers_are_documents_the_user_must_give() -> None:
    roles = {rule.name: rule.role for rule in rules_for(REGISTRY.tools["draft_return"])}
    assert (roles["order_number"], roles["rma_number"], roles["quantity"]) == (Role.DOCUMENT, Role.DOCUMENT, Role.COUNT)


def test_draft_return_authorises_then_receives_and_get_return_tells_where_it_stands(world: World) -> None:
    order = _shipped(world)
    ask = {
        "action": "authorise",
        "order_number": order,
        "lines": [{"sku": "V-200", "quantity": 3}],
        "reason": "damaged",
    }
    preview = _call(world, "sam", "draft_return", ask)
    assert preview.data["status"] == "unconfirmed", preview.data
    assert preview.data["summary"].startswith(f"Return from ACME on {order}: 3 x V-200 (line 1)")
    assert any("exposure USD 180.00 → USD 126.00" in line for line in preview.data["changes"]), preview.data
    assert _confirm(world, "sam", str(preview.draft_number)) == "executed"
    rma = world.read(
        lambda s: s.scalars(select(DraftAction.result_ref).where(DraftAction.kind == "return_authorisation")).one()
    )
    receipt = _call(world, "wes", "draft_return", {"action": "receive", "rma_number": rma}, "t2")
    assert "V-200 @ DAL: on hand 90 → 93, available 90 → 93" in receipt.data["changes"], receipt.data
    assert _confirm(world, "wes", str(receipt.draft_number)) == "executed"
    status = _call(world, "sam", "get_return", {"rma_number": rma}).data
    assert status["status"] == "credited" and status["lines"] == [
        f"3 x V-200 (line 1, {status['lines'][0].split(', ')[1]}"
    ]
    assert f"{rma} credited: USD 54.00." in status["facts"]
    assert f"{rma} return value: USD 54.00 for 3 units." in status["facts"]
    assert world.read(stock_disagreements) == []


def test_a_return_without_what_it_needs_is_refused_with_what_to_give(world: World) -> None:
    refused = _call(world, "sam", "draft_return", {"action": "authorise", "order_number": "SO-1"})
    assert refused.error is not None and refused.error.code == "invalid_input"
    assert "reason, lines" in refused.error.message


def _turn(world: World, script: Script, tmp_path: Path, text: str, user: str) -> TurnResult:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    return assistant.turn(world.actor(user), text)


def test_return_3_from_an_order_damaged_becomes_an_authorisation_preview(sqlite_world: World, tmp_path: Path) -> None:
    order = _shipped(sqlite_world)
    args = {
        "action": "authorise",
        "order_number": order,
        "lines": [{"sku": "V-200", "quantity": 3}],
        "reason": "damaged",
    }
    script = Script([Reply(calls=(Call("draft_return", args),)), Reply(text="DR-1 is a preview.")])
    _turn(sqlite_world, script, tmp_path, f"return 3 V-200 from {order}, damaged", "sam")
    drafts = sqlite_world.read(lambda s: [(d.kind, d.payload["order_number"]) for d in s.query(DraftAction)])
    assert drafts == [("return_authorisation", order)]


def test_an_rma_number_the_user_never_gave_is_dropped_and_the_core_asks_for_it(
    sqlite_world: World, tmp_path: Path
) -> None:
    invented = {"action": "receive", "rma_number": "RMA-1"}
    script = Script([Reply(calls=(Call("draft_return", invented),)), Reply(text="done")])
    result = _turn(sqlite_world, script, tmp_path, "the returned goods came back, restock them", "wes")
    assert sqlite_world.read(lambda s: s.query(DraftAction).count()) == 0
    # The number is optional in the one schema (authorise has none), so it is dropped, not asked; the core then
    # refuses the receipt with what to give ("to receive a return give rma_number (e.g. RMA-7)").
    assert [(run.arguments, run.error) for run in result.tools] == [({"action": "receive"}, "invalid_input")]

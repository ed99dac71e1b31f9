"""The assistant's receiving tools: draft_receipt and draft_transfer_move preview through the gate, and a
scripted model's calls keep the PO and transfer numbers the user gave and lose the ones they did not."""

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import Role, rules_for
from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.stock.reconciliation import stock_disagreements
from core.transfers.service import TransferLineRequest, create_transfer, ship_transfer
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry

REGISTRY = default_registry()


def _call(world: World, user: str, tool: str, args: dict[str, Any]) -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id="t1")
    return REGISTRY.call(world.db, ctx, tool, args)


def _confirm(world: World, user: str, number: str) -> str:
    person = Person(world.actor(user), channel="web")
    return world.run(lambda s: confirm(s, person, draft_number=number).status)


def _po(world: World) -> str:
    bea = world.actor("bea")
    return world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", 50)]
            ).number
        )
    )


def test_the_new_arguments_are_documents_the_user_must_give() -> None:
    for tool, name in (("draft_receipt", "po_number"), ("draft_transfer_move", "transfer_number")):
        roles = {rule.name: (rule.role, rule.required) for rule in rules_for(REGISTRY.tools[tool])}
        assert roles[name] == (Role.DOCUMENT, True)
        assert roles["quantity"][0] is Role.COUNT


def test_draft_receipt_previews_and_the_warehouse_user_confirms_it(world: World) -> None:
    po = _po(world)
    preview = _call(world, "wes", "draft_receipt", {"po_number": po, "lines": [{"sku": "V-200", "quantity": 40}]})
    assert preview.data["status"] == "unconfirmed", preview.data
    assert preview.data["summary"] == f"Receive on {po} into ATL: 40 x V-200"
    assert world.balance("V-200", "ATL").on_hand == 12
    assert _confirm(world, "wes", str(preview.draft_number)) == "executed"
    assert world.balance("V-200", "ATL").on_hand == 52
    refused = _call(world, "sam", "draft_receipt", {"po_number": po})
    assert refused.error is not None and refused.error.code == "permission_denied"


def test_draft_transfer_move_receives_with_damage_on_the_only_sku(world: World) -> None:
    wes = world.actor("wes")

    def shipped(s: Session) -> str:
        transfer = create_transfer(
            s, wes, from_warehouse="DAL", to_warehouse="ATL", lines=[TransferLineRequest("V-200", 10)]
        )
        return ship_transfer(s, wes, transfer_number=transfer.id).number

    number = world.run(shipped)
    args = {"transfer_number": number, "action": "receive", "damaged": [{"quantity": 2}]}
    preview = _call(world, "wes", "draft_transfer_move", args)
    assert f"{number}: a discrepancy case opens for 2 units short or damaged" in preview.data["changes"]
    assert _confirm(world, "wes", str(preview.draft_number)) == "executed"
    assert world.balance("V-200", "ATL").on_hand == 20
    assert world.read(stock_disagreements) == []


def _turn(world: World, script: Script, tmp_path: Path, text: str, user: str) -> TurnResult:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    return assistant.turn(world.actor(user), text)


def test_we_received_40_of_the_50_on_a_po_becomes_a_receipt_preview(sqlite_world: World, tmp_path: Path) -> None:
    po = _po(sqlite_world)
    args = {"po_number": po, "lines": [{"sku": "V-200", "quantity": 40}]}
    script = Script([Reply(calls=(Call("draft_receipt", args),)), Reply(text="DR-1 is a preview.")])
    _turn(sqlite_world, script, tmp_path, f"we received 40 of the 50 V-200 on {po}", "wes")
    drafts = sqlite_world.read(lambda s: [(d.kind, d.payload) for d in s.query(DraftAction)])
    assert drafts == [("po_receipt", {**args, "close_short": False})]


def test_a_po_number_the_user_never_gave_is_asked_not_guessed(sqlite_world: World, tmp_path: Path) -> None:
    _po(sqlite_world)
    invented = {"po_number": "PO-1", "lines": [{"sku": "V-200", "quantity": 40}]}
    script = Script([Reply(calls=(Call("draft_receipt", invented),)), Reply(text="done")])
    result = _turn(sqlite_world, script, tmp_path, "we received 40 V-200", "wes")
    assert sqlite_world.read(lambda s: s.query(DraftAction).count()) == 0
    assert "which purchase order" in result.answer

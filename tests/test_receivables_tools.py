"""The assistant's receivables tools: draft_payment previews a payment, an application of cash on account or a
reversal through the gate (one schema, an action picks which), get_receivables answers ageing, overdue and
collections with facts; the numbers are documents the user must give; the schemas stay small."""

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import Role, rules_for
from assistant.tool_offer import offered_tools
from core import clock
from core.actor import Person
from core.actor import Role as ActorRole
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from core.receivables.service import record_payment
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry

REGISTRY = default_registry()


def _call(world: World, user: str, tool: str, args: dict[str, Any], call_id: str = "t1") -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(world.db, ctx, tool, args)


def _confirm(world: World, user: str, number: str) -> str:
    person = Person(world.actor(user), channel="web")
    return world.run(lambda s: confirm(s, person, draft_number=number).status)


def _invoice(world: World, units: int = 10, days_ago: int = 0) -> str:
    number = world.place_order("ACME", LineRequest("V-200", units, warehouse="DAL"), confirm=True)
    wes, day = world.actor("wes"), clock.today() - timedelta(days=days_ago)
    return world.run(lambda s: f"INV-{ship_order(s, wes, order_number=number, shipped_on=day)[0].id}")


def test_the_receivables_tools_cost_the_local_model_little_and_need_the_payment_role() -> None:
    added = sum(len(json.dumps(REGISTRY.tools[name].schema())) for name in ("draft_payment", "get_receivables"))
    assert added // 4 <= 540  # about 530 tokens for both schemas (len/4)
    assert {REGISTRY.tools[n].usable_by([ActorRole.SALES]) for n in ("draft_payment", "get_receivables")} == {False}
    assert REGISTRY.tools["draft_payment"].usable_by([ActorRole.FINANCE])


def test_the_numbers_are_documents_the_user_must_give() -> None:
    roles = {rule.name: rule.role for rule in rules_for(REGISTRY.tools["draft_payment"])}
    assert (roles["payment_number"], roles["invoice"], roles["customer"]) == (Role.DOCUMENT, Role.DOCUMENT, Role.PARTY)
    assert (roles["amount"], roles["bank_reference"]) == (Role.NUMBER, Role.NAMED)


def test_draft_payment_records_applies_and_reverses_through_the_gate(world: World) -> None:
    invoice = _invoice(world)  # 180.00
    record = {"action": "record", "customer": "ACME", "amount": "200.00", "bank_reference": "BNK-7781"}
    preview = _call(world, "fin", "draft_payment", record)
    assert preview.data["status"] == "unconfirmed", preview.data
    assert preview.data["summary"].startswith("Payment of USD 200.00 from ACME (ref BNK-7781")
    assert f"applied to {invoice} USD 180.00" in preview.data["summary"]
    assert "USD 20.00 stays on account (unapplied cash)" in preview.data["changes"], preview.data
    assert _confirm(world, "fin", str(preview.draft_number)) == "executed"
    payment = world.read(
        lambda s: [d.result_ref for d in s.query(DraftAction).filter(DraftAction.status == "executed")]
    )[0]
    later = _invoice(world, units=5)
    apply = _call(world, "fin", "draft_payment", {"action": "apply", "payment_number": payment}, "t2")
    assert f"{later} USD 20.00" in apply.data["summary"], apply.data
    assert _confirm(world, "fin", str(apply.draft_number)) == "executed"
    undo = {"action": "reverse", "payment_number": payment, "reason": "bounced"}
    reversal = _call(world, "fin", "draft_payment", undo, "t3")
    assert f"reopens {invoice} USD 180.00, {later} USD 20.00" in reversal.data["summary"], reversal.data
    assert _confirm(world, "fin", str(reversal.draft_number)) == "pending_approval"


def test_a_payment_without_what_it_needs_is_refused_with_what_to_give(world: World) -> None:
    refused = _call(world, "fin", "draft_payment", {"action": "record", "customer": "ACME"})
    assert refused.error is not None and refused.error.code == "invalid_input"
    assert "amount, bank_reference" in refused.error.message
    reverse = _call(world, "fin", "draft_payment", {"action": "reverse", "payment_number": "PAY-1"})
    assert reverse.error is not None and "say why" in reverse.error.message


def test_get_receivables_answers_ageing_overdue_and_who_to_chase_with_facts(world: World) -> None:
    old = _invoice(world, days_ago=130)  # 180.00, 100 days past due
    _invoice(world, units=5)  # 90.00, current
    ageing = _call(world, "fin", "get_receivables", {"view": "ageing", "customer": "ACME"}).data
    assert ageing["rows"][0]["ref"] == "ACME"
    assert (
        f"ACME ageing on {clock.today().isoformat()}: current USD 90.00, 1-30 USD 0.00, 31-60 USD 0.00, "
        f"61-90 USD 0.00, 90+ USD 180.00. Past due USD 180.00, oldest 100 days ({old})."
    ) in ageing["facts"], ageing["facts"]
    overdue = _call(world, "fin", "get_receivables", {"view": "overdue"}).data
    assert overdue["facts"][0].startswith(f"{old} open: USD 180.00. ACME, due "), overdue["facts"]
    chase = _call(world, "fin", "get_receivables", {"view": "collections"}).data
    assert chase["facts"][0].startswith("#1 ACME: USD 180.00 past due, oldest 100 days"), chase["facts"]
    assert "weighted by age" in chase["how_computed"]
    entity = _call(world, "fin", "get_receivables", {"view": "ageing", "entity": "NA"}).data
    assert any(f.startswith("NA DSO = receivables / credit sales") for f in entity["facts"]), entity["facts"]


def _turn(world: World, script: Script, tmp_path: Path, text: str, user: str) -> TurnResult:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    return assistant.turn(world.actor(user), text)


def test_record_a_payment_of_1200_from_a_customer_becomes_a_payment_preview(
    sqlite_world: World, tmp_path: Path
) -> None:
    _invoice(sqlite_world, units=100)  # 1,800.00 open
    args = {"action": "record", "customer": "ACME", "amount": 1200, "bank_reference": "BNK-7781"}
    script = Script([Reply(calls=(Call("draft_payment", args),)), Reply(text="DR-1 is a preview.")])
    _turn(sqlite_world, script, tmp_path, "record a payment of 1,200 from ACME, bank ref BNK-7781", "fin")
    drafts = sqlite_world.read(
        lambda s: [(d.kind, d.payload["amount"], d.payload["bank_reference"]) for d in s.query(DraftAction)]
    )
    assert drafts == [("customer_payment", "1200", "BNK-7781")]


def test_finance_is_offered_the_receivables_tools_for_its_words_and_sales_never() -> None:
    def offer(text: str, roles: list[ActorRole]) -> list[str]:
        return offered_tools(REGISTRY, roles, text, None, 5)

    assert "get_receivables" in offer("who should I chase today?", [ActorRole.FINANCE])
    assert "get_receivables" in offer("what's the ageing of our receivables", [ActorRole.FINANCE])
    assert "draft_payment" in offer("record a payment of 1,200, bank ref BNK-7781", [ActorRole.FINANCE])
    assert "draft_payment" in offer("reverse that payment, it bounced", [ActorRole.FINANCE])
    assert not {"get_receivables", "draft_payment"} & set(offer("who should I chase today?", [ActorRole.SALES]))


def test_a_reversal_without_a_reason_takes_the_users_last_clause(sqlite_world: World, tmp_path: Path) -> None:
    invoice = _invoice(sqlite_world)
    fin = sqlite_world.actor("fin")
    sqlite_world.run(lambda s: record_payment(s, fin, customer="ACME", amount=Decimal("180.00"), bank_reference="B1"))
    script = Script(
        [Reply(calls=(Call("draft_payment", {"action": "reverse", "payment_number": "PAY-1"}),)), Reply(text="ok")]
    )
    _turn(sqlite_world, script, tmp_path, "Reverse PAY-1, the bank returned it", "fin")
    drafts = sqlite_world.read(lambda s: [(d.kind, d.payload["reason"]) for d in s.query(DraftAction)])
    assert drafts == [("payment_reversal", "the bank returned it")]
    assert invoice == "INV-1"

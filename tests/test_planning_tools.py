"""The assistant's planning tools: get_briefing answers "what needs my attention?", explain_finding answers "why do
you propose this PO?" from the case's figures, and draft_from_finding opens a proposal as the user's preview (never
an approval), through the registry on both databases and through the agent with the scripted model."""

import json
from pathlib import Path
from typing import Any

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import Role, rules_for
from assistant.tool_offer import offered_tools
from core.actor import Person
from core.actor import Role as ActorRole
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from tests import planning_findings
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry

REGISTRY = default_registry()
NAMES = ("get_briefing", "explain_finding", "draft_from_finding")


def _call(world: World, user: str, tool: str, args: dict[str, Any], call_id: str = "t1") -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(world.db, ctx, tool, args)


def test_the_planning_tools_cost_the_local_model_little_and_take_a_case_as_a_document() -> None:
    added = sum(len(json.dumps(REGISTRY.tools[name].schema())) for name in NAMES)
    assert added // 4 <= 320  # about 310 tokens for the three schemas (len/4)
    assert {rule.name: rule.role for rule in rules_for(REGISTRY.tools["explain_finding"])} == {
        "case_number": Role.DOCUMENT
    }
    assert REGISTRY.tools["draft_from_finding"].writes and not REGISTRY.tools["explain_finding"].writes
    assert not any("approve" in REGISTRY.tools[n].description.lower() for n in NAMES)


def test_get_briefing_says_what_needs_the_buyers_attention_with_facts(world: World) -> None:
    cases = world.run(planning_findings.seed)
    data = _call(world, "bea", "get_briefing", {}).data
    assert [(line["topic"], line["count"]) for line in data["lines"]] == [("replenishment", 2)]
    x900 = cases["replenishment:X-900:DAL"]
    v200 = cases["replenishment:V-200:DAL"]
    assert data["facts"][0] == (
        f"2 reorder proposals (2 items run out within the lead time, 2 proposed drafts ready): {x900}, {v200}."
    )
    assert data["facts"][1].startswith(f"{x900}: X-900 will stock out at DAL on 2026-11-27")
    late = cases["late_order_risk:SO-1042"]
    assert _call(world, "sam", "get_briefing", {}).data["facts"] == [
        f"1 order line at risk of missing its promise date: {late}.",
        f"{late}: SO-1042 at risk of missing its promise date.",
    ]


def test_explain_finding_answers_why_the_po_from_its_figures(world: World) -> None:
    cases = world.run(planning_findings.seed)
    number = cases["replenishment:V-200:DAL"]
    data = _call(world, "bea", "explain_finding", {"case_number": number}).data
    assert data["proposal"]["summary"] == "PO to VALVECO for 50 V-200 into DAL"
    assert data["evidence"]["demand_over_lead_time"] == 40 and data["impact"] == "USD 400.00"
    facts = data["facts"]
    assert facts[0].startswith(f"{number}: Demand over the lead time 40 + safety stock 8 exceeds on hand 12")  # why
    assert f"{number} demand over lead time: 40." in facts and f"{number} on hand: 12." in facts
    assert f"{number} value at risk: USD 400.00." in facts
    assert f"{number} proposed draft: PO to VALVECO for 50 V-200 into DAL." in facts
    assert any(f.startswith(f"{number} priority: score ") and "value 26" in f for f in facts), facts  # log10(401)
    late = _call(world, "sam", "explain_finding", {"case_number": cases["late_order_risk:SO-1042"]}).data
    assert f"{late['case']} proposes no draft." in late["facts"] and "proposal" not in late
    uk = _call(world, "bea", "explain_finding", {"case_number": cases["replenishment:F-300:BHM"]})
    assert uk.error is not None and uk.error.code == "out_of_scope"


def test_draft_from_finding_is_a_preview_the_requester_confirms_then_the_gate_decides(world: World) -> None:
    cases = world.run(planning_findings.seed)
    preview = _call(world, "bea", "draft_from_finding", {"case_number": cases["replenishment:V-200:DAL"]})
    assert preview.draft is not None and preview.data["status"] == "unconfirmed", preview.data
    assert preview.data["summary"].startswith("Purchase order to VALVECO into DAL: 50 x V-200; USD 500.00")
    again = _call(world, "bea", "draft_from_finding", {"case_number": cases["replenishment:V-200:DAL"]}, "t2")
    assert again.draft_number == preview.draft_number  # the same proposal opened twice is one draft
    bea = Person(world.actor("bea"), channel="web")
    assert world.run(lambda s: confirm(s, bea, draft_number=str(preview.draft_number)).status) == "executed"
    none = _call(world, "sam", "draft_from_finding", {"case_number": cases["late_order_risk:SO-1042"]})
    assert none.error is not None and none.error.code == "invalid_state" and "proposes no draft" in none.error.message


def test_the_words_offer_the_planning_tools() -> None:
    def offer(text: str) -> list[str]:
        return offered_tools(REGISTRY, [ActorRole.BUYER], text, None, 5)

    assert "get_briefing" in offer("what needs my attention?")
    assert "get_briefing" in offer("anything urgent on my plate today?")
    assert "explain_finding" in offer("why do you propose this PO?")
    assert "draft_from_finding" in offer("accept the proposed transfer")
    assert "draft_from_finding" not in offer("what needs my attention?")


def _turn(world: World, script: Script, tmp_path: Path, text: str, user: str) -> TurnResult:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    return assistant.turn(world.actor(user), text)


def test_accept_the_proposed_po_through_the_agent_makes_one_unconfirmed_draft(
    sqlite_world: World, tmp_path: Path
) -> None:
    number = sqlite_world.run(planning_findings.seed)["replenishment:V-200:DAL"]
    script = Script([Reply(calls=(Call("draft_from_finding", {"case_number": number}),)), Reply(text="A preview.")])
    result = _turn(sqlite_world, script, tmp_path, f"accept the proposed PO in {number}", "bea")
    assert [t.name for t in result.tools] == ["draft_from_finding"]
    drafts = sqlite_world.read(lambda s: [(d.kind, d.status, d.payload["supplier"]) for d in s.query(DraftAction)])
    assert drafts == [("purchase_order", "unconfirmed", "VALVECO")]


def test_an_invented_case_number_is_not_explained(sqlite_world: World, tmp_path: Path) -> None:
    sqlite_world.run(planning_findings.seed)
    script = Script([Reply(calls=(Call("explain_finding", {"case_number": "EX-999"}),)), Reply(text="ok")])
    result = _turn(sqlite_world, script, tmp_path, "why do you propose this PO?", "bea")
    assert [t.ok for t in result.tools if t.name == "explain_finding"] in ([], [False])


def test_what_a_briefing_or_an_explanation_left_out_is_completed_in_codes_words(
    sqlite_world: World, tmp_path: Path
) -> None:
    cases = sqlite_world.run(planning_findings.seed)
    x900, v200 = cases["replenishment:X-900:DAL"], cases["replenishment:V-200:DAL"]
    vague = Script([Reply(calls=(Call("get_briefing", {}),)), Reply(text="You have 2 reorder proposals to review.")])
    said = _turn(sqlite_world, vague, tmp_path, "what needs my attention?", "bea").said
    assert said.startswith("You have 2 reorder proposals to review.")
    assert said.count("From the records: ") == 1
    proposals = "2 reorder proposals (2 items run out within the lead time, 2 proposed drafts ready)"
    assert f"{proposals}: {x900}, {v200}." in said
    why = Script([Reply(calls=(Call("explain_finding", {"case_number": v200}),)), Reply(text="Demand is high.")])
    explained = _turn(sqlite_world, why, tmp_path, f"why do you propose the PO in {v200}?", "bea").said
    assert "Demand over the lead time 40 + safety stock 8 exceeds on hand 12" in explained
    told = Script([Reply(calls=(Call("explain_finding", {"case_number": v200}),)), Reply(text=f"{v200}: see below.")])
    full = _turn(sqlite_world, told, tmp_path, f"why {v200}?", "bea")
    assert full.said.count("Demand over the lead time 40") == 1  # a fact is added once, never repeated

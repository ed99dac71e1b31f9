"""Grounding and faithfulness: the facts the read tools render, and the checker that flags an answer the turn's
results contradict (a state, a figure under the wrong label, a claim of none) without flagging faithful ones."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.agent import Assistant, TurnResult, Usage
from assistant.channels.terminal.chat import turn_footer
from assistant.conversations import open_checkpointer
from assistant.faithfulness import answered_no, contradictions, correction
from assistant.grounding import NUMBER, check, recap
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core import clock
from core.db import Database
from core.sales.service import LineRequest
from tests.world import World
from tools import ToolContext, default_registry
from tools.exceptions import ListExceptionsArgs, _list_facts

REGISTRY = default_registry()


def _data(world: World, user: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id="t1")
    outcome = REGISTRY.call(world.db, ctx, tool, args)
    assert outcome.ok, outcome.data
    return outcome.data


# Results as the tools show them to the model (shapes of tools/*.py, figures chosen for the tests).
ACME = {
    "customer": "ACME",
    "name": "Acme Industrial Supply",
    "currency": "USD",
    "credit_limit": "20000.00",
    "open_receivables": "68.18",
    "open_orders": "1500.00",
    "exposure": "1568.18",
    "available": "18431.82",
    "on_hold": False,
    "facts": [
        "ACME credit limit: USD 20,000.00.",
        "ACME open receivables: USD 68.18.",
        "ACME open orders: USD 1,500.00.",
        "ACME exposure: USD 1,568.18.",
        "ACME credit available: USD 18,431.82.",
        "ACME is not on credit hold.",
    ],
}
HOLDCO = {
    "customer": "HOLDCO",
    "name": "Holdco Plumbing",
    "currency": "USD",
    "credit_limit": "5000.00",
    "on_hold": True,
    "facts": ["HOLDCO credit limit: USD 5,000.00.", "HOLDCO is on credit hold (invoices 90 days overdue)."],
}
ATP = {
    "sku": "V-200",
    "on_date": "2026-11-20",
    "total_available": 12,
    "warehouses": [
        {
            "warehouse": "ATL",
            "on_hand": 30,
            "reserved": 18,
            "backordered": 0,
            "incoming": [{"due": "2026-11-25", "quantity": 5, "source": "PO-1"}],
            "available_now": 12,
            "available_on_date": 12,
        }
    ],
    "facts": [
        "V-200 available to promise at ATL on 2026-11-20: 12 units.",
        "V-200 on hand at ATL: 30 units.",
        "V-200 reserved at ATL: 18 units.",
        "V-200 incoming at ATL by 2026-11-25: 5 units.",
    ],
}
PENDING_DRAFT = {
    "draft": "DR-7",
    "status": "pending_approval",
    "waiting_for": ["manager of NA"],
    "facts": ["DR-7 status: pending approval (waiting for manager of NA)."],
}
PREVIEW = {"draft": "DR-8", "status": "unconfirmed", "facts": ["DR-8 status: preview, not confirmed."]}
SHORTAGES = {
    "cases": [{"case": "EX-3", "type": "shortage", "status": "open", "title": "SO-2290 line 1: 1 V-200 short at ATL"}],
    "total": 1,
    "facts": ["Open exception cases: 1.", "EX-3 shortage: 1 unit of V-200 at ATL for SO-2290 line 1."],
}
NO_CASES = {"cases": [], "total": 0, "facts": ["Open exception cases: 0."]}
KPIS = {
    "entities": [{"entity": "NA", "currency": "USD", "backlog_value": "1000.00", "inventory_value": "1500.00"}],
    "facts": ["NA backlog: USD 1,000.00 in 4 lines.", "NA inventory value on 2026-11-20: USD 1,500.00."],
}


def _said(answer: str, *results: dict[str, Any], question: str = "") -> list[tuple[str, str | None]]:
    return [(c.label, c.record) for c in contradictions(answer, list(results), question)]


# -- facts rendered by code -------------------------------------------------------------------------------------


def test_credit_facts_say_the_limit_in_money_and_the_hold_in_words(sqlite_world: World) -> None:
    acme = _data(sqlite_world, "sam", "get_customer_credit", {"customer": "ACME"})["facts"]
    holdco = _data(sqlite_world, "sam", "get_customer_credit", {"customer": "HOLDCO"})["facts"]
    assert "ACME credit limit: USD 50,000.00." in acme and "ACME is not on credit hold." in acme
    assert "HOLDCO is on credit hold (invoices 90 days overdue)." in holdco


def test_availability_facts_give_one_warehouse_its_parts_and_several_their_total(sqlite_world: World) -> None:
    one = _data(sqlite_world, "sam", "check_availability", {"sku": "V-200", "warehouse": "ATL"})["facts"]
    today = clock.today().isoformat()
    assert f"V-200 available to promise at ATL on {today}: 12 units." in one
    assert "V-200 on hand at ATL: 12 units." in one and "V-200 reserved at ATL: 0 units." in one
    both = _data(sqlite_world, "sam", "check_availability", {"sku": "V-200", "quantity": 50})["facts"]
    assert f"V-200 available to promise in all 2 warehouses on {today}: 112 units." in both
    assert not any("on hand" in f for f in both)  # few facts: the parts only when one warehouse was asked
    assert "V-200 at ATL: 50 units cannot be promised from the supply known today." in both


def test_order_draft_and_queue_facts_state_status_and_counts(sqlite_world: World) -> None:
    order = sqlite_world.place_order("ACME", LineRequest("V-200", 10, "DAL"), confirm=True)
    facts = _data(sqlite_world, "sam", "get_order_status", {"order_number": order})["facts"]
    assert f"{order} status: confirmed." in facts
    assert any(f.startswith(f"{order} total: USD ") for f in facts)
    drafted = _data(
        sqlite_world,
        "sam",
        "draft_transfer",
        {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 5}]},
    )
    assert drafted["facts"] == [f"{drafted['draft']} status: preview, not confirmed (nothing has changed)."]
    assert _data(sqlite_world, "gus", "list_pending_approvals", {})["facts"] == [
        "Drafts waiting for your approval: none."
    ]
    assert _data(sqlite_world, "sam", "list_exceptions", {"type": "shortage"})["facts"][0] == "Open shortage cases: 0."
    kpis = _data(sqlite_world, "sam", "get_kpis", {})["facts"]
    assert any(f.startswith("NA inventory value on ") and ": USD " in f for f in kpis)


# -- (a) states ---------------------------------------------------------------------------------------------------


def test_on_hold_said_of_a_customer_the_result_says_is_not_is_a_contradiction() -> None:
    assert _said("ACME is on credit hold, so new orders wait.", ACME) == [("credit hold", "ACME")]
    assert _said("They are not on hold.", HOLDCO) == [("credit hold", "HOLDCO")]


def test_an_answers_leading_no_is_not_a_negation_of_the_state_it_then_states() -> None:
    assert _said("No: HOLDCO is on credit hold, so it gets no new orders.", HOLDCO) == []
    assert _said("No, ACME is on credit hold.", ACME) == [("credit hold", "ACME")]


def test_hold_states_said_rightly_of_two_customers_in_one_answer_pass() -> None:
    answer = "ACME is not on credit hold, but HOLDCO is on credit hold (invoices 90 days overdue)."
    assert _said(answer, ACME, HOLDCO) == []
    assert _said("Acme Industrial Supply has no credit hold.", ACME) == []


def test_a_status_word_other_than_the_drafts_status_is_a_contradiction() -> None:
    assert _said("DR-7 was executed and is pending approval.", PENDING_DRAFT) == [("status", "DR-7")]
    assert _said("Done: the transfer was executed.", PREVIEW) == [("status", "DR-8")]  # the only draft this turn
    assert _said("DR-8 is pending approval by a manager.", PREVIEW) == [("status", "DR-8")]
    assert _said("The draft has been created and confirmed.", PREVIEW) == [("status", "DR-8")]


def test_status_words_that_agree_or_are_hedged_pass() -> None:
    assert _said("DR-7 is pending approval, waiting for the manager of NA.", PENDING_DRAFT) == []
    assert _said("DR-8 is a preview. Once you confirm it, it will be executed.", PREVIEW) == []
    assert _said("DR-8 has not been executed; it is unconfirmed.", PREVIEW) == []
    assert _said("DR-7 is pending approval; DR-8 is still a preview.", PENDING_DRAFT, PREVIEW) == []
    assert _said("SO-2290 is confirmed; I have confirmed that V-200 is in stock.", PREVIEW) == []  # not the draft
    blocked_preview = {**PREVIEW, "decision": "If confirmed: Blocked: HOLDCO is on credit hold."}
    assert _said("DR-8 is blocked because HOLDCO is on credit hold.", blocked_preview) == []


def test_an_order_said_to_be_on_hold_or_shipped_against_its_status_is_a_contradiction() -> None:
    order = {"order": "SO-2290", "status": "confirmed", "lines": [{"backordered": 0}], "facts": []}
    assert _said("SO-2290 is on hold.", order) == [("status", "SO-2290")]
    assert _said("SO-2290 has been shipped.", order) == [("status", "SO-2290")]
    assert _said("SO-2290 is confirmed and not on hold.", order) == []


HELD_ORDER = {"order": "SO-2289", "status": "on_hold", "lines": [], "facts": ["SO-2289 status: on hold."]}


@pytest.mark.parametrize(
    "question",
    ["SO-2289 is confirmed, isn't it?", "so-2289 confirmed right?", "Is SO-2289 confirmed?", "SO-2289 was confirmed?"],
)
def test_a_yes_to_a_question_whose_claim_the_records_deny_is_a_contradiction(question: str) -> None:
    answer = "Yes, SO-2289 is on hold because MAGNOLIA2 is on credit hold."
    assert _said(answer, HELD_ORDER, question=question) == [("status", "SO-2289")]
    assert _said("No, SO-2289 is on hold.", HELD_ORDER, question=question) == []
    assert answered_no(answer, [HELD_ORDER], question) == "No, SO-2289 is on hold because MAGNOLIA2 is on credit hold."


def test_a_yes_the_records_bear_out_or_to_a_question_in_the_negative_is_left_alone() -> None:
    confirmed = {**HELD_ORDER, "status": "confirmed"}
    assert _said("Yes, SO-2289 is confirmed.", confirmed, question="SO-2289 is confirmed, isn't it?") == []
    assert _said("Yes, it is on hold.", HELD_ORDER, question="Is SO-2289 on hold?") == []
    assert _said("Yes.", HELD_ORDER, question="Isn't SO-2289 on hold?") == []  # yes and no read either way
    assert _said("Yes, ACME is not on credit hold.", ACME, question="Is ACME on credit hold?") == [
        ("credit hold", "ACME")
    ]
    # a yes whose own sentence the records also deny is flagged, not turned into a no
    wrong = "Yes, SO-2289 is confirmed and ships today."
    assert answered_no(wrong, [HELD_ORDER], "SO-2289 is confirmed, isn't it?") == wrong


# -- (b) figures under labels ------------------------------------------------------------------------------------


def test_a_figure_of_the_result_under_another_label_is_a_contradiction() -> None:
    found = contradictions("ACME's credit limit is $68.18.", [ACME])
    assert [(c.kind, c.label) for c in found] == [("figure", "credit limit")]
    assert found[0].facts == ("ACME credit limit: USD 20,000.00.",)
    assert check("ACME's credit limit is $68.18.", [ACME]).unsupported_numbers == []  # the number check alone passes


def test_stock_parts_under_the_wrong_labels_are_each_caught() -> None:
    said = _said("V-200 at ATL: 12 on hand, 11 reserved and 12 incoming.", ATP)
    assert said == [("on hand", None), ("reserved", None), ("incoming", None)]


def test_a_shortage_restated_as_another_quantity_is_caught() -> None:
    assert _said("We need 5 more units for SO-2290.", SHORTAGES) == [("shortage", None)]


def test_a_percentage_under_an_amounts_label_is_caught() -> None:
    assert _said("The backlog is 66.7% of the inventory value.", KPIS) != []


def test_a_size_in_an_items_name_is_no_figure_but_a_figure_beside_it_is() -> None:
    assert _said("There are 12 units of Brass ball valve 3/4in available to promise at Atlanta.", ATP) == []
    assert _said("The 1 inch valve: 12 on hand.", ATP) == [("on hand", None)]  # 12, not 1
    assert _said("Brass ball valve 3/4in: 4 available at ATL.", ATP) == [("available", None)]


def test_a_count_of_shortage_cases_is_no_quantity_short() -> None:
    cases = {
        "cases": [{"case": "EX-5", "type": "shortage", "status": "open", "short": 1}],
        "total": 3,
        "facts": [],
    }
    assert _said("There are 3 open shortage exceptions in the UK.", cases) == []
    assert _said("EX-5 is short by 3 units.", cases) == [("shortage", None)]


def test_figures_quoted_with_their_own_labels_pass() -> None:
    assert _said("ACME has a credit limit of USD 20,000.00 and an exposure of USD 1,568.18.", ACME) == []
    assert _said("ACME credit limit: USD 20,000.00. ACME open receivables: USD 68.18.", ACME) == []
    assert _said("V-200 at ATL: 30 on hand, 18 reserved, 5 incoming; 12 available now.", ATP) == []
    assert _said("ACME has 2 open orders.", ACME) == []  # a count beside an amount's label is not that amount
    assert _said("EX-3: 1 unit short at ATL for SO-2290 line 1.", SHORTAGES) == []
    assert _said("V-200 at ATL: 18 of 30 reserved.", ATP) == []  # the whole is not the figure


def test_a_figure_quoted_with_its_label_from_a_tools_own_sentence_passes() -> None:
    decision = "If confirmed: Needs approval: ACME's exposure would reach USD 3,361.39 against a USD 2,000.00 limit."
    quoted = "Once you confirm DR-8, it waits for finance: ACME's exposure would reach USD 3,361.39."
    assert _said(quoted, ACME, {**PREVIEW, "decision": decision}) == []
    assert _said("ACME's exposure is USD 3,361.39.", ACME) == [("exposure", None)]  # no tool said it


def test_the_users_own_number_beside_a_label_is_not_the_results_figure() -> None:
    assert _said("30 units are not available at ATL; 12 are.", ATP, question="do we have 30 V-200 at ATL?") == []


# -- (c) claims of none ------------------------------------------------------------------------------------------


def test_no_shortages_said_while_the_results_list_one_is_a_contradiction() -> None:
    found = contradictions("There are no shortages right now.", [SHORTAGES])
    assert [c.kind for c in found] == ["none"] and "EX-3 shortage" in correction(found)


def test_a_claim_of_none_without_looking_is_a_contradiction() -> None:
    assert _said("There are no shortages.", ACME) == [("shortage cases", None)]
    assert _said("Nothing pending for you.") == [("drafts waiting for your approval", None)]
    assert correction(contradictions("Nothing pending for you.", [])) == (
        "Check: Not looked up this turn: drafts waiting for approval."
    )


def test_a_claim_of_none_the_results_bear_out_passes() -> None:
    assert _said("There are no open exception cases.", NO_CASES) == []
    assert _said("No drafts are waiting for you.", {"waiting": [], "total": 0, "facts": []}) == []


# -- grounding defects -------------------------------------------------------------------------------------------


def test_a_date_supports_only_itself_not_the_numbers_it_is_written_with() -> None:
    result = {"sku": "V-200", "promise_date": "2026-11-20", "facts": []}
    assert check("V-200: 20 units by 2026-11-20.", [result]).unsupported_numbers == ["20"]
    assert check("V-200 can ship on 2026-11-20.", [result]).unsupported_numbers == []
    assert check("V-200 can ship on 2026-11-21.", [result]).unsupported_numbers == ["2026-11-21"]
    assert check("Due 2026-11-21.", [{"due": "2026-11-21T09:00:00"}]).unsupported_numbers == []


def test_an_answer_that_names_no_record_has_no_sources() -> None:
    results = [ATP, {"order": "SO-2290", "status": "confirmed"}]
    assert check("Hello! What do you need?", results).sources == []
    assert check("SO-2290 is confirmed.", results).sources == ["SO-2290"]


def test_grounding_is_not_ok_when_the_answer_contradicts_its_results() -> None:
    grounding = check("ACME is on credit hold.", [ACME])
    assert grounding.unsupported_numbers == [] and not grounding.ok
    assert grounding.contradictions[0].records_say == "ACME is not on credit hold"


# -- the turn -----------------------------------------------------------------------------------------------------


def _assistant(world: World, script: Script, tmp_path: Path) -> Assistant:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    return Assistant(
        world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script), retries=0)
    )


def test_a_turn_whose_answer_contradicts_a_tool_result_gets_the_records_sentences_appended(
    sqlite_world: World, tmp_path: Path
) -> None:
    script = Script(
        [Reply(calls=(Call("get_customer_credit", {"customer": "ACME"}),)), Reply(text="ACME is on credit hold.")]
    )
    result = _assistant(sqlite_world, script, tmp_path).turn(sqlite_world.actor("sam"), "is ACME on hold?")
    # the facts the words left out, then the correction; the corrected fact is said once, by the correction
    assert result.answer == (
        "ACME is on credit hold.\n\nFrom the records: ACME credit available: USD 50,000.00. ACME credit limit: "
        "USD 50,000.00.\n\nCheck: the records say: ACME is not on credit hold."
    )
    assert [(c.kind, c.record) for c in result.grounding.contradictions] == [("state", "ACME")]


def test_a_turns_yes_to_a_claim_the_records_deny_becomes_a_no(sqlite_world: World, tmp_path: Path) -> None:
    script = Script(
        [
            Reply(calls=(Call("get_customer_credit", {"customer": "ACME"}),)),
            Reply(text="Yes, ACME is not on credit hold."),
        ]
    )
    result = _assistant(sqlite_world, script, tmp_path).turn(sqlite_world.actor("sam"), "ACME is on hold, right?")
    assert result.answer.startswith("No, ACME is not on credit hold.\n\nFrom the records: ACME credit available")
    assert result.grounding.contradictions == []


def test_a_faithful_turn_is_left_as_the_model_said_it(sqlite_world: World, tmp_path: Path) -> None:
    answer = "ACME credit limit: USD 50,000.00. ACME is not on credit hold."
    script = Script([Reply(calls=(Call("get_customer_credit", {"customer": "ACME"}),)), Reply(text=answer)])
    result = _assistant(sqlite_world, script, tmp_path).turn(sqlite_world.actor("sam"), "ACME's credit?")
    assert result.answer == answer and result.grounding.ok


def _status_and_total(messages: list[dict[str, Any]]) -> Reply:
    """The local model's answer to a status look-up of two orders: each one's status and total, and no line."""
    found = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    return Reply(text=" ".join(f"The status of {o['order']} is {o['status']}; total USD {o['total']}." for o in found))


def test_a_status_answer_for_two_orders_gets_each_orders_line_figures_from_the_records(
    sqlite_demo: Database, tmp_path: Path
) -> None:
    calls = tuple(Call("get_order_status", {"order_number": n}) for n in ("SO-2253", "SO-2258"))
    script = Script([Reply(calls=calls), _status_and_total])
    demo = World(sqlite_demo)
    result = _assistant(demo, script, tmp_path).turn(demo.actor("sam"), "What's the status of SO-2253 and SO-2258?")
    words = _status_and_total(script.seen[-1]).text  # "The status of SO-2253 is confirmed; total USD 289.78. ..."
    found = [json.loads(m["content"]) for m in script.seen[-1] if m["role"] == "tool"]
    lines = [f for order in found for f in order["facts"] if " line " in f]
    said, recapped = result.answer.split("\n\nFrom the records: ")  # the look-ups end in either order: both run at once
    assert said == words and len(recapped) == len(" ".join(lines)) and all(line in recapped for line in lines)
    assert "SO-2253 line 1 V-200 at ATL: 17 units ordered" in recapped and "SO-2258 line 1 A-180 at ATL: 23" in recapped


@pytest.mark.parametrize(
    "words",
    [
        "I'm sorry, I don't know what you're asking. Can you please provide more details?",
        "I can only help with operations: stock, orders, customers, exceptions and drafts.",
    ],
)
def test_an_answer_that_answers_nothing_after_a_look_up_becomes_what_the_look_up_found(
    sqlite_world: World, tmp_path: Path, words: str
) -> None:
    script = Script([Reply(calls=(Call("get_customer_credit", {"customer": "ACME"}),)), Reply(text=words)])
    result = _assistant(sqlite_world, script, tmp_path).turn(sqlite_world.actor("sam"), "ACME's credit?")
    assert words not in result.answer and result.answer.startswith("From the records:")
    assert "ACME credit limit: USD 50,000.00." in result.answer


def test_an_answer_that_answers_nothing_after_a_refusal_says_the_refusal(sqlite_world: World, tmp_path: Path) -> None:
    script = Script(
        [
            Reply(calls=(Call("get_order_status", {"order_number": "SO-99999"}),)),
            Reply(text="Sorry, I can't help with that."),
        ]
    )
    result = _assistant(sqlite_world, script, tmp_path).turn(sqlite_world.actor("sam"), "where is SO-99999?")
    assert "can't help" not in result.answer and "SO-99999" in result.answer


@pytest.mark.parametrize(
    "answer",
    [
        "Hello! I can look up stock, orders, credit and exceptions.",
        "Which item, how many, and from which warehouse to which?",
    ],
)
def test_answers_without_claims_are_not_flagged(answer: str) -> None:
    assert contradictions(answer, [ACME, ATP, PENDING_DRAFT, SHORTAGES]) == []


def test_the_terminal_shows_a_contradiction_under_a_streamed_answer() -> None:
    grounding = check("ACME is on credit hold.", [ACME])
    result = TurnResult(
        "c1", "ACME is on credit hold.", "ACME is on credit hold.", [], grounding, Usage(model_calls=2), steps=2
    )
    footer = "\n".join(turn_footer(result, 1.0))
    assert "contradicts this turn's records" in footer and "ACME is not on credit hold" in footer


def test_a_recap_gives_the_looked_up_facts_the_answer_left_out_and_not_those_it_stated() -> None:
    answer = "V-200 at ATL: 12 available now."
    assert recap([ATP, ACME], answer) == [
        "V-200 on hand at ATL: 30 units.",
        "V-200 reserved at ATL: 18 units.",
        "V-200 incoming at ATL by 2026-11-25: 5 units.",  # in the room the stated figure does not take
        "ACME credit limit: USD 20,000.00.",
        "ACME open receivables: USD 68.18.",
        "ACME open orders: USD 1,500.00.",
    ]
    headlines = "ACME: limit USD 20,000, receivables 68.18, open orders 1,500.00. V-200: 12 free, 30 on hand, 18 held."
    assert recap([ATP, ACME], headlines) == [  # what was said takes no room: the next facts are told
        "V-200 incoming at ATL by 2026-11-25: 5 units.",
        "ACME exposure: USD 1,568.18.",
        "ACME credit available: USD 18,431.82.",
        "ACME is not on credit hold.",
    ]
    everything = f"{headlines} 5 coming in. Exposure 1,568.18, 18,431.82 left; ACME is not on credit hold."
    assert recap([ATP, ACME], everything) == []
    headline = "A-180 available to promise at ATL on 2026-11-20: 0 units."  # a result's first fact: its answer
    assert recap([{"facts": [headline, "A-180 incoming at ATL: 0 units."]}], "DAL has 565.") == [headline]
    assert recap([{"facts": [headline]}], "ATL has 0 available.") == []
    assert recap([{"facts": ["HOLDCO is on credit hold.", "V-200 reserved at ATL: 0 units."]}], "") == [
        "HOLDCO is on credit hold."  # a zero tells nothing; a state without figures is recapped unless quoted
    ]


def _order(number: str, status: str, total: str, line: str) -> dict[str, Any]:
    """An order status look-up's facts, in the order tools/orders.py gives them (figures chosen for the tests)."""
    facts = [f"{number} status: {status}.", f"{number} total: USD {total}.", f"{number} requested date: 2026-11-27."]
    return {"order": number, "facts": [*facts, f"{number} line 1 {line}", f"{number} line 2 {line}"]}


def test_facts_the_answer_stated_take_no_room_in_the_recap() -> None:
    first = _order("SO-1", "confirmed", "289.78", "V-200 at ATL: 17 units ordered, 17 reserved, 0 shipped.")
    second = _order("SO-2", "confirmed", "120.06", "A-180 at ATL: 23 units ordered, 23 reserved, 0 shipped.")
    answer = "SO-1 is confirmed, total USD 289.78. SO-2 is also confirmed, total USD 120.06."
    assert recap([first, second], answer) == [*first["facts"][3:], *second["facts"][3:]]


def test_a_status_is_stated_by_its_words_not_by_naming_the_order() -> None:
    held = _order("SO-1", "pending approval (credit hold)", "50.00", "V-200 at ATL: 5 units ordered, 0 shipped.")
    assert recap([held, held], "SO-1's total is USD 50.00.")[0] == "SO-1 status: pending approval (credit hold)."
    assert recap([held, held], "SO-1 is pending approval: a credit hold. Total USD 50.00.") == held["facts"][3:]


def test_a_case_list_names_its_cases_soonest_due_first() -> None:
    cases = [
        SimpleNamespace(number=n, type="late_po", related={}, title=f"{n} late") for n in ("EX-4", "EX-1", "EX-11")
    ]
    assert _list_facts(ListExceptionsArgs(entity="NA"), 5, cases) == [
        "Open exception cases in NA: 5.",
        "Open exception cases in NA, soonest due first: EX-4, EX-1, EX-11.",
        "EX-4 late po: EX-4 late.",
        "EX-1 late po: EX-1 late.",
        "EX-11 late po: EX-11 late.",
    ]
    assert _list_facts(ListExceptionsArgs(type="shortage"), 0, []) == ["Open shortage cases: 0."]


def test_a_recap_of_one_look_up_gives_as_many_of_its_facts_as_the_recap_holds() -> None:
    figures = [f"A-160 {label} at RNO: {n} units." for n, label in enumerate(["on hand", "reserved", "backordered"], 1)]
    one = {"facts": [*figures, "A-160 incoming at RNO by 2026-12-04: 820 units."]}
    assert recap([one], "On hand 1.")[-1] == "A-160 incoming at RNO by 2026-12-04: 820 units."  # not cut at 3
    assert len(recap([one, one], "")) == 3  # two results: three each (the same facts once)


def test_a_fact_that_lists_records_is_stated_when_the_answer_names_them_all() -> None:
    listed = {"facts": ["Open exception cases: 3.", "Open exception cases, soonest due first: EX-1, EX-4, EX-11."]}
    assert recap([listed], "There are 3 open cases: EX-1, EX-4 and EX-11.") == []
    assert recap([listed], "There are 3 open cases, EX-1 and EX-4 first.") == [
        "Open exception cases, soonest due first: EX-1, EX-4, EX-11."  # EX-11 was left out
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, I don't know that customer. Did you mean Magnolia Mechanical Co.?",
        "I can't find the customer you mean.",
        "There is no such customer.",
    ],
)
def test_not_knowing_a_customer_the_results_describe_is_a_contradiction(answer: str) -> None:
    found = contradictions(answer, [ACME])
    assert [(c.label, c.record) for c in found] == [("customer", "ACME")]
    assert "ACME" in correction(found)


def test_not_knowing_a_customer_nobody_looked_up_is_no_contradiction() -> None:
    assert contradictions("I don't know that customer.", [ATP]) == []
    assert contradictions("I know that customer well.", [ACME]) == []


def test_the_digits_that_open_a_tracking_number_are_no_count_but_a_count_with_its_unit_is() -> None:
    assert NUMBER.findall("Ship SO-2254 via UPS Ground, tracking 1Z999AA10123456784") == []
    assert NUMBER.findall("order 5x V-200 and 40pcs of V-210, -3 back, 1,200 in all, $12.50") == [
        "5",
        "40",
        "-3",
        "1,200",
        "12.50",
    ]


def test_a_fact_whose_figures_the_answer_gave_is_told_only_with_the_records_the_request_did_not_name() -> None:
    due = {
        "facts": [
            "NA owes suppliers USD 676.27: USD 433.95 overdue and USD 242.32 falling due.",
            "SINV-1 PACAIR (PO-1412) due 2026-11-15: USD 433.95, approved for payment, 5 days overdue.",
            "SINV-3 KEYSTONE (PO-1430) due 2026-11-25: USD 242.32, on payment hold.",
        ]
    }
    answer = "We owe suppliers USD 676.27: USD 433.95 overdue and USD 242.32 falling due."
    assert recap([due], answer, request="What do we owe suppliers this week?") == due["facts"][1:]  # which invoices
    named = "We owe USD 676.27; SINV-3 (PO-1430) is USD 242.32 on payment hold, SINV-1 (PO-1412) 433.95, 5 days late."
    assert recap([due], named, request="what do we owe?") == []
    asked = "USD 242.32, on payment hold."
    assert recap([due], asked, request="why is SINV-3 of PO-1430 on hold?")[-1].startswith("SINV-1")  # not SINV-3


CASE_SUGGESTION = {
    "case": "EX-11",
    "type": "credit_hold",
    "status": "open",
    "suggestions": [
        {
            "text": "exposure 1943.43 USD against a limit of 1700.00; releasing the held orders would make it"
            " 5001.63 USD, 294% of it",
            "exposure": "1943.43",
            "exposure_if_released": "5001.63",
            "credit_limit": "1700.00",
        }
    ],
    "facts": ["EX-11 suggestion: exposure 1943.43 USD against a limit of 1700.00."],
}


def test_a_case_suggestions_projected_figures_quoted_are_no_contradiction() -> None:
    """The exposure the release would make, and its share of the limit, are what the case says; the current
    exposure misstated, or a share the case never gives, still are."""
    quoted = "Releasing the held orders would make the exposure 5001.63 USD, 294% of the limit."
    assert _said(quoted, CASE_SUGGESTION) == []
    assert _said("EX-11's exposure is USD 3,058.20.", CASE_SUGGESTION) == [("exposure", None)]
    assert _said("The exposure is 95% of the limit.", CASE_SUGGESTION) == [("exposure", None)]

"""Code's question for a value the user never named offers what their words could mean: the open cases in their
scope that fit ("the Atlanta shortage case"), the items a description fits ("the 1 inch brass valves"). On the
demo company with today's cases detected, as `erp-assistant init` and the evaluation do; the calls are those the
local model made in the evaluation (evals/tasks/ambiguity.yaml) and the likely variants."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Assistant
from assistant.candidates import Candidates, case_types_written
from assistant.conditions import LOOK_FIRST
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import NEEDS_CLARIFICATION, NOT_GIVEN, check_calls
from core.db import Database
from core.exceptions import ExceptionType, detect_exceptions
from core.masterdata.service import load_actor
from tests.checked_calls import REGISTRY, checked_call

ATL_SHORTAGES = ["EX-2", "EX-3", "EX-4", "EX-6", "EX-8"]  # the open shortage cases at ATL on the demo company
ASSIGN = {"action": "assign", "assignee": "wes"}
ONE_INCH_BRASS_VALVES = ["V-230", "V-130", "V-170"]


@pytest.fixture
def demo(sqlite_demo: Database) -> Database:
    """The demo company with today's cases raised (NA's and UK's; maria and sam see only NA's)."""
    sqlite_demo.run(detect_exceptions)
    return sqlite_demo


def _question(db: Database, user: str, text: str, tool: str, arguments: dict[str, Any]) -> str:
    _, hold = checked_call(db, [text], tool, arguments, user=user)
    assert hold is not None and hold.question is not None, (text, hold)
    assert hold.outcome.error is not None and hold.outcome.error.code == NEEDS_CLARIFICATION
    return hold.question


# -- cases -------------------------------------------------------------------------------------------------


def test_which_case_lists_the_open_shortage_cases_at_the_warehouse_named(demo: Database) -> None:
    for text in ["Assign the Atlanta shortage case to Wes", "give the ATL shortage case to wes"]:
        for call in [ASSIGN, {**ASSIGN, "case_number": "EX-12"}]:  # left out, or invented
            question = _question(demo, "maria", text, "draft_exception_action", call)
            assert question.startswith("Before I draft the exception action: which case: EX-2 ("), question
            assert _case_numbers(question) == ATL_SHORTAGES, (text, question)


def test_which_case_lists_only_cases_in_the_users_scope(demo: Database) -> None:
    birmingham = "Assign the Birmingham shortage case to Wes"
    uk = _case_numbers(_question(demo, "grace", birmingham, "draft_exception_action", ASSIGN))
    assert uk and not set(uk) & {"EX-1", *ATL_SHORTAGES}  # grace sees every entity: the UK shortages at BHM
    question = _question(demo, "maria", "Assign the shortage case to Wes", "draft_exception_action", ASSIGN)
    assert _case_numbers(question) == ["EX-1", *ATL_SHORTAGES]  # NA's shortages only, soonest due first
    assert "BHM" not in question


def test_a_case_at_a_warehouse_the_user_cannot_see_offers_none_of_theirs(demo: Database) -> None:
    question = _question(demo, "maria", "Assign the Birmingham shortage case to Wes", "draft_exception_action", ASSIGN)
    assert question == "Before I draft the exception action: which case (e.g. EX-12)?"


def test_with_no_case_fitting_the_words_the_plain_question_stands(demo: Database) -> None:
    question = _question(demo, "maria", "Assign the Reno credit hold case to Wes", "draft_exception_action", ASSIGN)
    assert question == "Before I draft the exception action: which case (e.g. EX-12)?"


def test_the_customer_named_narrows_the_cases(demo: Database) -> None:
    question = _question(demo, "maria", "Give the LONESTAR3 shortage to Wes", "draft_exception_action", ASSIGN)
    assert _case_numbers(question) == ["EX-2"]


def test_case_types_are_read_from_the_words() -> None:
    assert case_types_written("the Atlanta shortage case") == [ExceptionType.SHORTAGE]
    assert case_types_written("ACME's credit hold") == [ExceptionType.CREDIT_HOLD]
    assert case_types_written("assign the case to Wes") == []


def test_the_assistant_answers_with_the_cases(demo: Database, tmp_path: Path) -> None:
    """The local model's call in the evaluation (amb-which-shortage-case): the answer is code's question."""
    script = Script([Reply(calls=(Call("draft_exception_action", ASSIGN),)), Reply(text="Done.")])
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(demo, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    maria = demo.read(lambda s: load_actor(s, username="maria"))
    result = assistant.turn(maria, "Assign the Atlanta shortage case to Wes")
    assert "which case: EX-2" in result.answer and all(n in result.answer for n in ATL_SHORTAGES)


# -- items -------------------------------------------------------------------------------------------------


def test_which_item_lists_the_items_the_description_fits(demo: Database) -> None:
    text = "Move 20 of the 1 inch brass valves from Dallas to Atlanta"
    for line in [{"quantity": 20}, {"sku": "brass valve", "quantity": 20}, {"sku": "V-230", "quantity": 20}]:
        call = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [line]}
        question = _question(demo, "sam", text, "draft_transfer", call)
        assert question == (  # the linker reads "1 inch" as the size: an ambiguous mention of the three 1in valves
            "Which item do you mean by '1 inch brass valves': V-230 (Brass ball valve 1in), "
            "V-130 (Brass pressure relief valve 1in) or V-170 (Lead-free brass ball valve 1in)?"
        ), line


def test_a_size_written_with_a_hyphen_is_the_size(demo: Database) -> None:
    call = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"quantity": 20}]}
    text = "transfer twenty one-inch brass valves from Dallas to Atlanta"
    question = _question(demo, "sam", text, "draft_transfer", call)
    assert question.endswith(
        "which item: V-230 (Brass ball valve 1in), V-130 (Brass pressure relief valve 1in) "
        "or V-170 (Lead-free brass ball valve 1in)?"
    ), question


def test_an_ambiguous_item_mention_is_asked_by_its_words(demo: Database) -> None:
    call = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"quantity": 20}]}
    question = _question(demo, "sam", "20 x 1in brass valve DAL -> ATL", "draft_transfer", call)
    assert question.startswith("Which item do you mean by '1in brass valve': V-230 (Brass ball valve 1in)")
    assert [sku for sku in ONE_INCH_BRASS_VALVES if sku in question] == ONE_INCH_BRASS_VALVES


def test_a_look_up_of_a_described_item_asks_which_with_the_items(demo: Database) -> None:
    """amb-the-brass-valve: the model looks up a SKU the user never named, or their words as the SKU."""
    text = "What's the Dallas stock of the brass valve?"
    for sku in ["V-200", "brass valve"]:
        question = _question(demo, "sam", text, "check_availability", {"sku": sku, "warehouse": "DAL"})
        assert question.startswith("Which item do you mean by 'brass valve': V-200 (Brass ball valve 3/4in), ")
        assert question.endswith(" more?") and question.count("(Brass") == 5


def test_a_look_up_of_a_record_no_words_describe_is_still_refused(demo: Database) -> None:
    _, hold = checked_call(demo, ["anything I need to sign off on?"], "check_availability", {"sku": "V-200"})
    assert hold is not None and hold.question is None
    assert hold.outcome.error is not None and hold.outcome.error.code == NOT_GIVEN


def test_a_sku_the_user_named_still_runs(demo: Database) -> None:
    arguments, hold = checked_call(demo, ["Dallas stock of V-200?"], "check_availability", {"sku": "V-200"})
    assert hold is None and arguments == {"sku": "V-200"}


def test_more_candidates_than_shown_are_counted() -> None:
    assert Candidates(("EX-1", "EX-2"), (), 7).listed() == "EX-1, EX-2 or one of 5 more"
    assert Candidates(("V-1", "V-2"), ("a", "b"), 2).listed() == "V-1 (a) or V-2 (b)"
    assert Candidates(("EX-3",), (), 1).listed() == "EX-3"


@pytest.mark.parametrize(
    "text",
    [
        "SO-2259 is short of A-180 in Atlanta. Transfer what it needs from Dallas.",
        "SO-2259 needs A-180 in atlanta, can you transfer the shortfall from dallas",
    ],
)
def test_a_write_lacking_what_a_named_order_lacks_looks_the_order_up_first(demo: Database, text: str) -> None:
    transfer = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "A-180"}]}
    _, hold = checked_call(demo, [text], "draft_transfer", transfer)
    assert hold is not None and hold.question is None  # the model is sent back, the user is not asked
    assert hold.outcome.error is not None and hold.outcome.error.code == LOOK_FIRST
    assert "get_order_status(order_number=SO-2259)" in hold.outcome.error.message


def test_an_order_named_without_words_of_what_it_lacks_is_not_looked_up_first(demo: Database) -> None:
    transfer = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "A-180"}]}
    _, asked = checked_call(demo, ["for SO-2259, transfer A-180 from Dallas to Atlanta"], "draft_transfer", transfer)
    assert asked is not None and asked.question is not None and "how many" in asked.question.lower()


def _case_numbers(question: str) -> list[str]:
    """The cases a question offers (each with its title in brackets)."""
    return re.findall(r"\bEX-\d+\b(?= \()", question)


# -- a case the request names, not yet read ------------------------------------------------------------------


def test_a_write_lacking_what_a_named_case_holds_looks_the_case_up_first(demo: Database) -> None:
    text = "EX-4: order the missing P-240 from GULFPUMP into Atlanta"
    order = {"supplier": "GULFPUMP", "warehouse": "ATL", "lines": [{"sku": "P-240"}]}
    _, hold = checked_call(demo, [text], "draft_purchase_order", order, user="bea")
    assert hold is not None and hold.question is None  # the model is sent back, the user is not asked
    assert hold.outcome.error is not None and hold.outcome.error.code == LOOK_FIRST
    assert "get_exception(case_number=EX-4)" in hold.outcome.error.message
    _, asked = checked_call(demo, ["order P-240 from GULFPUMP into Atlanta"], "draft_purchase_order", order, user="bea")
    assert asked is not None and asked.question is not None  # no case named: the count is asked


def test_a_customer_an_earlier_result_returned_is_not_taken_for_one_the_message_names_with_doubt(
    demo: Database,
) -> None:
    text = "Order 5 S-100 for Tuas"
    looked = {
        "id": "c0",
        "type": "function",
        "function": {"name": "get_order_status", "arguments": '{"order_number": "SO-5"}'},
    }
    order = {"order": "SO-5", "customer": "PASIRPAN2 Pasir Panjang Marine Engineering Pte Ltd", "facts": []}
    drafted = {"customer": "PASIRPAN2", "lines": [{"sku": "S-100", "quantity": 5, "warehouse": "SIN"}]}
    call = {"id": "c1", "type": "function", "function": {"name": "draft_sales_order", "arguments": json.dumps(drafted)}}
    messages = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": "", "tool_calls": [looked]},
        {"role": "tool", "tool_call_id": "c0", "name": "get_order_status", "content": json.dumps(order)},
        {"role": "assistant", "content": "", "tool_calls": [call]},
    ]
    actor = demo.read(lambda s: load_actor(s, username="siti"))
    hold = check_calls(demo, REGISTRY, actor, messages, {}).held.get("c1")
    assert hold is not None and hold.question is not None
    assert hold.question.startswith("Which customer do you mean by 'Tuas'") and "TUASMARI" in hold.question


def test_a_customer_a_refusal_suggested_is_not_drafted_for(demo: Database) -> None:
    text = "WIDGETCO needs 5 pcs of V-200, draft an order"
    refused = {
        "error": "not_found",
        "message": "unknown customer 'WIDGETCO'; did you mean LIBERTYC?",
        "suggestions": ["LIBERTYC"],
    }
    first = {"customer": "WIDGETCO", "lines": [{"sku": "V-200", "quantity": 5}]}
    again = {"customer": "LIBERTYC", "lines": [{"sku": "V-200", "quantity": 5}]}
    messages = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": "", "tool_calls": [_draft_call("c0", first)]},
        {"role": "tool", "tool_call_id": "c0", "name": "draft_sales_order", "content": json.dumps(refused)},
        {"role": "assistant", "content": "", "tool_calls": [_draft_call("c1", again)]},
    ]
    actor = demo.read(lambda s: load_actor(s, username="sam"))
    hold = check_calls(demo, REGISTRY, actor, messages, {}).held.get("c1")
    assert hold is not None and hold.question is not None and "LIBERTYC" not in hold.question


def _draft_call(call_id: str, arguments: dict[str, object]) -> dict[str, object]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "draft_sales_order", "arguments": json.dumps(arguments)},
    }

"""Code routes each look-up part of a request to its tools (assistant/routing.py), for the local model's choice.

The requests are the evaluation's multi-step ones and their rewordings, on the demo company; the calls are the
ones a turn makes, in order.
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Assistant, _allowed_tools, _tool_choice, _Turn
from assistant.conversations import open_checkpointer
from assistant.llm.local.choice import choose_tools
from assistant.llm.local.provider import _tool_choice as _provider_choice
from assistant.llm.local.steps import plan
from assistant.llm.scripted import Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import idle_arguments
from assistant.routing import FREE, Part, Route, aimed, drafts_first, next_route, parts_of, routed_call
from core import clock
from core.actor import Actor
from core.db import Database
from core.masterdata.mentions import link_mentions
from core.masterdata.service import load_actor
from tools import default_registry

REGISTRY = default_registry()


def _parts(db: Database, text: str, user: str = "sam") -> list[Part]:
    actor: Actor = db.read(lambda s: load_actor(s, username=user))
    linked = db.read(lambda s: link_mentions(s, actor, text, clock.today()))
    return parts_of(REGISTRY, actor.roles, linked)


def _turn(text: str, *calls: tuple[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """A user message and one round per call: (tool, its result, or None for {"ok": true})."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    for i, (name, result) in enumerate(calls):
        call = {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "name": name, "content": json.dumps(result or {})})
    return messages


def _route(db: Database, text: str, *calls: str, user: str = "sam") -> Route:
    return next_route(_parts(db, text, user), _turn(text, *[(c, None) for c in calls]))


def test_a_credit_check_then_an_order_looks_up_the_credit_then_drafts_then_answers(sqlite_demo: Database) -> None:
    text = "Check PEAKPIPE has room on their credit and draft 10 FT-200 from Birmingham for them"
    assert _route(sqlite_demo, text, user="uma") == Route(tools=("get_customer_credit",), required=True)
    after_credit = _route(sqlite_demo, text, "get_customer_credit", user="uma")
    assert after_credit.tools is not None and "draft_sales_order" in after_credit.tools
    assert all(t.startswith(("draft_", "request_")) for t in after_credit.tools)  # no second look-up instead
    assert "draft_payment" not in after_credit.tools and "draft_return" not in after_credit.tools  # nothing points
    assert _route(sqlite_demo, text, "get_customer_credit", "draft_sales_order", user="uma").answer_only


@pytest.mark.parametrize(
    "text",
    [
        "Why is SO-2289 on hold and how much credit does that customer have left?",
        "so-2289 on hold why? and whats the customer's available credit",
        "What's holding up order 2289, and how much room is left on that customer's credit line?",
    ],
)
def test_an_order_question_then_a_credit_question_each_get_their_tool(sqlite_demo: Database, text: str) -> None:
    first = _route(sqlite_demo, text)
    assert first.tools is not None and "get_order_status" in first.tools
    assert "check_availability" not in first.tools
    second = _route(sqlite_demo, text, "get_order_status")
    assert second.tools is not None and "get_customer_credit" in second.tools
    assert _route(sqlite_demo, text, "get_order_status", "get_customer_credit").answer_only


def test_a_part_that_only_names_a_thing_asks_what_the_part_before_asked(sqlite_demo: Database) -> None:
    text = "How many V-200 and V-210 are free in Reno?"
    assert _route(sqlite_demo, text, "check_availability").part == "V-210 are free in Reno"  # the model is told
    assert _route(sqlite_demo, text) == Route(tools=("check_availability",), required=True)
    assert _route(sqlite_demo, text, "check_availability") == Route(tools=("check_availability",), required=True)
    assert _route(sqlite_demo, text, "check_availability", "check_availability").answer_only
    two_orders = "What's the status of SO-2253 and SO-2258?"
    assert _route(sqlite_demo, two_orders, "get_order_status") == _route(sqlite_demo, two_orders)


def test_a_routed_call_is_made_about_its_parts_own_records(sqlite_demo: Database) -> None:
    text = "How many V-200 and V-210 are free in Reno?"
    route = _route(sqlite_demo, text, "check_availability")
    again = _turn(text, ("check_availability", None))
    again.append(
        {"role": "assistant", "content": "", "tool_calls": [_call("c9", "check_availability", {"sku": "V-200"})]}
    )
    (call,) = aimed(again, route, REGISTRY)[-1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"sku": "V-210", "warehouse": "RNO"}
    credit = _route(sqlite_demo, "Check PEAKPIPE has room on their credit and draft 10 FT-200 for them", user="uma")
    asked = [{"role": "assistant", "tool_calls": [_call("c1", "get_customer_credit", {"customer": "UK"})]}]
    (call,) = aimed(asked, credit, REGISTRY)[-1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"customer": "PEAKPIPE"}


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_a_list_is_routed_where_no_case_is_named_and_the_approvals_after_it(sqlite_demo: Database) -> None:
    text = "open exception cases and my approvals, please"
    first = _route(sqlite_demo, text, user="maria")
    assert first.tools is not None and "list_exceptions" in first.tools and "get_exception" not in first.tools
    assert _route(sqlite_demo, text, "list_exceptions", user="maria") == Route(
        tools=("list_pending_approvals",), required=True
    )


def test_a_question_alone_gets_its_first_call_routed_unless_it_points_back(sqlite_demo: Database) -> None:
    text = "Anything I need to sign off on?"
    assert _route(sqlite_demo, text, user="maria") == Route(tools=("list_pending_approvals",), required=True)
    assert _route(sqlite_demo, text, "list_pending_approvals", user="maria") == FREE  # then the step rule's
    assert _route(sqlite_demo, "who approves that?") == FREE  # the draft of the turn before: not in these words
    assert _route(sqlite_demo, "whats the max transfer size w/o manager approval") == Route(
        tools=("search_policies",), required=True
    )


@pytest.mark.parametrize("text", ["Can I take a new order from FRONTIER5?", "frontier5 - ok to take a new order?"])
def test_may_i_take_an_order_is_a_credit_question_not_an_order(sqlite_demo: Database, text: str) -> None:
    assert _route(sqlite_demo, text) == Route(tools=("get_customer_credit",), required=True)
    assert _route(sqlite_demo, "Can I order 10 V-200 for FRONTIER5 from Dallas?") == FREE  # counted: the order


@pytest.mark.parametrize(
    "text",
    [
        "Order 10 V-200 for ACME from Dallas",  # one part, a write: the step rule's alone
        "Move 10 V-200 from Dallas to Atlanta and 5 V-210 from Dallas to Reno",  # writes only
        "Draft an order for ACME: 5 V-210 from Dallas, and check nothing",  # the first part a write
    ],
)
def test_a_request_of_one_part_or_only_writes_is_not_routed(sqlite_demo: Database, text: str) -> None:
    assert _route(sqlite_demo, text) == FREE


def test_a_part_naming_two_warehouses_takes_a_look_up_of_each(sqlite_demo: Database) -> None:
    text = "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta"
    assert _route(sqlite_demo, text, "check_availability") == Route(tools=("check_availability",), required=True)
    after = _route(sqlite_demo, text, "check_availability", "check_availability")
    assert after.tools is not None and "draft_transfer" in after.tools


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("Record a payment of 1,200 from CASCADEW, bank ref BNK-7781", "fiona"),  # one write in pieces
        ("MAGNOLIA2 wants 2 units of V-210, draft it", "sam"),
        ("so-2254 goes out UPS ground today, tracking no 1Z999AA10123456784", "wes"),
    ],
)
def test_a_request_that_opens_with_a_statement_is_not_routed(sqlite_demo: Database, text: str, user: str) -> None:
    assert _route(sqlite_demo, text, user=user) == FREE


def test_a_part_that_refers_back_or_names_no_item_is_not_sent_to_the_stock(sqlite_demo: Database) -> None:
    credit = "Is Acme Industrial Supply blocked for credit, and what's still available on their line?"
    assert _route(sqlite_demo, credit) == Route(tools=("get_customer_credit",), required=True)
    assert _route(sqlite_demo, credit, "get_customer_credit").answer_only  # the same look-up answers both
    case = _route(sqlite_demo, "EX-1 - how many short? move that qty from DAL", user="wes")
    assert case.tools is None or "check_availability" not in case.tools  # no item named: not a stock question
    found = "Do we stock nitrile disposable gloves? How many are free in Dallas?"
    assert _route(sqlite_demo, found, "find_items") == Route(
        tools=("check_availability",), required=True
    )  # its SKU: found


def test_each_look_up_of_a_part_naming_two_warehouses_is_about_its_own_warehouse(sqlite_demo: Database) -> None:
    text = "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta"
    first, second = _route(sqlite_demo, text), _route(sqlite_demo, text, "check_availability")
    assert {("sku", "S-100"), ("warehouse", "DAL")} <= set(first.subject)
    assert {("sku", "S-100"), ("warehouse", "RNO")} <= set(second.subject)  # the model looked Dallas up twice
    repeated = _turn(text, ("check_availability", None))
    repeated.append(
        {"role": "assistant", "tool_calls": [_call("c9", "check_availability", {"sku": "S-100", "warehouse": "DAL"})]}
    )
    (call,) = aimed(repeated, second, REGISTRY)[-1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"sku": "S-100", "warehouse": "RNO"}


@pytest.mark.parametrize(
    ("text", "user", "draft", "look_up"),
    [
        ("EX-4: order the missing P-240 from GULFPUMP into Atlanta", "bea", "draft_purchase_order", "get_exception"),
        (
            "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas",
            "sam",
            "draft_order_change",
            "check_availability",
        ),
    ],
)
def test_a_draft_sent_back_to_look_first_is_made_once_the_look_ups_ran(
    sqlite_demo: Database, text: str, user: str, draft: str, look_up: str
) -> None:
    parts = _parts(sqlite_demo, text, user)
    sent_back = _turn(text, (draft, {"error": "look_first", "message": "not run, look first: call ..."}))
    assert next_route(parts, sent_back) == FREE  # the look-ups come first: code makes them
    looked = _turn(text, (draft, {"error": "look_first", "message": "m"}), (look_up, None))
    assert next_route(parts, looked) == Route(tools=(draft,), required=True)  # not the answer the model gave
    drafted = _turn(text, (draft, {"error": "look_first", "message": "m"}), (look_up, None), (draft, None))
    assert next_route(parts, drafted) != Route(tools=(draft,), required=True)  # once only
    refused = _turn(text, (draft, {"error": "invalid_input", "message": "m"}), (look_up, None))
    assert next_route(parts, refused) != Route(tools=(draft,), required=True)  # only a draft sent back to look


def test_an_item_looked_up_by_its_description_is_searched_for_by_its_words_not_the_sentence(
    sqlite_demo: Database,
) -> None:
    text = "Look the 3/4 inch brass ball valve up and tell me how many are free in Atlanta"
    first = _route(sqlite_demo, text)
    assert first.tools == ("find_items",)
    assert dict(first.subject)["query"] == "3/4 inch brass ball valve"


def test_after_the_look_ups_the_one_draft_the_words_point_at_must_be_made(sqlite_demo: Database) -> None:
    fuller = "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta"
    after = _route(sqlite_demo, fuller, "check_availability", "check_availability")
    assert after == Route(tools=("draft_transfer",), required=True)  # code judges the comparison, then the gate
    order = "Check how much credit BRAZOSPL has and draft 150 V-200 from Dallas for them"
    drafts = _route(sqlite_demo, order, "get_customer_credit")
    assert drafts.tools is not None and "draft_sales_order" in drafts.tools
    assert not {"draft_master_data_change", "request_credit_hold_release", "draft_stock_adjustment"} & set(drafts.tools)
    unjudged = "Is BRAZOSPL on credit hold? If not, draft an order of 15 V-200 from Dallas for them"
    offered = _route(sqlite_demo, unjudged, "get_customer_credit")
    assert offered.tools == ("draft_sales_order",) and not offered.required  # a condition code does not judge
    asked = _route(sqlite_demo, "brazospl credit ok? then order 15 V-200 from Dallas for them", "get_customer_credit")
    assert asked.tools == ("draft_sales_order",) and not asked.required  # a yes/no question, then the write
    worded = "Check ACME's credit and raise their credit limit to 60000"
    assert "draft_master_data_change" in (_route(sqlite_demo, worded, "get_customer_credit", user="fiona").tools or ())


@pytest.mark.parametrize(
    ("text", "user", "drafts"),
    [
        ("We counted 100 V-200 in Dallas", "wes", ("draft_stock_adjustment",)),
        ("cycle count v200 DAL: 100 on the shelf", "wes", ("draft_stock_adjustment",)),
        ("our count of V-200 in dallas came to 100 units", "wes", ("draft_stock_adjustment",)),  # no order change
        # words outrank the order named, which points at every draft of orders (the model took the order action)
        (
            "Raise SO-2253 line 1 to 100 V-200 and backorder whatever Atlanta can't cover",
            "sam",
            ("draft_order_change",),
        ),
        ("30 x S-100 reno -> atlanta pls", "sam", ("draft_transfer",)),  # an arrow between places, no order action
        # "arrived" and "damaged" are a receipt's and a move's words too, but neither names its PO or transfer
        ("Write off 3 V-200 in Atlanta, they arrived damaged", "wes", ("draft_stock_adjustment",)),
        ("Return 2 V-500 from SO-2276, damaged", "sam", ("draft_return",)),  # the reason after it is not a change
        # cancelling a line is the order action's, though a line named is an order change's word too
        ("Cancel line 3 of SO-2261, the customer doesn't need the T-320 any more", "sam", ("draft_order_action",)),
        ("drop line 2 to 5 units on SO-2261", "sam", ("draft_order_change",)),  # a new quantity
        ("please drop line 3 (the T-320) from order 2261", "sam", ("draft_order_action",)),  # no new sales order
        # a move reported as done is no transfer to draft: the model drafted one, and "yes" executed it (shard 2)
        (
            "EX-2 is done - we transferred 18 pcs of A-180 from dallas to atlanta, pls resolve",
            "wes",
            ("draft_exception_action",),
        ),
        ("close ex-2, moved 18 a180 DAL->ATL", "wes", ("draft_exception_action",)),
        ("Resolve EX-2: we moved 18 A-180 from Dallas to Atlanta", "wes", ("draft_exception_action",)),
    ],
)
def test_a_request_of_changes_only_is_offered_the_drafts_its_words_point_at_first(
    sqlite_demo: Database, text: str, user: str, drafts: tuple[str, ...]
) -> None:
    actor: Actor = sqlite_demo.read(lambda s: load_actor(s, username=user))
    linked = sqlite_demo.read(lambda s: link_mentions(s, actor, text, clock.today()))
    first = drafts_first(REGISTRY, actor.roles, linked, parts_of(REGISTRY, actor.roles, linked))
    assert tuple(n for n in first if REGISTRY.tools[n].writes) == drafts  # not the transfer of 100 the model drafted
    assert "check_availability" in first  # the look-ups stay on offer
    messages = [{"role": "user", "content": text}]
    assert next_route([], messages, first) == Route(tools=first)
    assert next_route([], _turn(text, (drafts[0], None)), first) == FREE  # the first call only
    looked = _turn(text, ("check_availability", None))  # it looked at the shelf first: now the draft, no answer
    assert next_route([], looked, first) == Route(tools=drafts[:1], required=True)


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("Can I write off 3 V-200 in Atlanta?", "wes"),  # a question
        ("raise a PO with allied for 50 V-200 into DAL", "sam"),  # a purchase order a salesperson may not make
        ("Check ACME's credit and draft an order for 20 V-200", "sam"),  # looks something up first
        ("please set up a return of two V-500 on order 2276", "sam"),  # a return's and an order's words
        ("for a transfer between two of our companies, who needs to sign off", "maria"),  # asked last (the model
    ],  # was offered the transfer first and drafted one)
)
def test_questions_look_ups_and_drafts_the_user_may_not_make_are_not_narrowed(
    sqlite_demo: Database, text: str, user: str
) -> None:
    actor: Actor = sqlite_demo.read(lambda s: load_actor(s, username=user))
    linked = sqlite_demo.read(lambda s: link_mentions(s, actor, text, clock.today()))
    assert drafts_first(REGISTRY, actor.roles, linked, parts_of(REGISTRY, actor.roles, linked)) == ()


@pytest.mark.parametrize(
    ("text", "tool", "second"),
    [
        ("status so2253 + so2258?", "get_order_status", "SO-2258"),
        ("credit left BRAZOSHV vs LONESTAR3?", "get_customer_credit", "LONESTAR3"),
        ("v200 and v210 available at RNO?", "check_availability", "V-210"),
    ],
)
def test_terse_requests_of_two_things_take_a_look_up_of_each(
    sqlite_demo: Database, text: str, tool: str, second: str
) -> None:
    first = _route(sqlite_demo, text)
    assert first.tools == (tool,) and first.required
    after = _route(sqlite_demo, text, tool)
    assert after.tools == (tool,) and second in dict(after.subject).values()
    assert _route(sqlite_demo, text, tool, tool).answer_only


def test_a_request_that_opens_with_its_condition_looks_it_up_first(sqlite_demo: Database) -> None:
    text = "If Reno can cover 30 brass ball valves 3/4in, place an order for Brazos HVAC Services for those 30"
    first = _route(sqlite_demo, text)
    assert first.tools is not None and "check_availability" in first.tools  # not an invented SO-1042


def test_a_round_code_sent_back_leaves_the_next_to_the_step_rule(sqlite_demo: Database) -> None:
    text = "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta"
    parts = _parts(sqlite_demo, text)
    looked = _turn(text, ("check_availability", None), ("draft_transfer", {"error": "look_first", "message": "m"}))
    assert next_route(parts, looked) == FREE  # the model looks up the other warehouse, then drafts again


def test_the_routed_tools_reach_the_local_models_grammar_and_the_step_rule_still_applies() -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in ("a_tool", "b_tool")]
    routed = _turn_with(Route(tools=("b_tool",)))
    choice = _provider_choice({"tool_choice": _tool_choice(routed), **_allowed_tools(routed)})
    assert choose_tools(tools, choice) == ([tools[1]], True)  # and the model may still answer in words
    messages = _turn("x and y", ("b_tool", None))
    assert plan(messages, tools, choose_tools(tools, choice), choice).made  # a repeat of b_tool is never returned
    assert _tool_choice(_turn_with(Route(answer_only=True))) == "none"
    free = _turn_with(FREE)
    assert (_tool_choice(free), _allowed_tools(free)) == ("auto", {})
    assert _provider_choice({"tool_choice": "none", "allowed_tools": ["b_tool"]}) == "none"
    must = _turn_with(Route(tools=("b_tool",), required=True))  # one look-up for certain: no answer instead
    forced = _provider_choice({"tool_choice": _tool_choice(must), **_allowed_tools(must)})
    assert choose_tools(tools, forced) == ([tools[1]], False)


def _turn_with(route: Route) -> _Turn:
    return _Turn(actor=None, conversation_id="c", persona="", on_event=None, channel="chat", route=route)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "How big can a transfer be before a manager has to approve it?",  # "it" is "a transfer": a policy question
        "at what size does a transfer need a manager to sign off?",
    ],
)
def test_a_question_about_a_thing_in_general_goes_to_the_policies(sqlite_demo: Database, text: str) -> None:
    assert _route(sqlite_demo, text) == Route(tools=("search_policies",), required=True, part=text.rstrip("?"))


def test_a_pronoun_for_a_record_of_an_earlier_message_is_left_to_the_model(sqlite_demo: Database) -> None:
    assert _route(sqlite_demo, "Who has to approve it?") == FREE  # the draft of the turn before: code cannot see it


def test_a_change_noun_with_nothing_named_is_no_write(sqlite_demo: Database) -> None:
    parts = _parts(sqlite_demo, "for a transfer between two of our companies, who needs to sign off")
    assert not any(p.writes for p in parts)
    assert [p.writes for p in _parts(sqlite_demo, "I need a transfer of 40 V-200 from Dallas to Atlanta")] == [True]


@pytest.mark.parametrize("text", ["look at EX-10 and assign it to fiona", "pull up EX-10, then assign it to fiona"])
def test_a_part_that_only_asks_to_look_at_a_document_reads_that_document_first(
    sqlite_demo: Database, text: str
) -> None:
    first = _route(sqlite_demo, text, user="maria")
    assert (first.tools, first.required) == (("get_exception",), True)
    after = _route(sqlite_demo, text, "get_exception", user="maria")
    assert (after.tools, after.required) == (("draft_exception_action",), True)


@pytest.mark.parametrize(
    "text",
    [
        "list the shortage cases, then show me the one about SO-2259",
        "show the shortage cases and then the one for SO-2259",
    ],
)
def test_the_one_about_an_order_after_a_list_of_cases_is_the_listed_case(sqlite_demo: Database, text: str) -> None:
    listed = {
        "cases": [
            {"case": "EX-1", "type": "shortage", "title": "SO-2257 line 1: 41 A-160 short at RNO for BRAZOSHV"},
            {"case": "EX-2", "type": "shortage", "title": "SO-2259 line 1: 18 A-180 short at ATL for LONESTAR3"},
        ],
        "facts": ["Open shortage cases: 2."],
    }
    route = next_route(_parts(sqlite_demo, text), _turn(text, ("list_exceptions", listed)))
    assert (route.tools, route.required) == (("get_exception",), True)
    asked = [
        *_turn(text, ("list_exceptions", listed)),
        {"role": "assistant", "tool_calls": [_call("c9", "get_exception", {"case_number": "EX-2259"})]},
    ]
    (call,) = aimed(asked, route, REGISTRY)[-1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"case_number": "EX-2"}


def test_a_case_is_not_picked_when_the_list_ties_the_order_to_several_or_none(sqlite_demo: Database) -> None:
    text = "list the shortage cases, then show me the one about SO-2259"
    twice = {"cases": [{"case": f"EX-{n}", "title": f"SO-2259 line {n}: short"} for n in (1, 2)], "facts": ["x"]}
    route = next_route(_parts(sqlite_demo, text), _turn(text, ("list_exceptions", twice)))
    asked = [
        *_turn(text, ("list_exceptions", twice)),
        {"role": "assistant", "tool_calls": [_call("c9", "get_exception", {"case_number": "EX-1"})]},
    ]
    (call,) = aimed(asked, route, REGISTRY)[-1]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"case_number": "EX-1"}  # the model's, for provenance


def test_cases_are_listed_not_read_in_the_part_that_lists_them(sqlite_demo: Database) -> None:
    parts = _parts(sqlite_demo, "list the shortage cases, then show me the one about SO-2259")
    assert parts[0].tools == ("list_exceptions",)


@pytest.mark.parametrize(
    ("text", "writes"),
    [
        ("Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas", False),
        ("Does Reno have 20 V-200? then order them for BRAZOSHV", False),
        ("Can you switch SO-2258 line 1 to ship from Dallas?", True),  # a request, however polite
    ],
)
def test_a_yes_or_no_question_about_stock_is_a_look_up_not_a_change(
    sqlite_demo: Database, text: str, writes: bool
) -> None:
    assert _parts(sqlite_demo, text)[0].writes is writes


@pytest.mark.parametrize(
    "text", ["explain the proposed purchase order of case 15", "Why do you propose the PO in EX-15?"]
)
def test_a_request_to_explain_a_proposal_is_a_question_not_the_proposal_drafted(
    sqlite_demo: Database, text: str
) -> None:
    # the 1.5B model, offered the purchase order first, drafted it; the evaluation's "yes" then executed it
    actor: Actor = sqlite_demo.read(lambda s: load_actor(s, username="bea"))
    linked = sqlite_demo.read(lambda s: link_mentions(s, actor, text, clock.today()))
    parts = parts_of(REGISTRY, actor.roles, linked)
    assert not any(p.writes for p in parts) and drafts_first(REGISTRY, actor.roles, linked, parts) == ()
    assert _route(sqlite_demo, text, user="bea") == Route(tools=("explain_finding",), required=True)


def test_a_policy_question_is_searched_in_its_own_words(sqlite_demo: Database) -> None:
    """The 1.5B model searched "intercompany transfers" for "who approves intercompany transfers?" and read the
    booking rules; the question itself finds the approvals."""
    (part,) = _parts(sqlite_demo, "who approves intercompany transfers?", user="maria")
    assert part.tools == ("search_policies",)
    assert part.subjects == ((("query", "who approves intercompany transfers"),),)
    fill, policy = _parts(sqlite_demo, "fill rate for NA, and what does our policy say about expediting?")
    assert policy.subjects == ((("query", "what does our policy say about expediting"),),) and fill.subjects == ((),)


def test_look_ups_listed_with_a_plus_are_each_routed(sqlite_demo: Database) -> None:
    """ "NA fill rate + open shortage cases": the model looked up the KPIs only (shard 1, 2026-12-07)."""
    parts = _parts(sqlite_demo, "NA fill rate + open shortage cases", user="maria")
    assert [p.tools for p in parts] == [("get_kpis",), ("list_exceptions",)]
    assert _parts(sqlite_demo, "NA fill rate, open shortage cases", user="maria") == []  # no plus: the model's


def _idle(db: Database, messages: list[dict[str, Any]], user: str = "sam") -> dict[str, list[list[str]]]:
    actor: Actor = db.read(lambda s: load_actor(s, username=user))
    return idle_arguments(db, REGISTRY, actor, messages, {})


def test_a_routed_look_up_its_words_fix_is_made_by_code(sqlite_demo: Database) -> None:
    text = "what's the status of SO-2289 and how much credit does that customer have left?"
    first = _route(sqlite_demo, text)
    asked = _turn(text)
    assert routed_call(first, REGISTRY, _idle(sqlite_demo, asked), asked) == (
        "get_order_status",
        {"order_number": "SO-2289"},
    )
    second = _route(sqlite_demo, text, "get_order_status")  # "that customer": no record named, the model's call
    looked = _turn(text, ("get_order_status", None))
    assert second.tools == ("get_customer_credit",) and routed_call(second, REGISTRY, None, looked) is None


def test_a_stock_look_up_is_made_by_code_only_when_nothing_in_the_words_is_left_to_choose(
    sqlite_demo: Database,
) -> None:
    """ "in Dallas" gives the warehouse, and its entity follows from it; with no date or count in the words, nothing
    could go in `on_date` or `quantity`. "by Friday" or "50" could: the model writes the call."""
    plain = "How many V-200 are free in Dallas?"
    route = _route(sqlite_demo, plain)
    assert routed_call(route, REGISTRY, _idle(sqlite_demo, _turn(plain)), _turn(plain)) == (
        "check_availability",
        {"sku": "V-200", "warehouse": "DAL"},
    )
    assert routed_call(route, REGISTRY, None, _turn(plain)) is None  # nothing known idle: the model's
    for text in ("How many V-200 can Dallas promise by Friday?", "Does Dallas have 50 V-200 free?"):
        route = _route(sqlite_demo, text)
        assert route.tools == ("check_availability",), text
        assert routed_call(route, REGISTRY, _idle(sqlite_demo, _turn(text)), _turn(text)) is None, text


def test_no_draft_and_no_call_made_before_is_made_by_code(sqlite_demo: Database) -> None:
    subject = (("customer", "ACME"),)
    draft = Route(tools=("request_credit_hold_release",), required=True, subject=subject)
    assert routed_call(draft, REGISTRY, {}, _turn("release ACME")) is None
    credit = Route(tools=("get_customer_credit",), required=True, subject=subject)
    assert routed_call(credit, REGISTRY, {}, _turn("ACME's credit?")) == ("get_customer_credit", {"customer": "ACME"})
    made = _turn("ACME's credit?")
    call = _made("get_customer_credit", {"customer": "ACME"})
    made.append({"role": "assistant", "content": "", "tool_calls": [call]})
    assert routed_call(credit, REGISTRY, {}, made) is None
    assert routed_call(replace(credit, required=False), REGISTRY, {}, _turn("ACME's credit?")) is None  # may answer


def _made(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c9", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_the_agent_makes_the_look_up_and_the_model_only_answers(
    sqlite_demo: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the whole graph, as the local model's turn runs (routing on): one model call, for the answer."""
    monkeypatch.setattr(ModelSettings, "is_local", property(lambda self: True))
    script = Script([Reply(text="SO-2289 is on hold.")])
    assistant = Assistant(
        sqlite_demo,
        open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db"),
        settings=ModelSettings(model=scripted_model(script), retries=0),
    )
    sam = sqlite_demo.read(lambda s: load_actor(s, username="sam"))
    result = assistant.turn(sam, "what's the status of SO-2289?")
    assert [(t.name, t.arguments, t.ok) for t in result.tools] == [
        ("get_order_status", {"order_number": "SO-2289"}, True)
    ]
    assert result.usage.model_calls == 1 and len(script.seen) == 1
    assert result.answer.startswith("SO-2289 is on hold.")

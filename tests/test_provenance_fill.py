"""A required value the model left out but the user's words give without doubt is filled by code, not asked
for; a value of the wrong kind (a case number as a SKU) counts as not given; doubt still asks. On the demo
company, with the calls the local model made in the evaluation (evals/results/eval-local-qwen2.5-coder-1.5b-
issue16-latest.json) and other phrasings."""

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Assistant
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from assistant.provenance import Held, check_calls
from core.actor import Actor
from core.db import Database
from core.drafts.models import DraftAction
from core.masterdata.service import load_actor
from tests.checked_calls import checked_call as _check
from tools import default_registry
from tools.context import ToolContext

REGISTRY = default_registry()


def _sam(db: Database, username: str = "sam") -> Actor:
    return db.read(lambda s: load_actor(s, username=username))


def _order(*lines: dict[str, Any], customer: str | None = "BRAZOSHV") -> dict[str, Any]:
    return {"lines": list(lines)} | ({"customer": customer} if customer else {})


# -- filled from the words -----------------------------------------------------------------------------------


def test_the_count_written_with_the_sku_fills_a_line_the_model_left_without_one(sqlite_demo: Database) -> None:
    text = "Order 10 V-210 from Reno for BRAZOSHV"
    arguments, hold = _check(sqlite_demo, [text], "draft_sales_order", _order({"sku": "V-210", "warehouse": "RNO"}))
    assert hold is None
    assert arguments["lines"] == [{"sku": "V-210", "warehouse": "RNO", "quantity": 10}]


def test_an_ambiguous_customer_is_asked_but_the_given_count_is_not(sqlite_demo: Database) -> None:
    call = _order({"sku": "V-200"})
    arguments, hold = _check(sqlite_demo, ["Order 10 V-200 for Brazos from Reno"], "draft_sales_order", call)
    assert hold is not None and hold.question is not None
    assert hold.question.startswith("Which customer do you mean by 'Brazos': BRAZOSHV")
    assert "how many" not in hold.question
    assert arguments["lines"] == [{"sku": "V-200", "quantity": 10, "warehouse": "RNO"}]


def test_a_count_an_unsupported_count_stood_for_is_the_users(sqlite_demo: Database) -> None:
    for text, count in [("5 x V-200 for ACME please", 5), ("get ACME forty V-200", 40), ("ACME wants V-200 x 12", 12)]:
        arguments, hold = _check(
            sqlite_demo, [text], "draft_sales_order", _order({"sku": "V-200", "quantity": 1}, customer="ACME")
        )
        assert hold is None, (text, hold)
        assert arguments["lines"][0]["quantity"] == count, text


def test_the_only_customer_named_fills_a_missing_customer(sqlite_demo: Database) -> None:
    arguments, hold = _check(
        sqlite_demo,
        ["put in 7 V-210 for ACME"],
        "draft_sales_order",
        _order({"sku": "V-210", "quantity": 7}, customer=None),
    )
    assert hold is None and arguments["customer"] == "ACME"


def test_a_transfers_sides_are_filled_only_from_the_direction_written(sqlite_demo: Database) -> None:
    partial = {"lines": [{"sku": "V-200", "quantity": 30}]}
    arguments, hold = _check(sqlite_demo, ["move 30 V-200 out of Reno into Atlanta"], "draft_transfer", partial)
    assert hold is None and (arguments["from_warehouse"], arguments["to_warehouse"]) == ("RNO", "ATL")
    arguments, hold = _check(sqlite_demo, ["send 30 V-200 to Atlanta from Reno"], "draft_transfer", partial)
    assert hold is None and (arguments["from_warehouse"], arguments["to_warehouse"]) == ("RNO", "ATL")


def test_a_purchase_orders_only_warehouse_fills_it(sqlite_demo: Database) -> None:
    call = {"supplier": "GULFPUMP", "lines": [{"sku": "P-240", "quantity": 2}]}
    arguments, hold = _check(sqlite_demo, ["buy 2 P-240 from GULFPUMP into Atlanta"], "draft_purchase_order", call)
    assert hold is None and arguments["warehouse"] == "ATL"


def test_the_one_warehouse_named_places_a_line_the_model_placed_elsewhere(sqlite_demo: Database) -> None:
    texts = ["Draft an order for ACME: 5 V-210 from Dallas", "Actually ship it from Reno"]
    for line in [{"sku": "V-210", "quantity": 5}, {"sku": "V-210", "quantity": 5, "warehouse": "DAL"}]:
        arguments, hold = _check(sqlite_demo, texts, "draft_sales_order", _order(line, customer="ACME"))
        assert hold is None and arguments["lines"] == [{**line, "warehouse": "RNO"}]


def test_only_the_lines_of_the_items_the_message_names_are_placed(sqlite_demo: Database) -> None:
    texts = ["Draft an order for ACME: 5 V-210 from Dallas", "and add 4 V-200 from Reno"]
    lines = [{"sku": "V-210", "quantity": 5, "warehouse": "DAL"}, {"sku": "V-200", "quantity": 4}]
    arguments, hold = _check(sqlite_demo, texts, "draft_sales_order", _order(*lines, customer="ACME"))
    assert hold is None and arguments["lines"] == [lines[0], {**lines[1], "warehouse": "RNO"}]


def test_the_line_is_drafted_at_the_warehouse_the_user_named(sqlite_demo: Database, tmp_path: Path) -> None:
    first = _order({"sku": "V-210", "quantity": 5, "warehouse": "DAL"}, customer="ACME")
    second = _order({"sku": "V-210", "quantity": 5}, customer="ACME")  # the model left the new warehouse out
    script = Script(
        [
            Reply(calls=(Call("draft_sales_order", first),)),
            Reply(text="DR-1 is a preview."),
            Reply(calls=(Call("draft_sales_order", second),)),
            Reply(text="DR-2 is a preview."),
        ]
    )
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(
        sqlite_demo, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script))
    )
    sam = _sam(sqlite_demo)
    conversation = assistant.turn(sam, "Draft an order for ACME: 5 V-210 from Dallas").conversation_id
    again = assistant.turn(sam, "Actually ship it from Reno", conversation_id=conversation)
    assert again.tools[0].ok and again.tools[0].arguments["lines"] == [
        {"sku": "V-210", "quantity": 5, "warehouse": "RNO"}
    ]
    payloads = sqlite_demo.read(lambda s: [d.payload for d in s.query(DraftAction).order_by(DraftAction.id)])
    assert [[ln["warehouse"] for ln in p["lines"]] for p in payloads] == [["DAL"], ["RNO"]]


# -- values of the wrong kind ----------------------------------------------------------------------------------


def test_a_case_number_as_sku_and_an_entity_as_warehouse_are_not_given_and_not_repeated(sqlite_demo: Database) -> None:
    garbage = {"from_warehouse": "DAL", "to_warehouse": "NA", "lines": [{"sku": "EX-1"}]}
    text = "What's short on EX-1? Transfer the missing quantity from Dallas"
    arguments, hold = _check(sqlite_demo, [text], "draft_transfer", garbage)
    assert hold is not None and hold.question is not None
    assert hold.question == "Before I draft the transfer: to which warehouse, which item (SKU), and how many?"
    assert arguments == {"from_warehouse": "DAL", "lines": [{}]}


def test_an_order_or_draft_number_is_no_sku(sqlite_demo: Database) -> None:
    for number in ["SO-2253", "DR-1"]:
        call = _order({"sku": number, "quantity": 3}, customer="ACME")
        _, hold = _check(sqlite_demo, [f"about {number}: order 3 more for ACME"], "draft_sales_order", call)
        assert hold is not None and hold.question is not None and number not in hold.question


# -- doubt still asks ------------------------------------------------------------------------------------------


def test_two_counts_for_one_item_are_asked(sqlite_demo: Database) -> None:
    text = "order 10 V-210 for ACME, or make that 12 V-210"
    _, hold = _check(sqlite_demo, [text], "draft_sales_order", _order({"sku": "V-210"}, customer="ACME"))
    assert hold is not None and hold.question is not None and "how many V-210" in hold.question


def test_two_warehouses_for_one_line_are_asked(sqlite_demo: Database) -> None:
    call = _order({"sku": "V-210", "quantity": 5}, customer="ACME")
    arguments, hold = _check(sqlite_demo, ["order 5 V-210 for ACME from Dallas or Reno"], "draft_sales_order", call)
    assert hold is not None and hold.question is not None and "which warehouse" in hold.question
    assert "warehouse" not in arguments["lines"][0]
    text = "order 5 V-210 for ACME and move 2 V-200 from DAL to ATL"
    arguments, hold = _check(sqlite_demo, [text], "draft_sales_order", call)
    assert hold is None and arguments["lines"] == [call["lines"][0]]  # one source, the transfer's: the core places it
    transfer = {"to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 5}]}
    _, hold = _check(sqlite_demo, ["move 5 V-200 from Dallas or Reno to Atlanta"], "draft_transfer", transfer)
    assert hold is not None and hold.question is not None and "from which warehouse" in hold.question


def test_an_ambiguous_customer_is_not_filled(sqlite_demo: Database) -> None:
    call = _order({"sku": "V-200", "quantity": 10}, customer=None)
    arguments, hold = _check(sqlite_demo, ["Order 10 V-200 for Brazos"], "draft_sales_order", call)
    assert hold is not None and "customer" not in arguments
    assert hold.question is not None and hold.question.startswith("Which customer do you mean by 'Brazos': BRAZOSHV")


# -- a new order asked for with a tool of an existing order ---------------------------------------------------


Looked = tuple[str, dict[str, Any]]  # a read tool the model called earlier in the turn, with its arguments


def _calling(call_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    call = {"id": call_id, "type": "function", "function": {"name": tool, "arguments": json.dumps(arguments)}}
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def _rerouted(
    db: Database,
    text: str,
    tool: str,
    arguments: dict[str, Any],
    user: str = "sam",
    looked_up: Sequence[Looked] = (),
) -> tuple[str, dict[str, Any], Held | None]:
    """The tool the call runs as, its arguments and why it is held, after the user's `text` and the turn's look-ups
    (run for real, their results in the conversation as the agent puts them)."""
    actor = _sam(db, user)
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    for n, (name, args) in enumerate(looked_up):
        outcome = REGISTRY.call(db, ToolContext(actor=actor, channel="test"), name, args)
        assert outcome.ok, outcome.data
        messages += [
            _calling(f"look{n}", name, args),
            {"role": "tool", "tool_call_id": f"look{n}", "name": name, "content": outcome.as_json()},
        ]
    messages.append(_calling("c1", tool, arguments))
    checked = check_calls(db, REGISTRY, actor, messages, {})
    function = checked.calls[0]["function"]
    return function["name"], json.loads(function["arguments"]), checked.held.get("c1")


def test_a_new_order_the_model_took_for_an_existing_ones_action_becomes_the_new_order(sqlite_demo: Database) -> None:
    """The local model's calls in the evaluation: "which order (e.g. SO-1042)?" for a request that names none."""
    asked = [
        (
            "See whether Reno has 20 V-200 free and if so order 20 of them for BRAZOSHV from there",
            "draft_order_action",
            {"order_number": "SO-1042", "action": "cancel"},
            ("draft_sales_order", "BRAZOSHV", [{"sku": "V-200", "quantity": 20, "warehouse": "RNO"}]),
        ),
        (
            "Check how much credit BRAZOSPL has and draft 150 V-200 from Dallas for them",
            "draft_shipment",
            {},
            ("draft_sales_order", "BRAZOSPL", [{"sku": "V-200", "quantity": 150, "warehouse": "DAL"}]),
        ),
        (
            "order 50 V-210 from KEYSTONE into Dallas",
            "draft_order_action",
            {"action": "expedite"},
            ("draft_purchase_order", "KEYSTONE", [{"sku": "V-210", "quantity": 50}]),
        ),
    ]
    for text, tool, arguments, (wanted, party, lines) in asked:
        name, rerouted, hold = _rerouted(sqlite_demo, text, tool, arguments)
        assert name == wanted and hold is None, (text, name, hold)
        assert rerouted.get("customer", rerouted.get("supplier")) == party and rerouted["lines"] == lines, text


def test_a_request_about_an_existing_order_keeps_its_tool(sqlite_demo: Database) -> None:
    for text in (
        "ship 10 V-200 to ACME",
        "cancel the 5 V-200 for ACME",
        "Order 10 V-200 for ACME on SO-2253",
        "add 5 V-200 to the ACME order",
    ):
        name, _, _ = _rerouted(sqlite_demo, text, "draft_shipment", {})
        assert name == "draft_shipment", text


def test_an_order_action_the_message_gives_nothing_for_becomes_the_line_change(sqlite_demo: Database) -> None:
    """The local model's call for "Change SO-2253 line 1 to 20 units": a substitute with no item to put on the line."""
    action = {"order_number": "SO-2253", "action": "substitute", "line_no": 1, "quantity": 20}
    name, arguments, hold = _rerouted(sqlite_demo, "Change SO-2253 line 1 to 20 units", "draft_order_action", action)
    assert name == "draft_order_change" and hold is None
    assert arguments == {"order_number": "SO-2253", "line_no": 1, "quantity": 20}
    for text in ("Put V-210 on SO-2253 line 1 instead", "Move 5 from SO-2253 line 1 to SO-2254"):
        name, _, _ = _rerouted(sqlite_demo, text, "draft_order_action", {**action, "sku": "V-210"})
        assert name == "draft_order_action", text


def test_a_line_number_run_on_from_its_word_is_the_users(sqlite_demo: Database) -> None:
    """ "so-2253 ln1 qty -> 20": the line was asked for before, as "ln1" was read as no number."""
    change = {"order_number": "SO-2253", "line_no": 1, "quantity": 20}
    for text in ("so-2253 ln1 qty -> 20", "SO-2253 line#1 to 20"):
        arguments, hold = _check(sqlite_demo, [text], "draft_order_change", change)
        assert hold is None and arguments == change, text
    _, hold = _check(sqlite_demo, ["so-2253 qty -> 20"], "draft_order_change", change)
    assert hold is not None  # no line given: asked, not guessed


# -- a request the model gave another draft tool ----------------------------------------------------------------

TO_MAN = {"from_warehouse": "DAL", "to_warehouse": "MAN", "lines": [{"sku": "V-200", "quantity": 10}]}


def test_stock_sent_from_one_warehouse_to_another_is_a_transfer_not_a_shipment(sqlite_demo: Database) -> None:
    """grace's calls in the evaluation: a shipment with no order, or an invented one, then "which order?"."""
    asked = [
        ("How many V-200 does Manchester have free? Send them 10 more from Dallas", {}),
        ("How many V-200 does Manchester have free? Send them 10 more from Dallas", {"order_number": "SO-1042"}),
        ("v200 free at MAN? and transfer 10 DAL -> MAN", {"order_number": "SO-1042", "warehouse": "DAL"}),
        ("send 10 V-200 from Dallas to Manchester", {}),
    ]
    for text, call in asked:
        name, arguments, hold = _rerouted(sqlite_demo, text, "draft_shipment", call, user="grace")
        assert name == "draft_transfer" and hold is None, (text, name, hold)
        assert arguments == TO_MAN, text


def test_a_transfers_item_or_destination_in_doubt_is_asked_not_guessed(sqlite_demo: Database) -> None:
    text = "check Manchester's brass valve stock, then ship 10 more there from the Dallas DC"
    name, arguments, hold = _rerouted(sqlite_demo, text, "draft_shipment", {}, user="grace")
    assert name == "draft_transfer" and hold is not None and hold.question is not None
    assert "which item" in hold.question.lower() and "V-200 (Brass ball valve 3/4in)" in hold.question
    assert arguments == {"from_warehouse": "DAL", "to_warehouse": "MAN", "lines": [{"quantity": 10}]}
    named = "check Manchester's brass ball valve 3/4in stock, then ship 10 more there from the Dallas DC"
    name, arguments, hold = _rerouted(sqlite_demo, named, "draft_shipment", {}, user="grace")
    assert (name, arguments, hold) == ("draft_transfer", TO_MAN, None)  # every word of V-200's name: no doubt
    text = "Atlanta and Reno are short of V-200: send 10 from Dallas"
    name, arguments, hold = _rerouted(sqlite_demo, text, "draft_shipment", {}, user="grace")
    assert name == "draft_transfer" and hold is not None and hold.question is not None
    assert hold.question.startswith("Before I draft the transfer: to which warehouse?")
    assert "to_warehouse" not in arguments


def test_a_shipment_of_an_order_or_to_a_customer_keeps_its_tool(sqlite_demo: Database) -> None:
    for text in (
        "ship SO-2253 via UPS",
        "ship SO-2258 line 1 from ATL today",
        "ship 10 V-200 from Dallas to ACME",
        "ship 10 V-200 from Dallas",
        "ship SO-2253 from Dallas, Atlanta has none",
    ):
        for user in ("grace", "sam"):
            name, _, _ = _rerouted(sqlite_demo, text, "draft_shipment", {"order_number": "SO-2253"}, user=user)
            assert name == "draft_shipment", (text, user)


def test_a_call_is_not_rerouted_to_a_tool_the_model_also_called(sqlite_demo: Database) -> None:
    """Two calls for two parts of a request: the shipment is for the other part, not a second transfer."""
    grace = _sam(sqlite_demo, "grace")
    calls = [("t", "draft_transfer", TO_MAN), ("s", "draft_shipment", {"order_number": "SO-2253"})]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "send 10 V-200 from Dallas to Manchester"}]
    messages.append(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": t, "arguments": json.dumps(a)}} for i, t, a in calls
            ],
        }
    )
    checked = check_calls(sqlite_demo, REGISTRY, grace, messages, {})
    assert [c["function"]["name"] for c in checked.calls] == ["draft_transfer", "draft_shipment"]


def test_stock_bought_from_a_supplier_is_a_purchase_order_not_a_transfer(sqlite_demo: Database) -> None:
    """bea's call for "EX-4: order the missing P-240 ...": a transfer, then "how many, and from which warehouse?";
    and the call for "order 40 V-210 from KEYSTONE into Reno", the supplier as the transfer's source."""
    text = "order 40 V-210 from KEYSTONE into Reno"
    call = {"from_warehouse": "KEYSTONE", "to_warehouse": "RNO", "lines": [{"sku": "V-210", "quantity": 4}]}
    name, arguments, hold = _rerouted(sqlite_demo, text, "draft_transfer", call, user="bea")
    assert name == "draft_purchase_order" and hold is None
    assert arguments == {"supplier": "KEYSTONE", "warehouse": "RNO", "lines": [{"sku": "V-210", "quantity": 40}]}
    for text in (
        "EX-4: order the missing P-240 from GULFPUMP into Atlanta",
        "raise a PO w/ GULFPUMP for whatever EX-4 is short of P-240, into ATL",
        "Case EX-4 is short of P-240 sump pumps in Atlanta; buy the shortfall from Gulf Coast Pump Works",
    ):
        call = {"to_warehouse": "ATL", "lines": [{"sku": "P-240", "quantity": 1}]}
        name, arguments, hold = _rerouted(sqlite_demo, text, "draft_transfer", call, user="bea")
        assert name == "draft_purchase_order", text
        assert arguments == {"supplier": "GULFPUMP", "warehouse": "ATL", "lines": [{"sku": "P-240"}]}, text
        assert hold is not None and hold.question is not None, text
        assert hold.question.startswith("Before I draft the purchase order: how many P-240?"), text  # not invented


def test_a_sale_to_a_supplier_is_the_purchase_order_and_its_warehouse_is_asked(sqlite_demo: Database) -> None:
    """ "Order 100 V-200 from KEYSTONE": the model drafted a sales order to KEYSTONE as a customer."""
    call = {"customer": "KEYSTONE", "lines": [{"sku": "V-200", "quantity": 100}]}
    for text in ("Order 100 V-200 from KEYSTONE", "PO keystone 100 x v200"):
        name, arguments, hold = _rerouted(sqlite_demo, text, "draft_sales_order", call, user="bea")
        assert name == "draft_purchase_order", text
        assert arguments == {"supplier": "KEYSTONE", "lines": [{"sku": "V-200", "quantity": 100}]}, text
        assert hold is not None and hold.question is not None and "warehouse" in hold.question, text
    sale = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 10}]}
    name, _, _ = _rerouted(
        sqlite_demo, "order 10 V-200 for ACME, the ones we buy from KEYSTONE", "draft_sales_order", sale
    )
    assert name == "draft_sales_order"  # a customer named: a sale


def test_a_transfer_of_stock_sold_to_a_customer_is_the_sales_order(sqlite_demo: Database) -> None:
    """ "... and draft 10 FT-200 from Birmingham for them": the model drafted a transfer with no destination."""
    text = "Check PEAKPIPE has room on their credit and draft 10 FT-200 from Birmingham for them"
    call = {"from_warehouse": "BHM", "lines": [{"sku": "FT-200", "quantity": 10}]}
    name, arguments, hold = _rerouted(sqlite_demo, text, "draft_transfer", call, user="uma")
    assert name == "draft_sales_order" and hold is None
    assert arguments == {"customer": "PEAKPIPE", "lines": [{"sku": "FT-200", "quantity": 10, "warehouse": "BHM"}]}
    aimed_at_customer = {**call, "to_warehouse": "PEAKPIPE"}  # the model's destination: the customer
    assert _rerouted(sqlite_demo, text, "draft_transfer", aimed_at_customer, user="uma")[0] == "draft_sales_order"
    moved = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 20}]}
    text = "move 20 V-200 from Dallas to Atlanta for ACME's order"
    assert _rerouted(sqlite_demo, text, "draft_transfer", moved)[0] == "draft_transfer"  # a warehouse to go to


def test_a_purchase_orders_count_a_tool_returned_stands(sqlite_demo: Database) -> None:
    """The case's shortfall, read by the model before it drafted: a count the conversation supports."""
    bea = _sam(sqlite_demo, "bea")
    case = {"case": "EX-4", "related": {"sku": "P-240", "warehouse": "ATL", "short": 2}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "EX-4: order the missing P-240 from GULFPUMP into Atlanta"},
        _calling("look", "get_exception", {"case_number": "EX-4"}),
        {"role": "tool", "tool_call_id": "look", "name": "get_exception", "content": json.dumps(case)},
        _calling("c1", "draft_transfer", {"to_warehouse": "ATL", "lines": [{"sku": "P-240", "quantity": 2}]}),
    ]
    checked = check_calls(sqlite_demo, REGISTRY, bea, messages, {})
    assert checked.calls[0]["function"]["name"] == "draft_purchase_order" and not checked.held
    assert json.loads(checked.calls[0]["function"]["arguments"])["lines"] == [{"sku": "P-240", "quantity": 2}]


def test_moving_stock_between_warehouses_keeps_the_transfer(sqlite_demo: Database) -> None:
    for text in (
        "move 30 V-200 out of Reno into Atlanta",
        "GULFPUMP is late, so move 5 P-240 from Dallas to Atlanta",
        "GULFPUMP is late; send 5 P-240 to Atlanta",
        "transfer 5 P-240 Dallas -> Atlanta, GULFPUMP cannot deliver",
    ):
        call = {"to_warehouse": "ATL", "lines": [{"sku": "P-240", "quantity": 5}]}
        name, _, _ = _rerouted(sqlite_demo, text, "draft_transfer", call, user="bea")
        assert name == "draft_transfer", text


FIND_VALVE = ("find_items", {"query": "1/2 inch brass ball valve"})


def test_an_item_looked_up_this_turn_and_a_count_in_the_words_make_the_new_order(sqlite_demo: Database) -> None:
    """bea's calls for "Find the 1/2 inch brass ball valve and order 50 from KEYSTONE into Dallas": find_items (best
    match V-210), then an order action, and "which order (e.g. SO-1042)?"."""
    wanted = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-210", "quantity": 50}]}
    for text in (
        "Find the 1/2 inch brass ball valve and order 50 from KEYSTONE into Dallas",
        "look up the half-inch brass ball valve and buy 50 from Keystone Valve for the Dallas DC",
    ):
        for call in (
            {"action": "expedite", "sku": "V-210"},
            {"order_number": "SO-1042", "action": "cancel", "sku": "V-210", "quantity": 50},
        ):
            name, arguments, hold = _rerouted(sqlite_demo, text, "draft_order_action", call, "bea", [FIND_VALVE])
            assert name == "draft_purchase_order" and hold is None, (text, name, hold)
            assert arguments == wanted, text


def test_an_item_no_look_up_of_this_turn_returned_makes_no_new_order(sqlite_demo: Database) -> None:
    text = "Find the 1/2 inch brass ball valve and order 50 from KEYSTONE into Dallas"
    name, _, _ = _rerouted(sqlite_demo, text, "draft_order_action", {"action": "expedite", "sku": "V-210"}, "bea")
    assert name == "draft_order_action"  # nothing looked up: the SKU is the model's
    call = {"action": "expedite", "sku": "P-240"}
    name, _, _ = _rerouted(sqlite_demo, text, "draft_order_action", call, "bea", [FIND_VALVE])
    assert name == "draft_order_action"  # not what the look-up found


def test_a_line_switched_to_ship_from_a_warehouse_is_a_line_change_not_a_shipment(sqlite_demo: Database) -> None:
    """sam's call for "... switch that line to ship from Dallas": a shipment, which sam may not draft."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("draft_shipment", {"order_number": "SO-2258", "warehouse": "DAL", "lines": [{"line_no": 1, "quantity": 1}]}),
        ("draft_shipment", {"order_number": "SO-2258"}),
        ("draft_order_action", {"order_number": "SO-2258", "action": "reallocate", "line_no": 1}),
    ]
    for text in (
        "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas",
        "SO-2258 ln 1 - enough at DAL? then move the line to DAL",
        "check whether the Dallas DC has stock for line 1 of order 2258 and if it does, change the line's warehouse "
        "to Dallas",
    ):
        for tool, call in calls:
            name, arguments, hold = _rerouted(sqlite_demo, text, tool, call)
            assert name == "draft_order_change" and hold is None, (text, tool, hold)
            assert arguments == {"order_number": "SO-2258", "line_no": 1, "warehouse": "DAL"}, text


def test_a_shipment_or_a_transfer_for_an_order_line_keeps_its_tool(sqlite_demo: Database) -> None:
    for text in (
        "ship SO-2258 line 1 from ATL today",
        "ship SO-2258 line 1 from Dallas and change the carrier to UPS",
        "move 10 A-180 to Dallas for SO-2258 line 1",
        "switch SO-2258 line 1 to ship from Dallas or Atlanta",
    ):
        name, _, _ = _rerouted(sqlite_demo, text, "draft_shipment", {"order_number": "SO-2258"})
        assert name == "draft_shipment", text


def test_a_line_sam_asked_to_move_is_drafted_as_the_change(sqlite_demo: Database, tmp_path: Path) -> None:
    """The evaluation's turn: the order and the stock looked up first (the request is conditional), then the
    shipment sam may not draft, drafted as the change of the line."""
    shipment = {"order_number": "SO-2258", "warehouse": "DAL"}
    script = Script(
        [
            Reply(calls=(Call("get_order_status", {"order_number": "SO-2258"}),)),
            Reply(calls=(Call("check_availability", {"sku": "A-180", "warehouse": "DAL"}),)),
            Reply(calls=(Call("draft_shipment", shipment),)),
            Reply(text="DR-1 is a preview."),
        ]
    )
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(
        sqlite_demo, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script))
    )
    text = "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas"
    result = assistant.turn(_sam(sqlite_demo), text)
    assert [(t.name, t.ok) for t in result.tools][-1] == ("draft_order_change", True), result.tools
    payloads = sqlite_demo.read(lambda s: [d.payload for d in s.query(DraftAction)])
    assert [(p["order_number"], p["line_no"], p["warehouse"]) for p in payloads] == [("SO-2258", 1, "DAL")]


def test_a_unit_cost_the_user_wrote_and_the_model_left_out_is_the_users(sqlite_demo: Database) -> None:
    po = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 10}]}
    for text in (
        "Order 10 V-200 from KEYSTONE into Dallas at -3 dollars each",
        "PO keystone 10 v200 into DAL @ -$3 each",
        "buy 10 V-200 from KEYSTONE for dallas, unit cost -3 USD",
    ):
        arguments, _ = _check(sqlite_demo, [text], "draft_purchase_order", json.loads(json.dumps(po)), user="bea")
        assert arguments["lines"][0]["unit_cost"] == "-3", text  # the core then refuses it; never the catalogue's
    for text in ("Order 10 V-200 from KEYSTONE into Dallas", "Order 10 V-200 from KEYSTONE at 9am, into Dallas"):
        arguments, _ = _check(sqlite_demo, [text], "draft_purchase_order", json.loads(json.dumps(po)), user="bea")
        assert "unit_cost" not in arguments["lines"][0], text  # no amount per unit written


def test_a_size_in_an_items_description_is_no_count_the_model_may_take(sqlite_demo: Database) -> None:
    text = "1/2in brass ball valve - PO 50 from keystone into DAL"
    po = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-210", "quantity": 1}]}
    arguments, hold = _check(sqlite_demo, [text], "draft_purchase_order", po, user="bea")
    assert arguments["lines"][0].get("quantity") != 1  # not the 1 of "1/2in": the count written, or a question
    assert hold is None or (hold.question or "").startswith("Before I draft the purchase order: how many V-210?")


@pytest.mark.parametrize(
    ("text", "given", "action"),
    [
        ("Put BRAZOSHV on credit hold, 3 invoices unpaid", {}, "hold"),  # the model left the default (release)
        ("place a credit hold on BRAZOSHV - three invoices are unpaid", {"action": "release"}, "hold"),
        ("take BRAZOSHV off hold, they paid", {}, None),  # says both: the model's choice stands
        ("Release BRAZOSHV's credit hold, they paid INV-1481", {"action": "release"}, "release"),
    ],
)
def test_a_choice_with_a_default_takes_the_one_value_the_message_says(
    sqlite_demo: Database, text: str, given: dict[str, Any], action: str | None
) -> None:
    asked = {**given, "customer": "BRAZOSHV", "reason": "invoices unpaid"}
    arguments, _ = _check(sqlite_demo, [text], "request_credit_hold_release", asked, user="fiona")
    assert arguments.get("action") == action


def test_a_sku_the_model_wrote_with_its_count_is_the_sku(sqlite_demo: Database) -> None:
    order = _order({"sku": "300 V-200", "quantity": 300}, customer="ACME")
    arguments, _ = _check(sqlite_demo, ["Draft a sales order for ACME: 300 V-200"], "draft_sales_order", order)
    assert arguments["lines"][0]["sku"] == "V-200"
    two = _order({"sku": "V-200 V-210", "quantity": 3}, customer="ACME")  # two items in one value: not one of them
    arguments, _ = _check(sqlite_demo, ["order 3 V-200 and 3 V-210 for ACME"], "draft_sales_order", two)
    assert arguments["lines"][0].get("sku") != "V-200"


def test_the_source_of_a_warehouse_to_warehouse_route_is_filled(sqlite_demo: Database) -> None:
    transfer = {"to_warehouse": "RNO", "lines": [{"sku": "A160", "quantity": 600}]}
    for text in ("tranfer 600 pcs a160 DAL to RNO", "move 600 a160 dallas to reno"):  # "to" from one to another
        arguments, hold = _check(sqlite_demo, [text], "draft_transfer", json.loads(json.dumps(transfer)))
        assert (arguments.get("from_warehouse"), hold) == ("DAL", None), text


@pytest.mark.parametrize(
    ("text", "tool", "call", "field", "number"),
    [
        (
            "put a 120 dollar FedEx expedite charge on order 2274 - customer needs it Friday",
            "draft_order_action",
            {"action": "expedite", "amount": 120, "carrier": "FedEx", "reason": "customer needs it Friday"},
            "order_number",
            "SO-2274",
        ),
        (
            "PAY-2307 is unapplied - apply it oldest first",
            "draft_payment",
            {"action": "apply"},
            "payment_number",
            "PAY-2307",
        ),
    ],
)
def test_the_one_document_the_message_names_fills_the_argument_of_its_kind(
    sqlite_demo: Database, text: str, tool: str, call: dict[str, Any], field: str, number: str
) -> None:
    """The evaluation's calls (order-expedite-freight, receivables-apply-cash-on-account) left the number out."""
    user = "fiona" if tool == "draft_payment" else "sam"
    arguments, _ = _check(sqlite_demo, [text], tool, call, user=user)
    assert arguments[field] == number


def test_a_document_is_not_filled_from_a_message_that_names_two_of_its_kind(sqlite_demo: Database) -> None:
    text = "expedite order 2274 or SO-2265 by FedEx for 120 dollars"
    arguments, _ = _check(sqlite_demo, [text], "draft_order_action", {"action": "expedite", "amount": 120})
    assert "order_number" not in arguments


@pytest.mark.parametrize(
    ("text", "given", "action"),
    [
        ("Add a note to EX-1: the customer agreed to wait until December", "assign", "comment"),
        ("note on ex-1: customer ok to wait till december", "resolve", "comment"),
        ("Give EX-11 to Fiona", "comment", "assign"),
        ("assign EX-3 to Wes and note the supplier's date", "comment", "comment"),  # both said: the model's stands
    ],
)
def test_a_case_action_the_words_name_is_the_one_drafted(
    sqlite_demo: Database, text: str, given: str, action: str
) -> None:
    case = re.search(r"EX-\d+", text, re.IGNORECASE)
    assert case is not None
    arguments, _ = _check(
        sqlite_demo,
        [text],
        "draft_exception_action",
        {"case_number": case.group().upper(), "action": given, "text": "x"},
        user="maria",
    )
    assert arguments["action"] == action


@pytest.mark.parametrize(
    "text",
    [
        "Record a payment of 1,200 from CASCADEW, bank ref BNK-7781",
        "cascadew paid 1200, ref BNK-7781 - record it",
        "we received USD 1,200 from CASCADEW today (bank reference BNK-7781), please record the payment",
    ],
)
def test_the_one_amount_of_money_written_fills_a_payment_the_model_left_without_one(
    sqlite_demo: Database, text: str
) -> None:
    asked = {"action": "record", "customer": "CASCADEW", "bank_reference": "BNK-7781"}
    arguments, hold = _check(sqlite_demo, [text], "draft_payment", asked, user="fiona")
    assert hold is None and arguments["amount"] == "1200"


def test_a_count_or_a_references_digits_are_no_amount(sqlite_demo: Database) -> None:
    asked = {"action": "record", "customer": "CASCADEW", "bank_reference": "BNK-7781"}
    arguments, _ = _check(
        sqlite_demo, ["record CASCADEW's payment for 3 invoices, ref BNK-7781"], "draft_payment", asked
    )
    assert "amount" not in arguments


@pytest.mark.parametrize(
    ("text", "quantity"),
    [
        ("please bump line 1 of order 2253 to twenty", 20),  # the model sent no quantity; the core asked what to change
        ("change SO-2253 line 1 to 15 units", 15),
        ("move SO-2253 line 1 to Dallas", None),  # no count: a warehouse change
        ("SO-2253 ln 1 - move it to DAL", None),  # "ln 1" is its line
        ("SO-2253 line 1: 15, or 20 if they take the rest", None),  # two counts: the model's (or the user's) to say
    ],
)
def test_an_order_lines_count_the_call_left_out_is_the_one_count_written(
    sqlite_demo: Database, text: str, quantity: int | None
) -> None:
    arguments, _ = _check(sqlite_demo, [text], "draft_order_change", {"order_number": "SO-2253", "line_no": 1})
    assert arguments.get("quantity") == quantity

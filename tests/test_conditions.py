"""Writes made conditional on stock, and several writes in one message: judged by code (assistant.conditions), replayed
with a scripted model that drafts the way the local model did in the evaluation."""

import json
from pathlib import Path
from typing import Any

from assistant.agent import Assistant, TurnResult
from assistant.conditions import asked_look_ups, from_the_fuller, stock_condition, uncovered_parts, write_parts
from assistant.conversations import open_checkpointer
from assistant.llm.local import steps
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core import clock
from core.db import Database
from core.drafts.models import DraftAction
from core.masterdata.mentions import link_mentions
from core.masterdata.service import load_actor
from core.sales.service import LineRequest
from tests.world import World
from tools import default_registry


def _turn(world: World, script: Script, tmp_path: Path, text: str, user: str = "sam") -> TurnResult:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    assistant = Assistant(world.db, checkpointer, channel="test", settings=ModelSettings(model=scripted_model(script)))
    return assistant.turn(world.actor(user), text)


def _drafts(world: World) -> list[dict[str, Any]]:
    return world.read(lambda s: [dict(d.payload) for d in s.query(DraftAction).order_by(DraftAction.id)])


def _check(sku: str, warehouse: str) -> Call:
    return Call("check_availability", {"sku": sku, "warehouse": warehouse})


def _order(quantity: int, warehouse: str | None, sku: str = "V-200") -> Call:
    return Call(
        "draft_sales_order", {"customer": "ACME", "lines": [{"sku": sku, "quantity": quantity, "warehouse": warehouse}]}
    )


def _script(*calls: Call, answer: str = "DR-1 is a preview.") -> Script:
    return Script([*(Reply(calls=(c,)) for c in calls), Reply(text=answer)])


# -- a condition the results show false: no draft, code's answer with the figures ----------------------------------


def test_an_order_conditional_on_more_stock_than_is_free_is_not_drafted_and_code_says_why(
    sqlite_world: World, tmp_path: Path
) -> None:
    script = _script(_check("V-200", "ATL"), _order(20, "ATL"))
    text = "check how many V-200 Atlanta has free and if there are 20, order 20 for ACME from Atlanta"
    result = _turn(sqlite_world, script, tmp_path, text)
    assert _drafts(sqlite_world) == []
    assert result.answer == "Atlanta has 12 V-200 free, fewer than the 20 needed, so I did not draft the order."
    assert len(script.seen) == 2  # code answered: the model was not asked to relay it
    assert result.grounding.unsupported_numbers == []


def test_only_if_with_a_transfer_from_a_warehouse_without_enough_is_refused(
    sqlite_world: World, tmp_path: Path
) -> None:
    transfer = Call(
        "draft_transfer", {"from_warehouse": "ATL", "to_warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 15}]}
    )
    script = _script(_check("V-200", "ATL"), transfer)
    result = _turn(sqlite_world, script, tmp_path, "send 15 V-200 from ATL to Dallas, only if ATL has them in stock")
    assert _drafts(sqlite_world) == []
    assert result.answer == "ATL has 12 V-200 free, fewer than the 15 needed, so I did not draft the transfer."


def test_a_draft_before_the_look_up_is_sent_back_to_look_first_then_judged(sqlite_world: World, tmp_path: Path) -> None:
    script = _script(_order(20, "ATL"), _order(20, "ATL"))  # code makes the look-up it sent the model back for
    result = _turn(
        sqlite_world, script, tmp_path, "If Atlanta can spare 20 V-200, put an order in for ACME for 20 from Atlanta"
    )
    assert _drafts(sqlite_world) == []
    first, looked = (json.loads(m["content"]) for m in script.seen[1] if m["role"] == "tool")
    assert first["error"] == "look_first" and "check_availability(sku=V-200, warehouse=ATL)" in first["message"]
    assert looked["sku"] == "V-200"  # code's look-up, made before the model was asked again
    assert result.answer == "Atlanta has 12 V-200 free, fewer than the 20 needed, so I did not draft the order."


# -- a condition that holds, or one code cannot evaluate: the draft goes ahead -------------------------------------


def test_an_order_whose_condition_the_look_up_meets_is_drafted(sqlite_world: World, tmp_path: Path) -> None:
    script = _script(_check("V-200", "DAL"), _order(20, "DAL"))
    _turn(
        sqlite_world,
        script,
        tmp_path,
        "See whether Dallas has 20 V-200 free and if so order 20 of them for ACME from there",
    )
    assert [d["lines"][0]["quantity"] for d in _drafts(sqlite_world)] == [20]


def test_a_condition_on_credit_is_not_judged_here(sqlite_world: World, tmp_path: Path) -> None:
    script = _script(_order(10, "ATL"))
    _turn(sqlite_world, script, tmp_path, "if ACME still has credit available, order 10 V-200 for them from Atlanta")
    assert len(_drafts(sqlite_world)) == 1


def test_a_stock_condition_on_a_line_without_a_source_is_left_as_today(sqlite_world: World, tmp_path: Path) -> None:
    script = _script(_check("V-200", "ATL"), _order(20, None))
    _turn(sqlite_world, script, tmp_path, "if there are 20 V-200 free, order 20 for ACME")
    assert len(_drafts(sqlite_world)) == 1


# -- an order line moved only if the other warehouse can cover it ------------------------------------------------


def _move_line(world: World, tmp_path: Path, quantity: int, source: str, target: str, city: str) -> TurnResult:
    order = world.place_order("ACME", LineRequest("V-200", quantity, warehouse=source), confirm=True)
    change = Call("draft_order_change", {"order_number": order, "line_no": 1, "warehouse": target})
    script = _script(change, Call("get_order_status", {"order_number": order}), _check("V-200", target), change)
    text = f"Can {city} cover {order} line 1? If so, switch that line to ship from {city}"
    return _turn(world, script, tmp_path, text)


def test_an_order_line_is_moved_when_the_other_warehouse_covers_it(sqlite_world: World, tmp_path: Path) -> None:
    result = _move_line(sqlite_world, tmp_path, 5, "ATL", "DAL", "Dallas")
    assert [t.error for t in result.tools] == ["look_first", None, None, None]  # the line and the stock come first
    assert [d["warehouse"] for d in _drafts(sqlite_world)] == ["DAL"]


def test_an_order_line_is_not_moved_to_a_warehouse_that_cannot_cover_it(sqlite_world: World, tmp_path: Path) -> None:
    result = _move_line(sqlite_world, tmp_path, 50, "DAL", "ATL", "Atlanta")
    assert _drafts(sqlite_world) == []
    assert result.answer.startswith(
        "Atlanta has 12 V-200 free, fewer than the 50 needed, so I did not draft the order change."
    )
    assert result.grounding.unsupported_numbers == []


def test_a_line_raised_only_if_its_warehouse_has_the_stock_counts_what_the_line_already_holds(
    sqlite_world: World, tmp_path: Path
) -> None:
    order = sqlite_world.place_order("ACME", LineRequest("V-200", 10, warehouse="ATL"), confirm=True)
    raised = Call("draft_order_change", {"order_number": order, "line_no": 1, "quantity": 30})
    script = _script(Call("get_order_status", {"order_number": order}), _check("V-200", "ATL"), raised)
    result = _turn(sqlite_world, script, tmp_path, f"Raise {order} line 1 to 30 V-200, only if Atlanta has the stock")
    assert _drafts(sqlite_world) == []
    assert result.answer.startswith(
        "Atlanta has 2 V-200 free and the line already holds 10, fewer than the 30 needed, so I did not draft"
    )
    assert result.grounding.unsupported_numbers == []


# -- a comparison: the source it picks, or a refusal of the other --------------------------------------------------


def test_a_comparison_refuses_a_draft_from_the_warehouse_with_less(sqlite_world: World, tmp_path: Path) -> None:
    script = _script(_check("V-200", "DAL"), _check("V-200", "ATL"), _order(10, "ATL"))
    text = "Which of Dallas or Atlanta has more V-200 free? Order 10 for ACME from that one"
    result = _turn(sqlite_world, script, tmp_path, text)
    assert _drafts(sqlite_world) == []
    assert result.answer == (
        "Dallas has more V-200 free (Dallas 100, Atlanta 12), so I did not draft the order from Atlanta. "
        "Shall I draft it from Dallas?"
    )


def test_a_comparison_drafts_from_the_warehouse_it_picks_once_both_are_looked_up(
    sqlite_world: World, tmp_path: Path
) -> None:
    script = _script(_order(10, "DAL"), _order(10, "DAL"))  # the look-ups: code's, as the refusal named them
    text = "compare V-200 in Atlanta and Dallas and order 10 for ACME from the one with more"
    _turn(sqlite_world, script, tmp_path, text)
    sent_back = next(json.loads(m["content"]) for m in script.seen[1] if m["role"] == "tool")
    assert sent_back["error"] == "look_first"  # not drafted before looking
    assert [d["lines"][0]["warehouse"] for d in _drafts(sqlite_world)] == ["DAL"]


# -- two writes in one message ---------------------------------------------------------------------------------


def test_one_transfer_for_two_routes_the_user_gave_apart_is_sent_back_then_two_previews(
    sqlite_world: World, tmp_path: Path
) -> None:
    merged = {
        "from_warehouse": "DAL",
        "to_warehouse": "ATL",
        "lines": [{"sku": "V-220", "quantity": 10}, {"sku": "V-200", "quantity": 5}],
    }
    first = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-220", "quantity": 10}]}
    second = {"from_warehouse": "ATL", "to_warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}]}
    script = Script(
        [
            Reply(calls=(Call("draft_transfer", merged),)),
            Reply(calls=(Call("draft_transfer", first), Call("draft_transfer", second))),
            Reply(text="Two previews."),
        ]
    )
    text = "Move 10 V-220 from Dallas to Atlanta and 5 V-200 from Atlanta to Dallas"
    _turn(sqlite_world, script, tmp_path, text)
    refusal = json.loads(script.seen[1][-1]["content"])
    assert refusal["error"] == "one_route_per_transfer" and "V-200 to DAL" in refusal["message"]
    assert [(d["from_warehouse"], d["to_warehouse"]) for d in _drafts(sqlite_world)] == [("DAL", "ATL"), ("ATL", "DAL")]


def _round(call_id: str, name: str, arguments: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "name": name, "content": json.dumps(result)},
    ]


PREVIEW = {"draft": "DR-1", "status": "previewed", "summary": "transfer"}


def test_a_preview_ends_the_chain_only_when_every_write_part_is_drafted() -> None:
    tools = default_registry().schemas()
    text = "Move 10 V-200 from Dallas to Atlanta and 5 V-210 from Dallas to Reno"
    one = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 10}]}
    two = {"from_warehouse": "DAL", "to_warehouse": "RNO", "lines": [{"sku": "V-210", "quantity": 5}]}
    after_one = [{"role": "user", "content": text}, *_round("c1", "draft_transfer", one, PREVIEW)]
    rule = steps.RULES["parts-note-look"]
    more = steps.plan(after_one, tools, (tools, True), "auto", rule)
    assert "draft_transfer" in [t["function"]["name"] for t in more.tools]
    after_two = [*after_one, *_round("c2", "draft_transfer", two, {**PREVIEW, "draft": "DR-2"})]
    assert steps.plan(after_two, tools, (tools, True), "auto", rule).tools == []


def test_a_single_write_with_two_lines_ends_at_its_preview() -> None:
    tools = default_registry().schemas()
    text = "order 5 x V-200 and 3 x V-220 for ACME"
    both = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 5}, {"sku": "V-220", "quantity": 3}]}
    messages = [{"role": "user", "content": text}, *_round("c1", "draft_sales_order", both, PREVIEW)]
    assert steps.plan(messages, tools, (tools, True), "auto", steps.RULES["parts-note-look"]).tools == []


def test_a_round_held_to_look_first_does_not_use_up_the_requests_rounds() -> None:
    tools = default_registry().schemas()
    text = "order 20 V-200 for BRAZOSHV from Reno if it can spare them"
    held = {"error": "look_first", "message": "not run"}
    order = {"customer": "BRAZOSHV", "lines": [{"sku": "V-200", "quantity": 20, "warehouse": "RNO"}]}
    messages = [{"role": "user", "content": text}, *_round("c1", "draft_sales_order", order, held)]
    assert steps.request_parts(text) == 1
    rule = steps.RULES["parts-note-look"]
    assert steps.plan(messages, tools, (tools, True), "auto", rule).tools != []
    looked = [*messages, *_round("c2", "check_availability", {"sku": "V-200", "warehouse": "RNO"}, {"sku": "V-200"})]
    again = steps.plan(looked, tools, (tools, True), "auto", rule)
    assert "draft_sales_order" in [t["function"]["name"] for t in again.tools]
    assert steps.call_key("draft_sales_order", order) not in again.made  # the held draft may be made again


def test_a_comparison_or_a_condition_looks_before_it_drafts_in_round_one() -> None:
    tools = default_registry().schemas()
    for text in (
        "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta",
        "s-100: DAL or RNO has more free? move 20 from whichever to ATL",
        "check reno has 20 v200 available, if yes order 20 for BRAZOSHV out of reno",
    ):
        chosen = steps.plan(
            [{"role": "user", "content": text}], tools, (tools, True), "auto", steps.RULES["parts-note-look"]
        )
        assert not any(steps.writes(t) for t in chosen.tools), text


# -- the words ---------------------------------------------------------------------------------------------------


def test_stock_conditions_in_other_words() -> None:
    enough = [
        "See whether Reno has 20 V-200 free and if so order 20 of them for BRAZOSHV from there",
        "does RNO have 30 x V-200? if it does, order the 30 for BRAZOSHV",
        "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas",
        "Raise SO-2253 line 1 to 100 V-200, only if Atlanta has the stock",
        "ship 10 V-200 to ACME from Reno provided there is enough there",
        "SO-2258 ln 1 - enough at DAL? then move the line to DAL",  # a yes/no question, then the write
    ]
    assert all(getattr(stock_condition(t), "kind", None) == "enough" for t in enough)
    more = ["compare the nitrile gloves S-100 in Dallas and Reno and transfer 20 to Atlanta from the one with more"]
    assert all(getattr(stock_condition(t), "kind", None) == "more" for t in more)
    none = [
        "is MAGNOLIA2 on credit hold, and if so why",  # no write
        "if BRAZOSPL is under its credit limit, order 10 V-200 for them",  # on credit
        "How many V-200 does Manchester have free? Send them 10 more from Dallas",  # not conditional
        "How many V-200 are free in Dallas? then move 20 to Atlanta",  # a figure asked, then a write: no condition
        "acme credit ok? then draft 20 x V-200 for them",  # a condition, on credit
    ]
    assert [stock_condition(t) for t in none] == [None] * len(none)


def test_write_parts_count_separate_writes_with_their_own_counts() -> None:
    assert len(write_parts("transfer 10 v200 DAL->ATL + 5 v210 DAL->RNO")) == 2
    assert (
        len(
            write_parts(
                "Please send 10 of the 3/4in valves from the Dallas DC to Atlanta, "
                "and 5 of the 1/2in ones from Dallas to Reno"
            )
        )
        == 2
    )
    assert (
        len(
            write_parts("make sure Peak Pipework still has credit available, then order them 10 elbows from Birmingham")
        )
        == 1
    )
    assert (
        write_parts("Why is SO-2290 held? Ask finance to release it, the customer says they paid INV-1429 yesterday")
        == []
    )
    assert (
        uncovered_parts(
            "Raise SO-2253 line 1 to 100 V-200", [{"order_number": "SO-2253", "line_no": 1, "quantity": 100}]
        )
        == []
    )
    assert uncovered_parts("order 5 x V-200 for ACME for delivery on 12 Dec", [{"lines": [{"quantity": 5}]}]) == []
    assert uncovered_parts("move 10 V-200 to ATL and 5 V-210 to RNO", [{"lines": [{"quantity": 10}]}]) == [
        "5 V-210 to RNO"
    ]


def test_the_look_ups_code_sent_a_round_back_for_are_read_back_as_calls() -> None:
    sent_back = {
        "error": "look_first",
        "message": "not run, look first: call check_availability(sku=A-180, "
        "warehouse=DAL), get_exception(case_number=EX-4); draft only if ...",
    }
    call = {"id": "c1", "type": "function", "function": {"name": "draft_order_change", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Can Dallas cover SO-2258 line 1? If so, switch that line to ship from Dallas"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "name": "draft_order_change", "content": json.dumps(sent_back)},
    ]
    assert asked_look_ups(messages) == [
        ("check_availability", {"sku": "A-180", "warehouse": "DAL"}),
        ("get_exception", {"case_number": "EX-4"}),
    ]
    ran = {**sent_back, "error": "not_found"}
    assert asked_look_ups([*messages[:2], {**messages[2], "content": json.dumps(ran)}]) == []


def test_a_transfer_from_that_one_is_sent_from_the_warehouse_the_figures_pick(sqlite_demo: Database) -> None:
    text = "Which of Dallas or Reno has more S-100 free? Send 20 from that one to Atlanta"
    actor = sqlite_demo.read(lambda s: load_actor(s, username="sam"))
    linked = sqlite_demo.read(lambda s: link_mentions(s, actor, text, clock.today()))
    looked = [{"role": "user", "content": text}]
    for i, (warehouse, free) in enumerate((("DAL", 28), ("RNO", 61))):
        result = {"sku": "S-100", "warehouses": [{"warehouse": warehouse, "available_now": free}]}
        looked += _round(f"c{i}", "check_availability", {"sku": "S-100", "warehouse": warehouse}, result)
    drafted = {"from_warehouse": "DAL", "to_warehouse": "RNO", "lines": [{"sku": "S-100", "quantity": 20}]}
    call = {"id": "c9", "type": "function", "function": {"name": "draft_transfer", "arguments": json.dumps(drafted)}}
    (aimed,) = from_the_fuller([call], looked, linked, lambda w: w.upper()[:3] if w else None)
    assert json.loads(aimed["function"]["arguments"]) == {**drafted, "from_warehouse": "RNO", "to_warehouse": "ATL"}
    (unlooked,) = from_the_fuller([call], looked[:3], linked, lambda w: w.upper()[:3] if w else None)
    assert unlooked == call  # Reno not looked up yet: code does not pick, the condition sends it to look first
    tied = [m if m.get("role") != "tool" else {**m, "content": m["content"].replace("61", "28")} for m in looked]
    assert from_the_fuller([call], tied, linked, lambda w: w.upper()[:3] if w else None) == [call]

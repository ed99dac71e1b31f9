"""Corrections of the previous turn's preview: code redoes the simple ones, any correction supersedes the preview
it corrects, and the conversation keeps what the user was shown."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.agent import Assistant, TurnResult
from assistant.conversations import open_checkpointer
from assistant.corrections import Unreadable, corrected, corrects
from assistant.llm.scripted import Call, Reply, Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.actor import Person
from core.db import Database
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from core.errors import InvalidState
from core.masterdata.mentions import Linked, Mention, MentionKind
from core.masterdata.phrases import number_of
from tests.world import World
from tools import default_registry

Messages = list[dict[str, Any]]
TRANSFER = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 10}]}
ORDER = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 10, "warehouse": "DAL"}]}
# The evaluation's first turns (evals/tasks/corrections.yaml), on the demo company
GLOVES = {"from_warehouse": "RNO", "to_warehouse": "ATL", "lines": [{"sku": "S-100", "quantity": 20}]}
CHANGE = {"order_number": "SO-2253", "line_no": 1, "quantity": 20}
HVAC = {"customer": "BRAZOSHV", "lines": [{"sku": "V-210", "quantity": 10, "warehouse": "RNO"}]}
TWO_LINES = {
    "customer": "ACME",
    "lines": [{"sku": "V-200", "quantity": 5, "warehouse": "DAL"}, {"sku": "V-220", "quantity": 4, "warehouse": "DAL"}],
}


def _assistant(world: World, script: Script, tmp_path: Path) -> Assistant:
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "conversations.db")
    model = ModelSettings(model=scripted_model(script), retries=0)
    return Assistant(world.db, checkpointer, channel="test", settings=model)


def _conversation(
    world: World, tmp_path: Path, first: tuple[str, str, dict[str, Any]], then: str, replies: list[Reply]
) -> tuple[Script, TurnResult]:
    """A first turn that drafts (`first`: the message, the tool, its arguments), then the correction `then`."""
    message, tool, arguments = first
    script = Script([Reply(calls=(Call(tool, arguments),)), *replies])  # code answers each turn's preview
    assistant = _assistant(world, script, tmp_path)
    started = assistant.turn(world.actor("sam"), message)
    return script, assistant.turn(world.actor("sam"), then, conversation_id=started.conversation_id)


def _drafts(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    return world.read(
        lambda s: [(d.number, d.status, d.payload) for d in s.scalars(select(DraftAction).order_by(DraftAction.id))]
    )


def _confirm(world: World, number: str) -> str:
    person = Person(world.actor("sam"), channel="web")
    return world.run(lambda s: confirm(s, person, draft_number=number).status)


def _redone(world: World, script: Script, result: TurnResult, tool: str) -> dict[str, Any]:
    """What code redid: the tool ran and code answered with the new preview, the model never asked; returns the new
    payload."""
    assert len(script.seen) == 1  # the first turn's call; the correction was redone and answered by code
    assert [t.name for t in result.tools] == [tool] and result.tools[0].ok and result.steps == 2
    (old, old_status, _), (new, new_status, payload) = _drafts(world)
    assert (old_status, new_status) == ("cancelled", "unconfirmed")
    assert result.answer.startswith(f"{new} is a preview: ") and old not in result.answer
    with pytest.raises(InvalidState, match="is cancelled"):
        _confirm(world, old)
    return payload


@pytest.mark.parametrize("said", ["No, 15", "make it 15", "15 instead", "sorry, fifteen", "sorry, 15 not 10"])
def test_a_new_count_is_redone_by_code_as_a_new_preview(sqlite_world: World, tmp_path: Path, said: str) -> None:
    first = ("Move 10 V-200 from Dallas to Atlanta", "draft_transfer", TRANSFER)
    script, result = _conversation(sqlite_world, tmp_path, first, said, [])
    payload = _redone(sqlite_world, script, result, "draft_transfer")
    assert payload["lines"] == [{"sku": "V-200", "quantity": 15}]
    assert (payload["from_warehouse"], payload["to_warehouse"]) == ("DAL", "ATL")


@pytest.mark.parametrize("said", ["Actually ship it from Atlanta", "from Atlanta instead"])
def test_another_warehouse_is_redone_by_code(sqlite_world: World, tmp_path: Path, said: str) -> None:
    first = ("Draft an order for ACME: 10 V-200 from Dallas", "draft_sales_order", ORDER)
    script, result = _conversation(sqlite_world, tmp_path, first, said, [])
    payload = _redone(sqlite_world, script, result, "draft_sales_order")
    assert [(ln["sku"], ln["quantity"], ln["warehouse"]) for ln in payload["lines"]] == [("V-200", 10, "ATL")]


def test_another_customer_is_redone_and_the_old_customers_preview_cannot_be_confirmed(
    sqlite_world: World, tmp_path: Path
) -> None:
    first = ("Order 10 V-200 from Dallas for ACME", "draft_sales_order", ORDER)
    script, result = _conversation(sqlite_world, tmp_path, first, "Sorry, it's for BOLT", [])
    payload = _redone(sqlite_world, script, result, "draft_sales_order")  # checks DR-1 can no longer be confirmed
    assert payload["customer"] == "BOLT"
    assert [(ln["sku"], ln["quantity"], ln["warehouse"]) for ln in payload["lines"]] == [("V-200", 10, "DAL")]


@pytest.mark.parametrize("said", ["drop the second line", "remove the V-220 line"])
def test_a_dropped_line_is_redone_by_code(sqlite_world: World, tmp_path: Path, said: str) -> None:
    first = ("Draft an order for ACME from Dallas: 5 V-200 and 4 V-220", "draft_sales_order", TWO_LINES)
    script, result = _conversation(sqlite_world, tmp_path, first, said, [])
    payload = _redone(sqlite_world, script, result, "draft_sales_order")
    assert [ln["sku"] for ln in payload["lines"]] == ["V-200"]


def test_the_other_way_round_goes_to_the_model_and_still_supersedes_the_old_route(
    sqlite_world: World, tmp_path: Path
) -> None:
    back = {**TRANSFER, "from_warehouse": "ATL", "to_warehouse": "DAL"}
    first = ("Move 10 V-200 from Dallas to Atlanta", "draft_transfer", TRANSFER)
    replies = [Reply(calls=(Call("draft_transfer", back),))]
    script, _ = _conversation(sqlite_world, tmp_path, first, "Sorry, the other way round", replies)
    assert (
        len(script.seen) == 2 and script.seen[1][-1]["role"] != "tool"
    )  # the model read the correction, made the call
    (old, old_status, _), (new, new_status, payload) = _drafts(sqlite_world)
    assert (old_status, new_status) == ("cancelled", "unconfirmed") and payload["from_warehouse"] == "ATL"
    with pytest.raises(InvalidState, match="is cancelled"):
        _confirm(sqlite_world, old)
    assert _confirm(sqlite_world, new) == "executed"


@pytest.mark.parametrize("said", ["sorry, 15 not 12", "no, 15 from Atlanta and 5 from Dallas"])
def test_a_correction_code_cannot_read_goes_to_the_model(sqlite_world: World, tmp_path: Path, said: str) -> None:
    fifteen = {**TRANSFER, "lines": [{"sku": "V-200", "quantity": 15}]}
    first = ("Move 10 V-200 from Dallas to Atlanta", "draft_transfer", TRANSFER)
    replies = [Reply(calls=(Call("draft_transfer", fifteen),))]
    script, _ = _conversation(sqlite_world, tmp_path, first, said, replies)
    assert script.seen[1][-1]["role"] != "tool"  # the model was asked first, before any tool of this turn ran
    assert [status for _, status, _ in _drafts(sqlite_world)] == ["cancelled", "unconfirmed"]


def test_a_new_request_after_a_preview_is_not_a_correction(sqlite_world: World, tmp_path: Path) -> None:
    order = {"customer": "BOLT", "lines": [{"sku": "V-200", "quantity": 3, "warehouse": "DAL"}]}
    first = ("Order 10 V-200 from Dallas for ACME", "draft_sales_order", ORDER)
    replies = [Reply(calls=(Call("draft_sales_order", order),))]
    _conversation(sqlite_world, tmp_path, first, "Also order 3 V-200 from Dallas for BOLT", replies)
    assert [status for _, status, _ in _drafts(sqlite_world)] == ["unconfirmed", "unconfirmed"]


def test_a_correction_of_two_previews_is_the_models_and_one_message_keeps_both(
    sqlite_world: World, tmp_path: Path
) -> None:
    back = {"from_warehouse": "ATL", "to_warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 5}]}
    script = Script(
        [
            Reply(calls=(Call("draft_transfer", TRANSFER), Call("draft_transfer", back))),
            Reply("Which one, DR-1 or DR-2?"),
        ]
    )
    assistant = _assistant(sqlite_world, script, tmp_path)
    started = assistant.turn(sqlite_world.actor("sam"), "move 10 V-200 DAL to ATL and 5 ATL to DAL")
    assert [status for _, status, _ in _drafts(sqlite_world)] == ["unconfirmed", "unconfirmed"]
    assistant.turn(sqlite_world.actor("sam"), "No, 15", conversation_id=started.conversation_id)
    assert len(script.seen) == 2  # which of the two: the model's to ask, not code's to guess
    assert [status for _, status, _ in _drafts(sqlite_world)] == ["unconfirmed", "unconfirmed"]


def test_the_conversation_keeps_the_answer_the_user_saw_with_codes_correction(
    sqlite_world: World, tmp_path: Path
) -> None:
    script = Script(
        [
            Reply(calls=(Call("get_customer_credit", {"customer": "ACME"}),)),
            Reply(text="ACME is on credit hold."),
            Reply(text="Sorry, ACME is not on hold."),
        ]
    )
    assistant = _assistant(sqlite_world, script, tmp_path)
    first = assistant.turn(sqlite_world.actor("sam"), "is ACME on hold?")
    assert first.answer.startswith("ACME is on credit hold.\n\nFrom the records: ACME credit available")
    assert first.answer.endswith("\n\nCheck: the records say: ACME is not on credit hold.")
    assert first.said == first.answer.removesuffix("\n\nCheck: the records say: ACME is not on credit hold.")
    assistant.turn(sqlite_world.actor("sam"), "so?", conversation_id=first.conversation_id)
    kept = assistant.history(sqlite_world.actor("sam"), first.conversation_id)
    assert kept[1] == {"role": "assistant", "content": first.answer}
    assert [m["content"] for m in script.seen[2] if m["role"] == "assistant" and m["content"]] == [first.answer]


@pytest.mark.postgres
def test_a_redone_correction_supersedes_on_postgres_and_the_store_keeps_the_answer(pg_world: World) -> None:
    url = pg_world.db.engine.url.render_as_string(hide_password=False)
    script = Script([Reply(calls=(Call("draft_sales_order", ORDER),))])  # code answers both turns' previews
    assistant = Assistant(pg_world.db, open_checkpointer(url), settings=ModelSettings(model=scripted_model(script)))
    started = assistant.turn(pg_world.actor("sam"), "Order 10 V-200 from Dallas for ACME")
    result = assistant.turn(pg_world.actor("sam"), "Sorry, it's for BOLT", conversation_id=started.conversation_id)
    payload = _redone(pg_world, script, result, "draft_sales_order")
    assert payload["customer"] == "BOLT"
    assert assistant.history(pg_world.actor("sam"), started.conversation_id)[-1]["content"] == result.answer


@pytest.mark.parametrize(
    ("first", "said", "expected"),
    [
        (
            ("Change SO-2253 line 1 to 20 units", "draft_order_change", CHANGE),
            "actually fifteen, not twenty",
            {"quantity": 15},
        ),
        (
            ("Transfer 20 S-100 from Reno to Atlanta", "draft_transfer", GLOVES),
            "Wait, I meant V-210, not the gloves",
            {"from_warehouse": "RNO", "to_warehouse": "ATL", "lines": [{"sku": "V-210", "quantity": 20}]},
        ),
        (
            ("Order 10 V-210 from Reno for BRAZOSHV", "draft_sales_order", HVAC),
            "my mistake, the customer is Brazos Plumbing Supply",
            {"customer": "BRAZOSPL"},
        ),
    ],
)
def test_the_evaluations_corrections_are_redone_by_code_and_the_new_preview_executes(
    sqlite_demo: Database, tmp_path: Path, first: tuple[str, str, dict[str, Any]], said: str, expected: dict[str, Any]
) -> None:
    demo = World(sqlite_demo)
    script, result = _conversation(demo, tmp_path, first, said, [])
    payload = _redone(demo, script, result, first[1])  # the model was never asked; the old preview is cancelled
    assert {field: payload[field] for field in expected} == expected
    assert _confirm(demo, result.answer.split()[0]) == "executed"


def test_a_correction_redoes_the_call_as_it_ran_not_as_the_model_made_it(sqlite_demo: Database, tmp_path: Path) -> None:
    """The local model's call for "Change SO-2253 line 1 to 20 units" was an order action, which code ran as the
    line change; "No, 15" then redid the order action (refused: a substitute needs an item)."""
    demo = World(sqlite_demo)
    action = {"order_number": "SO-2253", "action": "substitute", "line_no": 1, "sku": "P-10", "quantity": 20}
    script, result = _conversation(
        demo, tmp_path, ("Change SO-2253 line 1 to 20 units", "draft_order_action", action), "No, 15", []
    )
    payload = _redone(demo, script, result, "draft_order_change")
    assert {k: payload[k] for k in ("order_number", "line_no", "quantity")} == {**CHANGE, "quantity": 15}


# -- reading a correction, without a database -----------------------------------------------------------------


def _linked(text: str, *mentions: tuple[str, MentionKind, tuple[str, ...]], number: int | None = None) -> Linked:
    """A message as the linker would read it: each mention found where `text` says it, resolved to one id or
    ambiguous between several; a count is the number it says, or `number`."""
    found = []
    for said, kind, ids in mentions:
        start = text.index(said)
        one, several = (ids, ()) if len(ids) < 2 else ((), ids)
        count = (number or number_of(said)) if kind == MentionKind.QUANTITY else None
        found.append(Mention(said, start, start + len(said), kind, ids=one, candidates=several, number=count))
    return Linked(text, tuple(found))


TOOLS = default_registry().tools


def test_a_transfer_end_is_read_from_the_word_before_the_warehouse() -> None:
    text = "no, from Atlanta"
    moved = corrected(TRANSFER, TOOLS["draft_transfer"], _linked(text, ("Atlanta", MentionKind.WAREHOUSE, ("RNO",))))
    assert (moved["from_warehouse"], moved["to_warehouse"]) == ("RNO", "ATL")
    text = "sorry, into Reno"
    moved = corrected(TRANSFER, TOOLS["draft_transfer"], _linked(text, ("Reno", MentionKind.WAREHOUSE, ("RNO",))))
    assert (moved["from_warehouse"], moved["to_warehouse"]) == ("DAL", "RNO")
    assert TRANSFER["to_warehouse"] == "ATL"  # the previous call's arguments are left as they were
    text = "no, I got it backwards: from Atlanta to Dallas"
    both = _linked(text, ("Atlanta", MentionKind.WAREHOUSE, ("ATL",)), ("Dallas", MentionKind.WAREHOUSE, ("DAL",)))
    moved = corrected(TRANSFER, TOOLS["draft_transfer"], both)
    assert (moved["from_warehouse"], moved["to_warehouse"]) == ("ATL", "DAL")


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("no, Reno", [("Reno", MentionKind.WAREHOUSE, ("RNO",))]),  # which end of the transfer?
        ("no, from Brazos", [("Brazos", MentionKind.WAREHOUSE, ("BRZ1", "BRZ2"))]),  # ambiguous
        ("no, 10", [("10", MentionKind.QUANTITY, ())]),  # the count it is already
        ("no, V-210 and V-220", [("V-210", MentionKind.ITEM, ("V-210",)), ("V-220", MentionKind.ITEM, ("V-220",))]),
        ("no, not V-210", [("V-210", MentionKind.ITEM, ("V-210",))]),  # the new item written as the one replaced
        ("no, V-210 from Reno", [("V-210", MentionKind.ITEM, ("V-210",)), ("Reno", MentionKind.WAREHOUSE, ("RNO",))]),
        ("no, the 1/2in valve", [("1/2in valve", MentionKind.ITEM, ("V-210", "V-340"))]),  # which item?
        ("no, V-999", [("V-999", MentionKind.ITEM, ())]),  # no such item
        ("drop the third line", []),  # there is one line
        ("no, from Atlanta to Atlanta", [("Atlanta", MentionKind.WAREHOUSE, ("ATL",))]),
        ("what is in Reno now, not Dallas?", [("Reno", MentionKind.WAREHOUSE, ("RNO",))]),
    ],
)
def test_what_code_cannot_read_for_certain_is_left_to_the_model(
    text: str, mentions: list[tuple[str, MentionKind, tuple[str, ...]]]
) -> None:
    with pytest.raises(Unreadable):
        corrected(TRANSFER, TOOLS["draft_transfer"], _linked(text, *mentions, number=10))


@pytest.mark.parametrize("text", ["take the V-220 off, just the first line", "drop all but the first line"])
def test_a_line_named_to_keep_is_not_dropped_by_code(text: str) -> None:
    with pytest.raises(Unreadable):
        corrected(TWO_LINES, TOOLS["draft_sales_order"], _linked(text))


@pytest.mark.parametrize(
    ("text", "correcting"),
    [
        ("other direction pls, MAN to BHM", True),
        ("take the 3/4in valves off", True),
        ("30 instead", True),
        ("Also order 3 V-200 from Dallas for BOLT", False),
        ("what does Atlanta have?", False),
    ],
)
def test_a_correction_is_told_from_a_new_request(text: str, correcting: bool) -> None:
    assert corrects(text) is correcting


def test_a_count_for_one_of_several_lines_needs_the_item() -> None:
    tool = TOOLS["draft_sales_order"]
    with pytest.raises(Unreadable):
        corrected(TWO_LINES, tool, _linked("make it 6", ("6", MentionKind.QUANTITY, ()), number=6))
    both = _linked("no, 6 V-220", ("6", MentionKind.QUANTITY, ()), number=6)
    both = Linked(both.text, (Mention("6", 4, 5, MentionKind.QUANTITY, number=6, of_sku="V-220"),))
    assert [ln["quantity"] for ln in corrected(TWO_LINES, tool, both)["lines"]] == [5, 6]


def test_the_previous_call_is_read_from_the_stored_turn() -> None:
    from assistant.corrections import previous_previews

    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "draft_transfer", "arguments": json.dumps(TRANSFER)},
    }
    messages: Messages = [
        {"role": "user", "content": "move 10"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"draft": "DR-4", "status": "unconfirmed"})},
        {"role": "assistant", "content": "DR-4 is a preview."},
    ]
    (preview,) = previous_previews(messages, default_registry())
    assert (preview.tool, preview.draft, preview.arguments) == ("draft_transfer", "DR-4", TRANSFER)
    assert previous_previews([*messages, {"role": "user", "content": "hi"}], default_registry()) == []


# -- another item, and a count written as the one replaced -------------------------------------------------------

V_210 = ("V-210", MentionKind.ITEM, ("V-210",))
MEANT = "Wait, I meant V-210, not the gloves"


@pytest.mark.parametrize(
    "gloves",
    [
        [],  # a SKU is written, so the linker reads no description
        [("gloves", MentionKind.ITEM, ("S-100",))],
        [("gloves", MentionKind.ITEM, ("S-100", "S-110"))],  # several gloves, the preview's among them
    ],
)
def test_another_item_takes_the_only_lines_place_and_keeps_its_count(
    gloves: list[tuple[str, MentionKind, tuple[str, ...]]],
) -> None:
    changed = corrected(GLOVES, TOOLS["draft_transfer"], _linked(MEANT, V_210, *gloves))
    assert changed == {**GLOVES, "lines": [{"sku": "V-210", "quantity": 20}]}
    assert GLOVES["lines"] == [{"sku": "S-100", "quantity": 20}]  # the previous call's arguments are left as they were


def test_another_item_takes_the_count_the_message_gives_for_it() -> None:
    text = "no, not 20 gloves: 25 V-210"
    linked = _linked(text, ("20", MentionKind.QUANTITY, ()), ("25", MentionKind.QUANTITY, ()), V_210)
    changed = corrected(GLOVES, TOOLS["draft_transfer"], linked)
    assert changed["lines"] == [{"sku": "V-210", "quantity": 25}]
    instead = _linked("V-210 instead of the S-100", V_210, ("S-100", MentionKind.ITEM, ("S-100",)))
    assert corrected(GLOVES, TOOLS["draft_transfer"], instead)["lines"] == [{"sku": "V-210", "quantity": 20}]


@pytest.mark.parametrize(
    ("arguments", "tool", "text", "mentions"),
    [
        (GLOVES, "draft_transfer", "no, V-210 and V-220", [V_210, ("V-220", MentionKind.ITEM, ("V-220",))]),
        (GLOVES, "draft_transfer", MEANT, [V_210, ("gloves", MentionKind.ITEM, ("S-110", "S-120"))]),  # not S-100
        (GLOVES, "draft_transfer", "no, V-210, the S-100 too", [V_210, ("S-100", MentionKind.ITEM, ("S-100",))]),
        (
            GLOVES,
            "draft_transfer",
            "no, 30 V-210 and 5 S-100",
            [("30", MentionKind.QUANTITY, ()), V_210, ("5", MentionKind.QUANTITY, ())],
        ),
        (TWO_LINES, "draft_sales_order", "no, V-210", [V_210]),  # which line's item?
        (
            {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "S-100", "quantity": 20, "unit_cost": 6}]},
            "draft_purchase_order",
            "no, V-210",
            [V_210],  # the cost was the gloves'
        ),
    ],
)
def test_an_item_change_code_cannot_be_sure_of_is_the_models(
    arguments: dict[str, Any], tool: str, text: str, mentions: list[tuple[str, MentionKind, tuple[str, ...]]]
) -> None:
    with pytest.raises(Unreadable):
        corrected(arguments, TOOLS[tool], _linked(text, *mentions))


@pytest.mark.parametrize("text", ["No, 15", "actually fifteen, not twenty", "15 instead of 20"])
def test_an_order_changes_own_count_is_corrected(text: str) -> None:
    counts = [(said, MentionKind.QUANTITY, ()) for said in re.findall(r"\d+|fifteen|twenty", text)]
    changed = corrected(CHANGE, TOOLS["draft_order_change"], _linked(text, *counts))
    assert changed == {**CHANGE, "quantity": 15}


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (CHANGE, "sorry, 15 not 12"),  # 12 is not the count it changes
        (CHANGE, "no, 15 and 12"),
        (CHANGE, "no, not 15"),
        ({"order_number": "SO-2253", "line_no": 1, "warehouse": "RNO"}, "No, 15"),  # it changed the warehouse only
    ],
)
def test_an_order_change_count_code_cannot_be_sure_of_is_the_models(arguments: dict[str, Any], text: str) -> None:
    counts = [(said, MentionKind.QUANTITY, ()) for said in re.findall(r"\d+", text)]
    with pytest.raises(Unreadable):
        corrected(arguments, TOOLS["draft_order_change"], _linked(text, *counts))

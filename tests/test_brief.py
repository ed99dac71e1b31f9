"""What a small model reads of a tool result (tools/brief.py): what its facts state and the explanations left out,
the rest kept, and the whole result wherever code checks one."""

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Assistant, Message, results_as_read
from assistant.conversations import open_checkpointer
from assistant.llm.settings import ModelSettings
from tests.world import World
from tools import ToolContext, default_registry
from tools.brief import asks_how, briefed

REGISTRY = default_registry()
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _result(world: World, tool: str, args: dict[str, Any], user: str = "sam") -> dict[str, Any]:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id="t1")
    outcome = REGISTRY.call(world.db, ctx, tool, args)
    assert outcome.ok, outcome.data
    return outcome.data


def _numbers(text: str) -> set[Decimal]:
    return {Decimal(n.replace(",", "")).normalize() for n in NUMBER.findall(text)}


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v, path)]
    return [(path, node)]


def _figures_left_out(whole: dict[str, Any], brief: dict[str, Any]) -> set[Decimal]:
    """The figures of `whole` that `brief` no longer has (explanations' and descriptions' words aside)."""
    kept = {value for _, value in _leaves(brief)}
    out = set()
    for _, value in _leaves(whole):
        if isinstance(value, bool) or value in kept:
            continue
        if isinstance(value, int | float) or (isinstance(value, str) and NUMBER.fullmatch(value)):
            out.add(Decimal(str(value)).normalize())
    return out


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("get_customer_credit", {"customer": "ACME"}),
        ("check_availability", {"sku": "V-200", "warehouse": "DAL"}),
        ("check_availability", {"sku": "V-200"}),
        ("find_items", {"query": "brass ball valve"}),
        ("list_pending_approvals", {}),
    ],
)
def test_what_the_brief_leaves_out_its_facts_state(world: World, tool: str, args: dict[str, Any]) -> None:
    whole = _result(world, tool, args)
    brief = REGISTRY.brief(tool, whole, "how many can we promise?")

    assert brief["facts"] == whole["facts"] and len(json.dumps(brief)) < len(json.dumps(whole))
    assert _figures_left_out(whole, brief) <= _numbers(" ".join(whole["facts"])) | {Decimal(0)}


def test_a_credit_brief_keeps_who_and_the_hold_in_the_facts_words(world: World) -> None:
    whole = _result(world, "get_customer_credit", {"customer": "ACME"})
    brief = REGISTRY.brief("get_customer_credit", whole, "what's ACME's limit?")

    assert brief["customer"] == "ACME" and "credit_limit" not in brief and "how_computed" not in brief
    assert any("is not on credit hold" in f for f in brief["facts"])
    assert "USD 50,000.00" in " ".join(brief["facts"])


def test_found_items_keep_each_match_by_sku_and_name(world: World) -> None:
    whole = _result(world, "find_items", {"query": "brass ball valve"})
    brief = REGISTRY.brief("find_items", whole, "find the brass ball valve")

    assert [(i["sku"], i["name"]) for i in brief["items"]] == [(i["sku"], i["name"]) for i in whole["items"]]
    assert all(set(i) == {"sku", "name"} for i in brief["items"])


@pytest.mark.parametrize(
    "request_text",
    ["why is ACME's exposure that high?", "how is exposure computed?", "what does exposure mean"],
)
def test_a_request_that_asks_how_or_why_reads_the_whole_result(world: World, request_text: str) -> None:
    whole = _result(world, "get_customer_credit", {"customer": "ACME"})

    assert asks_how(request_text)
    assert REGISTRY.brief("get_customer_credit", whole, request_text) == whole


@pytest.mark.parametrize("request_text", ["how many V-200 in Dallas?", "how much credit is left", "show ACME"])
def test_how_many_and_how_much_are_not_asking_how(request_text: str) -> None:
    assert not asks_how(request_text)


def test_refusals_results_without_facts_and_unknown_tools_are_never_briefed() -> None:
    refusal = {"error": "not_found", "message": "no item V-999", "facts": ["x"], "how_computed": "y"}
    bare = {"rows": [{"sku": "V-200"}], "how_computed": "y"}

    assert briefed(refusal, {"message": ()}) is refusal and briefed(bare, {"rows": ()}) is bare
    assert REGISTRY.brief("no_such_tool", {"facts": ["x"], "basis": "y"}, "") == {"facts": ["x"], "basis": "y"}


def test_explanations_go_at_any_depth_and_rows_lose_only_the_fields_named() -> None:
    data = {
        "entities": [{"entity": "NA", "fill_rate_pct": "95.9", "basis": {"fill_rate_pct": "981 of 1023 lines"}}],
        "cases": [{"case": "EX-1", "due": "2026-11-21T03:08:27", "title": "short"}],
        "charts": ["/dashboard#fill-rate"],
        "facts": ["NA fill rate: 95.9%."],
    }

    out = briefed(data, {"cases": ("due",)})

    assert out == {
        "entities": [{"entity": "NA", "fill_rate_pct": "95.9"}],
        "cases": [{"case": "EX-1", "title": "short"}],
        "facts": ["NA fill rate: 95.9%."],
    }


def _tool_message(world: World, tool: str, args: dict[str, Any], call_id: str) -> Message:
    ctx = ToolContext(world.actor("sam"), channel="web", conversation_id="c1", tool_call_id=call_id)
    content = REGISTRY.call(world.db, ctx, tool, args).as_json()
    return {"role": "tool", "tool_call_id": call_id, "name": tool, "content": content}


def test_each_result_is_briefed_for_the_request_it_answered(world: World) -> None:
    credit = _tool_message(world, "get_customer_credit", {"customer": "ACME"}, "t1")
    messages: list[Message] = [
        {"role": "user", "content": "how is ACME's exposure computed?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "t1", "type": "function", "function": {}}]},
        credit,
        {"role": "assistant", "content": "Exposure is open receivables plus confirmed orders."},
        {"role": "user", "content": "and ACME's limit?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "t2", "type": "function", "function": {}}]},
        {**credit, "tool_call_id": "t2"},
    ]

    read = results_as_read(REGISTRY, messages)

    assert read[2]["content"] == credit["content"]  # asked how: whole
    assert "how_computed" not in read[6]["content"] and "credit_limit" not in read[6]["content"]
    assert json.loads(read[6]["content"])["facts"] == json.loads(credit["content"])["facts"]
    assert messages[6]["content"] == credit["content"]  # the conversation keeps it whole


@pytest.mark.parametrize(
    ("model", "brief_results", "briefed_read"),
    [
        ("local/qwen2.5-coder-1.5b", True, True),
        ("local/qwen2.5-coder-1.5b", False, False),
        ("openai/gpt-4o-mini", True, False),
    ],
)
def test_the_local_model_reads_results_briefed_and_the_conversation_keeps_them_whole(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    brief_results: bool,
    briefed_read: bool,
) -> None:
    settings = ModelSettings(model=model, retries=0, routing=False, brief_results=brief_results)
    assistant = Assistant(world.db, open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db"), settings=settings)
    seen: list[list[Message]] = []
    replies: list[Message] = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_customer_credit", "arguments": '{"customer": "ACME"}'},
                }
            ],
        },
        {"role": "assistant", "content": "ACME has USD 50,000.00 of credit left."},
    ]

    def answer(messages: list[Message], turn: object, *, timeout_s: float) -> Message:
        seen.append(messages)
        return replies[len(seen) - 1]

    monkeypatch.setattr(assistant, "_ask_model", answer)
    result = assistant.turn(world.actor("sam"), "how much credit has ACME got left?")

    read = json.loads(next(m for m in seen[1] if m["role"] == "tool")["content"])
    kept = assistant.graph.get_state({"configurable": {"thread_id": result.conversation_id}}).values["messages"]
    whole = json.loads(next(m for m in kept if m["role"] == "tool")["content"])
    assert [t.name for t in result.tools] == ["get_customer_credit"]
    assert ("credit_limit" not in read) is briefed_read and read["facts"] == whole["facts"]
    assert whole["credit_limit"] == "50000.00" and "how_computed" in whole


def test_an_orders_brief_leaves_out_what_its_line_facts_state_and_keeps_skus_and_prices(world: World) -> None:
    from core.sales.service import LineRequest
    from tools.orders import MAX_LINE_FACTS

    few = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    whole = _result(world, "get_order_status", {"order_number": few})
    brief = REGISTRY.brief("get_order_status", whole, "where is it?")
    assert brief["lines"] == [{"line": 1, "sku": "V-200", "net_price": whole["lines"][0]["net_price"]}]
    assert "total" not in brief and "hold_reason" not in brief and brief["facts"] == whole["facts"]
    assert _figures_left_out(whole, brief) <= _numbers(" ".join(whole["facts"])) | {Decimal(0)}

    many = world.place_order("ACME", *[LineRequest("V-200", 1, warehouse="DAL")] * (MAX_LINE_FACTS + 1))
    lines = REGISTRY.brief("get_order_status", _result(world, "get_order_status", {"order_number": many}), "")["lines"]
    assert len(lines) == MAX_LINE_FACTS + 1 and all("quantity" in ln for ln in lines)  # the facts state the first 5

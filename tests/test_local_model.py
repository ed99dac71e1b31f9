"""The local model as a litellm provider: output grammar and parsing (fast, no model), then the model itself.

The `local_model` tests load Qwen2.5-Coder-1.5B once for the module and skip only if its verified file is
not in place (`erp-assistant model install`). They are the suite's short real-model check: a handful of
phrasings, streaming, the prefix cache, a timeout. The whole phrasing table runs in the benchmark
(`python -m evals.bench.local_model_bench`, results in evals/results/), against the same ACCURACY_BAR.
"""

import json
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from assistant.llm import local
from assistant.llm.weights import is_verified, model_path
from evals.bench.local_model_bench import ACCURACY_BAR, Row, meets_the_bar
from evals.bench.phrasings import Phrasing, judge, load, matches
from tools import default_registry

# The short check's phrasings, from the table: one per kind of request (stock, an order's status, credit, a
# catalogue search, a sales-order draft, a transfer draft, and words that need no tool).
SHORT_CHECK = (
    "How many V-200 do we have in Dallas?",
    "Has order SO-1042 shipped yet?",
    "What's ACME's credit limit?",
    "Find me a 3/4 inch brass ball valve",
    "Draft an order for ACME: 20 x V-200 from DAL",
    "Move 30 V-200 from ATL to DAL",
    "What's the weather in Paris?",
)

CHATML = local.CHATML_TOOLS_TEMPLATE
TOOLS = default_registry().schemas()


def _tool(name: str) -> dict[str, Any]:
    return next(t for t in TOOLS if t["function"]["name"] == name)


# --- The output grammar -----------------------------------------------------------------------------


def test_grammar_schema_inlines_refs_and_keeps_only_what_the_grammar_enforces() -> None:
    params = _tool("draft_sales_order")["function"]["parameters"]
    schema = local.grammar_schema(params)
    line = schema["properties"]["lines"]["items"]
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    assert line["required"] == ["sku", "quantity"] and line["properties"]["sku"]["type"] == "string"
    assert schema["properties"]["requested_date"]["format"] == "date"
    assert "maxItems" not in schema["properties"]["lines"]  # 200: too long to unroll
    assert "maximum" not in json.dumps(schema)


def test_the_output_schema_has_a_branch_per_tool_and_one_to_reply() -> None:
    schema = local.output_schema(TOOLS)
    names = [b["properties"]["name"]["const"] for b in schema["anyOf"]]
    assert names == [t["function"]["name"] for t in TOOLS] + ["reply"]
    only = local.output_schema([], answer=True)
    assert only["properties"]["name"]["const"] == "reply"


def test_idle_arguments_are_left_out_of_the_output_schema_and_required_ones_never() -> None:
    offered = [t for t in TOOLS if t["function"]["name"] in ("check_availability", "draft_sales_order")]
    idle = {
        "check_availability": [["on_date"], ["quantity"], ["sku"]],
        "draft_sales_order": [["lines", "*", "discount_pct"], ["requested_date"]],
    }
    schema = local.output_schema(offered, answer=False, idle=idle)
    arguments = {b["properties"]["name"]["const"]: b["properties"]["arguments"] for b in schema["anyOf"]}
    assert set(arguments["check_availability"]["properties"]) == {"sku", "warehouse", "entity"}  # sku: required
    order = arguments["draft_sales_order"]
    assert "requested_date" not in order["properties"] and "customer_reference" in order["properties"]
    line = order["properties"]["lines"]["items"]
    assert "discount_pct" not in line["properties"] and {"sku", "quantity", "warehouse"} <= set(line["properties"])
    assert local.output_schema(offered, answer=False) != schema  # without idle arguments, every one is there


def test_every_registry_tool_converts_to_a_grammar() -> None:
    pytest.importorskip("llama_cpp")
    grammar = local.output_grammar(TOOLS)
    assert "root ::=" in grammar and "reply" in grammar
    for tool in TOOLS:
        assert local.converts(local.grammar_schema(tool["function"]["parameters"])), tool["function"]["name"]


def test_tool_choice_and_a_round_of_tool_calls_decide_what_is_offered() -> None:
    user = [{"role": "user", "content": "stock of V-200"}]
    assert local.offered(user, TOOLS, None) == (TOOLS, True)
    assert local.offered(user, TOOLS, "none") == ([], True)
    assert local.offered(user, TOOLS, "required") == (TOOLS, False)
    chosen = {"type": "function", "function": {"name": "get_kpis"}}
    assert local.offered(user, TOOLS, chosen) == ([_tool("get_kpis")], False)
    called: list[dict[str, Any]] = [
        *user,
        {"role": "assistant", "content": "", "tool_calls": [_call("check_availability", {"sku": "V-200"})]},
        {"role": "tool", "content": "{}"},
    ]
    assert local.offered(called, TOOLS, "auto") == ([], True)  # one part, answered by a tool: words only
    two_parts: list[dict[str, Any]] = [{"role": "user", "content": "V-200 stock, then SO-2289"}, *called[1:]]
    allowed, answer = local.offered(two_parts, TOOLS, "auto")
    assert _tool("get_order_status") in allowed and answer  # a second part: another round


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_once_a_name_can_only_be_one_tool_its_rest_and_first_key_are_certain() -> None:
    names = local.openers(TOOLS, answer=True)
    assert local.certain_after('{"name": "check_av', names) == 'ailability", "arguments": {"sku":'
    assert local.certain_after('{"name": "get_', names) == ""  # get_order_status, get_kpis, ...
    assert local.certain_after('{"name": "rep', names) == 'ly", "arguments": {"text":'
    assert local.certain_after('{"name": "get_kpis"', names) == ""
    assert names["list_pending_approvals"] == '", "arguments":'  # nothing required: no key is certain


# --- Reading the output ---------------------------------------------------------------------------------


def test_a_tool_branch_becomes_a_tool_call_and_a_reply_becomes_content() -> None:
    content, call = local.parse_output('{"name": "get_order_status", "arguments": {"order_number": "SO-2289"}}')
    assert content is None and call == local.ToolCall("get_order_status", '{"order_number": "SO-2289"}')
    content, call = local.parse_output('{"name": "reply", "arguments": {"text": "Hello!\\nWhat do you need?"}}')
    assert content == "Hello!\nWhat do you need?" and call is None


def test_output_that_is_not_json_falls_back_to_text() -> None:
    assert local.parse_output("plain words") == ("plain words", None)
    cut = '{"name": "reply", "arguments": {"text": "V-200: 138 available at DA'
    assert local.parse_output(cut, truncated=True) == ("V-200: 138 available at DA", None)
    cut_call = '{"name": "draft_sales_order", "arguments": {"customer": "ACME", "lines": [{"sku": "V-2'
    assert local.parse_output(cut_call, truncated=True) == (local.CUT_OFF, None)


def test_the_answer_streams_unescaped_even_when_escapes_are_split_across_pieces() -> None:
    output = '{"name": "reply", "arguments": {"text": "Caf\\u00e9 \\"A\\"\\n\\ud83d\\ude00 done"}}'
    pieces = [output[i : i + 3] for i in range(0, len(output), 3)]
    stream = local.AnswerStream()
    deltas = [stream.feed(p) for p in pieces]
    assert "".join(deltas) == 'Café "A"\n😀 done'
    assert sum(1 for d in deltas if d) > 3 and stream.done


def test_a_tool_call_streams_no_text() -> None:
    stream = local.AnswerStream()
    assert stream.feed('{"name": "get_kpis", "arguments": {"entity": "NA"}}') == ""
    assert not stream.is_answer


def test_idle_optional_arguments_are_dropped_and_required_ones_kept() -> None:
    schema = _tool("draft_sales_order")["function"]["parameters"]
    arguments = {
        "customer": "ACME",
        "lines": [{"sku": "V-200", "quantity": 5, "discount_pct": "0", "warehouse": ""}],
        "allow_backorder": False,
        "customer_reference": "",
        "requested_date": "2026-12-04",
    }
    assert local.tidy_arguments(arguments, schema) == {
        "customer": "ACME",
        "lines": [{"sku": "V-200", "quantity": 5}],
        "requested_date": "2026-12-04",
    }
    availability = _tool("check_availability")["function"]["parameters"]
    assert local.tidy_arguments({"sku": "V-200", "quantity": 0}, availability) == {"sku": "V-200"}


# --- The prompt -----------------------------------------------------------------------------------------


def _conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are the operations assistant."},
        {"role": "system", "content": "You work for sam (sales)."},
        {"role": "user", "content": "How many V-200 in Dallas?"},
        {"role": "assistant", "content": None, "tool_calls": [_call("check_availability", {"sku": "V-200"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sku": "V-200", "total_available": 138}'},
    ]


def test_history_is_shown_in_the_output_format_and_tool_results_compact() -> None:
    messages, shared = local.conversation(_conversation(), TOOLS)
    assert shared == 2 and messages[1]["content"].startswith("How to reply")
    assert messages[4] == {
        "role": "assistant",
        "content": '{"name": "check_availability", "arguments": {"sku": "V-200"}}',
    }
    assert messages[5]["content"] == '{"sku":"V-200","total_available":138}'


def test_the_shared_prefix_renders_as_the_start_of_every_prompt() -> None:
    template = local.ChatTemplate(CHATML)
    messages, shared = local.conversation(_conversation(), TOOLS)
    prefix = template.render(messages[:shared], TOOLS, add_generation_prompt=False)
    full = template.render(messages, TOOLS, add_generation_prompt=True)
    assert full.startswith(prefix) and full.endswith("<|im_start|>assistant\n")
    assert '"name": "reply"' in prefix and "\\u0027" not in prefix  # tools as HF writes JSON, not HTML-escaped


def test_the_oldest_turn_goes_first_when_the_context_is_full() -> None:
    messages, _ = local.conversation([*_conversation(), {"role": "user", "content": "and Atlanta?"}], TOOLS)
    shorter = local.drop_oldest_turn(messages)
    assert shorter is not None
    assert [m["role"] for m in shorter] == ["system", "system", "system", "user"]
    assert local.drop_oldest_turn(shorter) is None


# --- Without the model --------------------------------------------------------------------------------


def test_without_the_model_the_call_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ERP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ERP_LOCAL_MODEL_PATH", raising=False)
    monkeypatch.setattr("assistant.llm.local.model._engine", None)
    reason = local.unavailable_reason()
    assert reason is not None and "erp-assistant model install" in reason and "ERP_ASSISTANT_MODEL" in reason
    import litellm

    local.register()
    for stream in (False, True):
        with pytest.raises(Exception) as raised:
            litellm.completion(model=local.MODEL, messages=[{"role": "user", "content": "hi"}], stream=stream)
        error = local.unavailable_from(raised.value)
        assert error is not None and error.code == "local_model_unavailable" and error.message == reason


def test_a_configured_path_that_is_missing_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ERP_LOCAL_MODEL_PATH", str(tmp_path / "other.gguf"))
    reason = local.unavailable_reason()
    assert reason is not None and "other.gguf" in reason and "ERP_ASSISTANT_MODEL" in reason


# --- With the model -------------------------------------------------------------------------------------

installed = is_verified(model_path()) if not os.environ.get("ERP_LOCAL_MODEL_PATH") else model_path().is_file()


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    if not installed:
        pytest.skip("the local model is not installed: run `erp-assistant model install`")
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from evals.bench.local_model_bench import system_and_tools

    system, tools = system_and_tools()
    local.register()
    local.warm_up(system, tools)
    yield system, tools


def _opening(system: str, text: str) -> list[dict[str, Any]]:
    from evals.bench.local_model_bench import opening

    return opening(system, text)


@pytest.mark.local_model
def test_the_model_picks_the_right_tool_and_arguments(model: tuple[str, list[dict[str, Any]]]) -> None:
    system, tools = model
    names = {t["function"]["name"] for t in tools}
    rows = [r for r in _short_check() if r.tool is None or r.tool in names]
    wrong = []
    for row in rows:
        reply = local.complete(_opening(system, row.text), tools)
        tool = reply.tool_call.name if reply.tool_call else None
        if not judge(row, tool, reply.tool_call.arguments if reply.tool_call else None).args_right:
            wrong.append(f"{row.text!r}: {tool} {reply.tool_call.arguments if reply.tool_call else reply.content}")
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= ACCURACY_BAR, f"{accuracy:.0%} right; wrong:\n" + "\n".join(wrong)


@pytest.mark.local_model
def test_through_litellm_a_turn_calls_a_tool_then_streams_the_answer(model: tuple[str, list[dict[str, Any]]]) -> None:
    import litellm

    from evals.bench.local_model_bench import availability_result

    system, tools = model
    messages = _opening(system, "How many V-200 can I promise from Dallas?")
    first: Any = litellm.completion(model=local.MODEL, messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "check_availability" and json.loads(call.function.arguments)["sku"] == "V-200"
    assert first.usage.prompt_tokens > 3000 and first.usage.completion_tokens > 0
    messages += [
        first.choices[0].message.model_dump(),
        {"role": "tool", "tool_call_id": call.id, "content": availability_result(call.function.arguments)},
    ]
    chunks = list(
        litellm.completion(
            model=local.MODEL, messages=messages, tools=tools, stream=True, stream_options={"include_usage": True}
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 1 and set(re.findall(r"\d+", "".join(texts))) & {"138", "184", "46", "120"}
    built: Any = litellm.stream_chunk_builder(chunks, messages=messages)
    usage = built.usage
    assert usage.prompt_tokens > first.usage.prompt_tokens and usage.completion_tokens > 0


@pytest.mark.local_model
def test_a_tool_call_also_streams_as_one_tool_call(model: tuple[str, list[dict[str, Any]]]) -> None:
    import litellm

    system, tools = model
    messages = _opening(system, "Where is SO-2289?")
    chunks = list(litellm.completion(model=local.MODEL, messages=messages, tools=tools, stream=True))
    built: Any = litellm.stream_chunk_builder(chunks, messages=messages)
    calls = built.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_order_status"]
    assert matches({"order_number": "SO-2289"}, json.loads(calls[0].function.arguments))


@pytest.mark.local_model
def test_the_prefix_is_not_processed_again(model: tuple[str, list[dict[str, Any]]]) -> None:
    system, tools = model
    reply = local.complete(_opening(system, "Hi!"), tools)
    warm = local.warm_up(system, tools)
    assert reply.cached_tokens >= warm.tokens and warm.source == "memory"
    assert reply.content and reply.tool_call is None


@pytest.mark.local_model
def test_a_call_past_its_timeout_stops_generating_and_frees_the_model(model: tuple[str, list[dict[str, Any]]]) -> None:
    import litellm

    from assistant.agent import model_error_text
    from assistant.llm.settings import ModelSettings

    system, tools = model
    messages = _opening(system, "Summarise our returns policy in three paragraphs.")
    settings = ModelSettings(model=local.MODEL, timeout_s=0.3)
    for stream in (False, True):
        with pytest.raises(Exception) as raised:
            reply: Any = litellm.completion(
                model=local.MODEL, messages=messages, tools=tools, tool_choice="none", stream=stream, timeout=0.3
            )
            if stream:
                list(reply)
        assert "did not answer within 0.3 s" in model_error_text(raised.value, settings), raised.value
    assert local.complete(_opening(system, "Hi!"), tools).content  # the model is free again, not left locked


def test_the_phrasing_table_covers_every_tool() -> None:
    rows = load()
    assert len(rows) >= 40
    expected = {r.tool for r in rows if r.tool}
    assert {t["function"]["name"] for t in TOOLS} <= expected
    assert any(r.tool is None for r in rows)
    assert judge(Phrasing("x", "find_items", {"query": "~valve"}), "find_items", '{"query": "Brass Valves"}').args_right
    assert matches({"sku": "V-200", "on_date": date(2026, 12, 1).isoformat()}, {"sku": "v200", "on_date": "2026-12-01"})


def _short_check() -> list[Phrasing]:
    return [r for r in load() if r.text in SHORT_CHECK]


def test_the_short_check_takes_its_phrasings_from_the_table_one_tool_each() -> None:
    rows = _short_check()
    assert {r.text for r in rows} == set(SHORT_CHECK)  # none reworded away in the table: the check stays whole
    assert len({r.tool for r in rows}) == len(rows)


def test_the_benchmark_fails_below_the_accuracy_bar() -> None:
    def row(right: bool) -> Row:
        return Row(Phrasing("x", "get_kpis"), "get_kpis", "{}", "", right, right, right, 1.0, 1, 1)

    assert meets_the_bar([row(True)] * 17 + [row(False)] * 3)  # 85%
    assert not meets_the_bar([row(True)] * 16 + [row(False)] * 4)


def test_a_reply_that_repeats_itself_is_seen_as_a_loop() -> None:
    sentence = "The transfer was made to the customer's warehouse, and "
    assert local.looping('{"name": "reply", "arguments": {"text": "' + sentence * 4)
    varied = " ".join(f"Line {n}: {n * 7} units of V-{n}00 at warehouse W{n}." for n in range(12))
    assert not local.looping(varied) and not local.looping(sentence)


def test_a_tool_call_with_alike_lines_is_not_a_loop() -> None:
    line = '{"sku": "V-200", "quantity": 10, "warehouse": "DAL"}, '
    assert not local.looping('{"name": "draft_sales_order", "arguments": {"customer": "ACME", "lines": [' + line * 4)

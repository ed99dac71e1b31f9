"""Several tool rounds in one turn with the local model: the step rules, the progress note, no repeated call.

No model: the rules are plain functions of the messages, and the call's loop runs against a fake engine that
plays given outputs (the real model's figures are evals/results/multistep_bench-latest.md).
"""

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from assistant.conditions import only_asks
from assistant.llm.local import call as local_call
from assistant.llm.local import steps
from assistant.llm.local.model import Stats
from assistant.llm.local.parsing import sentences_end
from assistant.llm.local.provider import _call_args as provider_call_args
from assistant.llm.local.provider import _tool_choice as provider_choice
from assistant.llm.local.steps import RULES, StepRule, plan, request_parts
from tools import default_registry

ROOT = Path(__file__).resolve().parents[1]
TOOLS = default_registry().schemas()
NAMES = [t["function"]["name"] for t in TOOLS]
STOCK = {"sku": "V-200", "warehouse": "RNO"}
ORDER = {"customer": "BRAZOSHV", "lines": [{"sku": "V-200", "quantity": 20}]}
AVAILABLE = '{"sku":"V-200","on_date":"2026-11-20","total_available":24,"warehouses":[{"warehouse":"RNO"}]}'
PREVIEW = '{"draft":"DR-1","status":"unconfirmed","summary":"sales order","changes":[],"decision":"execute"}'


def _call(name: str, arguments: dict[str, Any], id_: str = "call_1") -> dict[str, Any]:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _turn(text: str, *rounds: tuple[str, dict[str, Any], str]) -> list[dict[str, Any]]:
    """A turn so far: the user's words, then each (tool, arguments, result)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]
    for n, (name, arguments, result) in enumerate(rounds):
        messages.append({"role": "assistant", "content": "", "tool_calls": [_call(name, arguments, f"c{n}")]})
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": result})
    return messages


def _plan(messages: list[dict[str, Any]], rule: str, tool_choice: Any = "auto") -> steps.Plan:
    return plan(messages, TOOLS, (list(TOOLS), True), tool_choice, RULES[rule])


def _names(chosen: steps.Plan) -> list[str]:
    return [t["function"]["name"] for t in chosen.tools]


TWO_STEP = "see whether Reno has 20 V-200 and if so order them for BRAZOSHV"


def test_before_any_tool_every_rule_offers_every_tool_and_words() -> None:
    for rule in [r for r, chosen in RULES.items() if not chosen.look_first]:
        chosen = _plan(_turn(TWO_STEP), rule)
        assert (_names(chosen), chosen.answer, chosen.note) == (NAMES, True, None), rule


def test_a_request_that_asks_to_look_first_gets_no_draft_tool_in_its_first_round() -> None:
    first = _plan(_turn(TWO_STEP), "parts-note-look")
    assert "check_availability" in _names(first) and first.answer
    assert not any(name.startswith(("draft_", "request_")) for name in _names(first))
    plain_draft = _plan(_turn("draft an order for LONESTAR: 6 FT-200 from Dallas"), "parts-note-look")
    assert "draft_sales_order" in _names(plain_draft)  # one part: drafted at once
    no_look_up = _plan(_turn("comment on EX-3: carrier delayed, new ETA Tuesday"), "parts-note-look")
    assert "draft_exception_action" in _names(no_look_up)  # two parts, but nothing to look up
    after = _plan(_turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE)), "parts-note-look")
    assert "draft_sales_order" in _names(after)


def test_one_round_then_words_only_is_todays_rule() -> None:
    chosen = _plan(_turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE)), "one")
    assert chosen.tools == [] and chosen.answer


def test_after_a_result_the_chaining_rules_offer_the_next_tool_and_remember_the_call() -> None:
    messages = _turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE))
    free = _plan(messages, "free")
    assert "draft_sales_order" in _names(free) and free.answer
    assert free.made == {steps.call_key("check_availability", STOCK)}
    called = _plan(messages, "free-called")
    assert "check_availability" not in _names(called) and "draft_sales_order" in _names(called)


def test_a_draft_preview_ends_the_chain_whatever_the_rule() -> None:
    messages = _turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE), ("draft_sales_order", ORDER, PREVIEW))
    for rule in RULES:
        chosen = _plan(messages, rule)
        assert chosen.tools == [] and chosen.answer, rule


def test_after_a_look_up_a_draft_is_offered_only_when_the_request_asks_for_a_change() -> None:
    looked_up = _plan(_turn("how many V-200 in Reno?", ("check_availability", STOCK, AVAILABLE)), "free")
    assert not any(name.startswith(("draft_", "request_")) for name in _names(looked_up))
    assert "find_items" in _names(looked_up)
    asked = _plan(_turn("check Reno and move 5 V-200 to Dallas", ("check_availability", STOCK, AVAILABLE)), "free")
    assert "draft_transfer" in _names(asked)


def test_the_parts_rule_allows_one_round_per_part_of_the_request() -> None:
    assert request_parts("How many V-210 can Reno promise?") == 1
    assert request_parts(TWO_STEP) == 2  # "and if so"
    assert request_parts("open cases and my approvals, please") == 3  # a ceiling, not a plan
    assert request_parts("find the valve, check Dallas stock, then move 10 to Reno") == 3
    single = _turn("How many V-210 can Reno promise?", ("check_availability", STOCK, AVAILABLE))
    assert _plan(single, "parts").tools == []
    two = _turn("open cases and my approvals", ("list_exceptions", {}, '{"cases":[]}'))
    assert "list_pending_approvals" in _names(_plan(two, "parts"))


def test_an_explicit_tool_choice_is_not_overruled_by_the_rule() -> None:
    messages = _turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE))
    assert _plan(messages, "free", tool_choice="none") == steps.Plan(list(TOOLS), True)
    assert _plan(messages, "one", tool_choice="required").tools == list(TOOLS)


def test_the_progress_note_gives_the_request_each_call_and_its_key_facts() -> None:
    refused = '{"error":"not_found","message":"no customer BRAZOS","suggestions":["BRAZOSHV"]}'
    messages = _turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE), ("get_customer_credit", {}, refused))
    note = _plan(messages, "note").note
    assert note is not None
    assert f'"{TWO_STEP}"' in note
    assert '- check_availability {"sku": "V-200", "warehouse": "RNO"} -> sku: V-200' in note
    assert "total_available: 24; warehouses: 1 rows" in note
    assert "refused (not_found): no customer BRAZOS" in note
    assert note.endswith(steps.PROGRESS_NOTE)
    assert _plan(messages, "free").note is None


def test_a_call_is_the_same_call_whatever_the_key_order_or_nulls() -> None:
    assert steps.call_key("f", '{"a": 1, "b": null}') == steps.call_key("f", {"a": 1})
    assert steps.call_key("f", {"b": 2, "a": 1}) == steps.call_key("f", '{"a":1,"b":2}')
    assert steps.call_key("f", {"a": 1}) != steps.call_key("g", {"a": 1})


# --- The call's loop, against a fake engine --------------------------------------------------------------


@dataclass
class FakeEngine:
    """Plays one output per generation and records each generation's grammar and prompt length."""

    outputs: list[str]
    grammars: list[str | None] = field(default_factory=list)
    prompts: list[list[dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: Stats = field(default_factory=Stats)

    def prefix(self, shared: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[int]:
        return [1]

    def ensure_prefix(self, tokens: list[int]) -> None:
        return None

    def prompt(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], limit: int) -> list[int]:
        self.prompts.append(list(messages))
        return [1] * len(json.dumps(list(messages)))

    def generate(self, tokens: list[int], grammar: str | None, limit: int, **kw: Any) -> Iterator[str]:
        self.grammars.append(grammar)
        output = self.outputs.pop(0)
        self.last = Stats(prompt_tokens=len(tokens), completion_tokens=10)
        opening = str(kw.get("opening", ""))
        yield output if output.startswith(opening) else opening + output


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], FakeEngine]:
    pytest.importorskip("llama_cpp")  # the grammar is built by llama-cpp-python's converter

    def make(outputs: list[str]) -> FakeEngine:
        engine = FakeEngine(outputs)
        monkeypatch.setattr(local_call, "engine", lambda: engine)
        return engine

    return make


def test_a_repeated_call_is_answered_in_the_same_call_not_returned(
    fake: Callable[[list[str]], FakeEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "RULE", RULES["free"])
    repeat = json.dumps({"name": "check_availability", "arguments": STOCK})
    answer = '{"name": "reply", "arguments": {"text": "Reno has 24 V-200 free."}}'
    engine = fake([repeat, answer])
    before = steps.TALLY.repeats_answered
    messages = _turn("how many V-200 in Reno?", ("check_availability", STOCK, AVAILABLE))

    reply = local_call.complete(messages, TOOLS)

    assert reply.tool_call is None and reply.content == "Reno has 24 V-200 free."
    assert steps.TALLY.repeats_answered == before + 1
    assert engine.grammars[1] is not None and "check_availability" not in engine.grammars[1]  # words only
    assert reply.completion_tokens == 20  # both generations count


def test_a_new_call_after_a_result_is_returned(
    fake: Callable[[list[str]], FakeEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "RULE", RULES["free"])
    fake([json.dumps({"name": "draft_sales_order", "arguments": ORDER})])
    reply = local_call.complete(_turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE)), TOOLS)
    assert reply.tool_call is not None and reply.tool_call.name == "draft_sales_order"
    assert json.loads(reply.tool_call.arguments) == ORDER


def test_the_decision_picks_words_only_or_tools_only(
    fake: Callable[[list[str]], FakeEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "RULE", StepRule(rounds="free", decide=True))
    messages = _turn(TWO_STEP, ("check_availability", STOCK, AVAILABLE))
    engine = fake(['{"next": "answer"}', '{"name": "reply", "arguments": {"text": "Reno has 24."}}'])
    assert local_call.complete(messages, TOOLS).content == "Reno has 24."
    assert engine.grammars[0] == steps.DECISION_GRAMMAR and "draft_sales_order" not in str(engine.grammars[1])
    engine = fake(['{"next": "tool"}', json.dumps({"name": "draft_sales_order", "arguments": ORDER})])
    reply = local_call.complete(messages, TOOLS)
    assert reply.tool_call is not None and reply.tool_call.name == "draft_sales_order"
    assert '"reply"' not in str(engine.grammars[1])  # a tool only


def test_a_routed_call_may_only_call_its_tool_and_is_told_which_part_comes_now(
    fake: Callable[[list[str]], FakeEngine],
) -> None:
    """What the agent sends for "How many V-200 and V-210 are free in Reno?" after the V-200 look-up."""
    engine = fake([json.dumps({"name": "check_availability", "arguments": {"sku": "V-210", "warehouse": "RNO"}})])
    routed: dict[str, Any] = {
        "tool_choice": "required",
        "allowed_tools": ["check_availability"],
        "routed_part": "V-210 in Reno",
    }
    messages = _turn("How many V-200 and V-210 are free in Reno?", ("check_availability", STOCK, AVAILABLE))
    reply = local_call.complete(messages, TOOLS, tool_choice=provider_choice(routed), focus=routed["routed_part"])
    assert reply.tool_call is not None and reply.tool_call.name == "check_availability"
    assert '"reply"' not in str(engine.grammars[0]) and "draft_sales_order" not in str(engine.grammars[0])
    assert 'this part of the request: "V-210 in Reno"' in str(engine.prompts[0][-1]["content"])


def test_the_arguments_the_agent_finds_idle_are_not_in_the_grammar(fake: Callable[[list[str]], FakeEngine]) -> None:
    """What the agent sends for "how many V-200 in Dallas?": nothing could support a date or a count, so the model
    cannot spend tokens writing them (`provenance.idle_arguments`), through litellm's arguments to the provider."""
    engine = fake([json.dumps({"name": "check_availability", "arguments": {"sku": "V-200", "warehouse": "DAL"}})] * 2)
    messages = [{"role": "user", "content": "how many V-200 in Dallas?"}]
    params: dict[str, Any] = {"tools": TOOLS, "tool_choice": "required", "allowed_tools": ["check_availability"]}
    idle = {"idle_arguments": {"check_availability": [["on_date"], ["quantity"]]}}
    for extra in ({}, idle):
        reply = local_call.complete(**provider_call_args(messages, params | extra))
        assert reply.tool_call is not None and reply.tool_call.name == "check_availability"
    whole, narrowed = str(engine.grammars[0]), str(engine.grammars[1])
    assert "on_date" in whole and "quantity" in whole
    assert "on_date" not in narrowed and "quantity" not in narrowed and "warehouse" in narrowed


@dataclass
class StreamingEngine(FakeEngine):
    """Plays its output a few characters at a time, as the model writes it, and records how much it wrote."""

    written: list[str] = field(default_factory=list)

    def generate(self, tokens: list[int], grammar: str | None, limit: int, **kw: Any) -> Iterator[str]:
        for piece in super().generate(tokens, grammar, limit, **kw):
            for start in range(0, len(piece), 4):
                self.written.append(piece[start : start + 4])
                yield piece[start : start + 4]


LONG_ANSWER = (
    "MAGNOLIA2 is on credit hold. Magnolia Mechanical Co. has USD -1,371.82 of its USD 10,000.00 limit left. "
    "Its exposure is USD 11,371.82. Its open orders are USD 0.00."
)


def _streaming(monkeypatch: pytest.MonkeyPatch, text: str) -> StreamingEngine:
    pytest.importorskip("llama_cpp")
    engine = StreamingEngine([json.dumps({"name": "reply", "arguments": {"text": text}})])
    monkeypatch.setattr(local_call, "engine", lambda: engine)
    return engine


def test_an_answer_after_tool_results_ends_after_its_second_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model stops writing there: what it was about to quote, code recaps under the answer (agent._finish)."""
    engine = _streaming(monkeypatch, LONG_ANSWER)
    messages = _turn("how much credit does MAGNOLIA2 have left?", ("get_customer_credit", {"customer": "X"}, "{}"))
    streamed = [e for e in local_call.run(messages, TOOLS, tool_choice="none") if isinstance(e, str)]
    expected = "MAGNOLIA2 is on credit hold. Magnolia Mechanical Co. has USD -1,371.82 of its USD 10,000.00 limit left."
    assert "".join(streamed).strip() == expected  # "Co." and "10,000.00" end no sentence
    assert "Its exposure" not in "".join(engine.written)  # the third sentence was never generated
    engine = _streaming(monkeypatch, LONG_ANSWER)
    reply = local_call.complete(messages, TOOLS, tool_choice="none")
    assert reply.content == expected and reply.finish_reason == "stop"


def test_an_answer_before_any_tool_result_or_with_the_limit_off_is_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import override_settings

    _streaming(monkeypatch, LONG_ANSWER)
    question = [{"role": "user", "content": "hi, what can you do? tell me about yourself. and more."}]
    assert local_call.complete(question, TOOLS, tool_choice="none").content == LONG_ANSWER  # no results: not cut
    _streaming(monkeypatch, LONG_ANSWER)
    messages = _turn("how much credit does MAGNOLIA2 have left?", ("get_customer_credit", {"customer": "X"}, "{}"))
    with override_settings(local_answer_sentences=0):
        assert local_call.complete(messages, TOOLS, tool_choice="none").content == LONG_ANSWER


@pytest.mark.parametrize(
    ("text", "most", "end"),
    [
        ("Reno has 24. Dallas has 5. Atlanta has 0.", 2, len("Reno has 24. Dallas has 5.")),
        ("Reno has 24. Dallas has 5.", 2, None),  # the space after the second point is not written yet
        ("Acme Co. owes USD 1,200.50 in total. It pays late.", 1, len("Acme Co. owes USD 1,200.50 in total.")),
        ("Open cases:\n1. EX-4 is short.\n2. EX-5 is late.", 1, len("Open cases:\n1. EX-4 is short.")),
        ("Is it on hold? Yes! It is.", 2, len("Is it on hold? Yes!")),
    ],
)
def test_where_the_nth_sentence_ends(text: str, most: int, end: int | None) -> None:
    assert sentences_end(text, most) == end


# --- The benchmark's judge ------------------------------------------------------------------------------------


def test_the_bench_judges_the_exact_sequence_and_the_looser_cover() -> None:
    from evals.bench.multistep_bench import Request, Step, completed, covered, load

    check = Step("check_availability", {"sku": "V-200", "warehouse": "RNO|Reno"})
    request = Request(TWO_STEP, "sam", (check, Step("draft_sales_order")))
    both = [("check_availability", {"sku": "v200", "warehouse": "RNO"}), ("draft_sales_order", ORDER)]
    assert completed(request, both) and covered(request, both)
    assert not completed(request, both[::-1])  # in order
    extra = [both[0], ("get_kpis", {}), both[1]]
    assert not completed(request, extra) and covered(request, extra)
    assert not completed(request, both[:1]) and not covered(request, both[:1])
    either = Request("a and b", "sam", (Step("get_kpis"), Step("list_exceptions")), any_order=True)
    assert completed(either, [("list_exceptions", {}), ("get_kpis", {})])
    rows = load()
    assert sum(r.multi for r in rows) >= 20 and sum(not r.multi for r in rows) >= 15
    assert all(s.tool in NAMES for r in rows for s in r.steps)


def test_a_question_that_asks_for_no_change_gets_no_draft_tool_in_its_first_round() -> None:
    for question in ("Why do you propose the PO in EX-15?", "what needs my attention", "is SO-1042 shipped yet?"):
        first = _plan(_turn(question), "one")
        assert first.answer and not any(n.startswith(("draft_", "request_")) for n in _names(first)), question
        assert "explain_finding" in _names(first) and "get_briefing" in _names(first)
    for change in (
        "Accept the proposed transfer in EX-16",
        "can you order 10 V-200 for ACME?",
        "why not put ACME on hold?",
    ):
        assert "draft_from_finding" in _names(_plan(_turn(change), "one")), change


def test_no_write_phrasing_of_the_table_and_no_eval_wording_that_drafts_at_once_reads_as_a_mere_question() -> None:
    rows = yaml.safe_load((ROOT / "evals/datasets/phrasings.yaml").read_text(encoding="utf-8"))
    writes = [r["text"] for r in rows if str(r.get("tool", "")).startswith(("draft_", "request_"))]
    assert len(writes) > 30 and [t for t in writes if only_asks(t)] == []
    drafting: list[str] = []
    for path in sorted((ROOT / "evals/tasks").glob("*.yaml")):
        for task in yaml.safe_load(path.read_text(encoding="utf-8")):
            if task.get("expect", {}).get("drafts") and len(task["turns"]) == 1:
                drafting += [wording[0] for wording in [task["turns"], *task.get("rephrased", [])]]
    assert len(drafting) > 50 and [t for t in drafting if only_asks(t)] == []

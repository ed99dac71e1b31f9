"""The assistant: a LangGraph loop of model -> tools -> model, as one user, in one conversation.

The graph keeps OpenAI-format messages in its state and calls the model through litellm,
so the local model, a hosted model and the scripted test model take the same path. Tools
run with exactly the user's rights; a write becomes a draft, a preview that changes nothing until
the user confirms it in their channel, and then the core's policy judges it. The model can neither
confirm nor approve anything: there is no such tool, and both need a Person.
"""

import contextlib
import json
import operator
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from assistant.conditions import (
    CONDITION_NOT_MET,
    GUARD_CODES,
    LOOK_FIRST,
    asked_look_ups,
    from_the_fuller,
    guard_calls,
    loaded,
    writes_left,
)
from assistant.corrections import Correction, correction_of
from assistant.faithfulness import answered_no, correction
from assistant.grounding import Grounding, check, recap
from assistant.linking import note_for, with_note
from assistant.llm.gateway import litellm
from assistant.llm.settings import ModelSettings, model_settings
from assistant.prompts import persona_of, persona_prompt, system_prompt
from assistant.provenance import NOT_GIVEN, Held, check_calls, idle_arguments, questions
from assistant.routing import FREE, Part, Route, aimed, drafts_first, next_route, parts_of, routed_call
from assistant.tool_offer import for_roles, offered_tools, warming_order
from core import clock
from core.actor import Actor, Role
from core.db import Database
from core.drafts.models import DraftStatus
from core.drafts.service import get_draft
from core.errors import ErpError, NotFound
from core.masterdata.mentions import Linked, link_mentions, warehouses_written
from tools import Registry, ToolContext, ToolOutcome, default_registry
from tools.chart_links import title_of
from tools.outcome import DraftResult, ToolError, compact_json

if TYPE_CHECKING:
    from tools.search import SearchIndex

Message = dict[str, Any]
HISTORY_WINDOW = 24
IN_PROCESS_PROVIDERS = ("local/", "scripted/")
RETRY_PAUSE_S = 0.5  # before the first retry of a failed model call; doubled for each one after
MIN_TIMEOUT_S = 0.1  # what a last attempt gets when the deadline is all but used up
RECAP_OPENING = "From the records:"
REPEATED_CALL = '{"note":"you already made this call in this turn; its result is above. Answer the user now."}'
# No figure in it: the grounding check would look for the figure in the tool results.
AT_STEP_CAP = "(I reached the step limit for one message, so this answer uses only what I looked up so far.)"


class ConversationNotYours(ErpError):
    code = "out_of_scope"


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {**old, **new}


class AgentState(TypedDict, total=False):
    messages: Annotated[list[Message], operator.add]
    owner: str
    steps: int
    # Each tool call as it ran, by call id: the tool and arguments after code's check (a re-routed or filled call
    # differs from the model's message), so a correction next turn redoes what ran.
    ran: Annotated[dict[str, dict[str, Any]], _merged]


@dataclass(frozen=True)
class Event:
    """What a channel may show while a turn runs: answer tokens, tool calls, tool results.

    A tool result carries its `outcome` (refused, a draft, or plain data); `data` is a call's arguments or a
    result's JSON."""

    kind: Literal["token", "tool_call", "tool_result"]
    text: str = ""
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    outcome: ToolOutcome | None = None


@dataclass
class ToolRun:
    name: str
    arguments: dict[str, Any]
    ok: bool
    ms: float
    error: str | None = None


@dataclass
class Usage:
    model_calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt tokens, those the provider reused from an earlier call
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model_ms: float = 0.0
    models: list[str] = field(default_factory=list)


@dataclass
class TurnResult:
    conversation_id: str
    answer: str  # what the user is shown: the model's words and, under a contradiction, the records' correction
    said: str  # what the assistant answered: the model's words and what code recapped from the records; no correction
    tools: list[ToolRun]
    grounding: Grounding
    usage: Usage
    steps: int
    stopped: Literal["step_limit", "model_error"] | None = None


@dataclass
class _Turn:
    """What one turn collects as it runs; lives in a context variable, never in the checkpoint."""

    actor: Actor
    conversation_id: str
    persona: str
    on_event: Callable[[Event], None] | None
    channel: str
    tools: list[ToolRun] = field(default_factory=list)
    results: list[ToolOutcome] = field(default_factory=list)
    # What this turn's draft tools returned, by draft: one message may ask for two transfers, and both stand (which
    # preview a newer one replaces is the core's rule, not the turn's).
    drafted: dict[str, DraftResult] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    stopped: Literal["step_limit", "model_error"] | None = None
    calls_made: set[str] = field(default_factory=set)
    answer_now: bool = False
    at_cap: bool = False  # the last step the cap allows: words only
    tokens_streamed: int = 0
    linked: Linked | None = None  # what the user's message names, resolved in their scope (assistant.linking)
    links: dict[str, Linked] = field(default_factory=dict)  # each user message's linking, as the check needs it
    held: dict[str, Held] = field(default_factory=dict)  # calls not made (assistant.provenance), by call id
    text: str = ""  # the user's message
    corrects: Correction = field(default_factory=Correction)  # what the message corrects (assistant.corrections)
    finished: "Finished | None" = None  # the answer as code completed it (recap, correction), once the model answered
    schemas: list[Message] | None = None  # the tools offered this turn (`Assistant._offered`)
    parts: list[Part] = field(default_factory=list)  # the request's parts as code routes them (assistant.routing)
    first: tuple[str, ...] = ()  # the drafts a request of changes only is offered first (`drafts_first`)
    route: Route = FREE  # what the next model call may do, by those parts
    idle: dict[str, list[list[str]]] = field(default_factory=dict)  # per tool, arguments nothing could support

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)


@dataclass(frozen=True)
class Finished:
    """A turn's last words as code completes them: what the assistant said and what the user is shown."""

    said: str  # the model's words and what code recapped from the records
    answer: str  # and, under a contradiction, the records' correction: what the conversation keeps
    grounding: Grounding


_turn: ContextVar[_Turn] = ContextVar("turn")


class Assistant:
    """One deployment's assistant: a database, the tools, a model and a conversation store."""

    def __init__(
        self,
        db: Database,
        checkpointer: BaseCheckpointSaver[str],
        *,
        channel: str = "chat",
        registry: Registry | None = None,
        settings: ModelSettings | None = None,
        search: "SearchIndex | None" = None,
    ) -> None:
        self.db = db
        self.channel = channel
        self.registry = registry or default_registry()
        self.settings = settings or model_settings()
        self.search = search
        self.schemas = self.registry.schemas()
        self._schema = {s["function"]["name"]: s for s in self.schemas}
        self.system = system_prompt()
        # "exit": the conversation is saved once, when the turn ends. A turn cut off half-way is not
        # resumed; its drafts are safe either way (each is its own transaction, keyed by tool-call id).
        self.durability: Literal["sync", "async", "exit"] = "exit"
        self.graph: CompiledStateGraph[AgentState, None, AgentState, AgentState] = self._build(checkpointer)

    def _build(
        self, checkpointer: BaseCheckpointSaver[str]
    ) -> CompiledStateGraph[AgentState, None, AgentState, AgentState]:
        graph = StateGraph(AgentState)
        graph.add_node("model", self._model_node)
        graph.add_node("tools", self._tools_node)
        graph.add_node("step_limit", self._step_limit_node)
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", self._after_model, ["tools", "step_limit", END])
        graph.add_edge("tools", "model")
        graph.add_edge("step_limit", END)
        return graph.compile(checkpointer=checkpointer)

    # -- a turn ------------------------------------------------------------------------------

    def turn(
        self,
        actor: Actor,
        text: str,
        *,
        conversation_id: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        channel: str | None = None,
    ) -> TurnResult:
        """Answer one message from `actor`; the conversation resumes from its checkpoint.

        `channel` names where the message came from (drafts and audit record it); default: this assistant's.
        """
        conversation_id = conversation_id or uuid.uuid4().hex
        config: RunnableConfig = {"configurable": {"thread_id": conversation_id}}
        saved = self._require_owner(actor, config)
        earlier = saved.get("messages", [])
        persona = self.db.read(lambda s: persona_of(s, actor, clock.today()))
        turn = _Turn(actor, conversation_id, persona_prompt(persona), on_event, channel or self.channel, text=text)
        turn.linked = self.db.read(lambda s: link_mentions(s, actor, text, clock.today()))
        turn.links[text] = turn.linked
        live = partial(self._live, actor)
        turn.corrects = correction_of(earlier, turn.linked, self.registry, live, saved.get("ran", {}))
        turn.schemas = self._offered(actor, text, turn.linked)
        if self._routes:
            turn.parts = parts_of(self.registry, actor.roles, turn.linked)
            turn.first = drafts_first(self.registry, actor.roles, turn.linked, turn.parts)
        start: AgentState = {"messages": [{"role": "user", "content": text}], "owner": actor.username, "steps": 0}
        token = _turn.set(turn)
        try:
            state = self.graph.invoke(start, config, durability=self.durability)
        finally:
            _turn.reset(token)
        last = str(state["messages"][-1].get("content") or "")  # a stopped turn's: code's words, nothing to check
        finished = turn.finished or Finished(last, last, check("", [o.data for o in turn.results]))
        return TurnResult(
            conversation_id=conversation_id,
            answer=finished.answer,
            said=finished.said,
            tools=turn.tools,
            grounding=finished.grounding,
            usage=turn.usage,
            steps=state.get("steps", 0),
            stopped=turn.stopped,
        )

    @property
    def _routes(self) -> bool:
        """Whether code routes the tool choice (`assistant.routing`): the local model only, unless turned off."""
        return self.settings.is_local and self.settings.routing

    def _offered(self, actor: Actor, text: str, linked: Linked | None) -> list[Message]:
        """The tool schemas this turn's model calls get: those the user's roles may run and a draft the request
        points at that they may not (`tool_offer.for_roles`), or for the local model with `ERP_LOCAL_TOOL_SUBSET`
        those the request can need (`assistant.tool_offer`), a smaller prompt."""
        limit = self.settings.tool_subset
        if limit is None or not self.settings.is_local:
            return [self._schema[name] for name in for_roles(self.registry, actor.roles, linked)]
        names = set(offered_tools(self.registry, actor.roles, text, linked, limit))
        return [s for s in self.schemas if s["function"]["name"] in names]

    def tools_for(self, roles: Iterable[Role]) -> list[Message]:
        """The tool schemas a user with these roles is offered before their words add any (a prompt to warm)."""
        return [self._schema[name] for name in for_roles(self.registry, roles, None)]

    def prompts_to_warm(self, role_sets: Sequence[Iterable[Role]]) -> list[list[Message]]:
        """The tool schemas of each distinct prompt these sets of roles are offered, in warming order (the first
        set's last, `tool_offer.warming_order`)."""
        return [[self._schema[name] for name in names] for names in warming_order(self.registry, role_sets)]

    def history(self, actor: Actor, conversation_id: str) -> list[Message]:
        """The conversation's user and assistant messages (not tool traffic), for showing on resume."""
        config: RunnableConfig = {"configurable": {"thread_id": conversation_id}}
        self._require_owner(actor, config)
        messages = self.graph.get_state(config).values.get("messages", [])
        return [m for m in messages if m["role"] == "user" or (m["role"] == "assistant" and m.get("content"))]

    def excerpt(self, conversation_id: str | None, tool_call_id: str | None) -> list[Message]:
        """The user's message that led to a tool call and the answer that followed, for an approver.

        No owner check: call it only for a draft the core has already let the caller see.
        """
        if not conversation_id or not tool_call_id:
            return []
        config: RunnableConfig = {"configurable": {"thread_id": conversation_id}}
        messages: list[Message] = self.graph.get_state(config).values.get("messages", [])
        calls = [i for i, m in enumerate(messages) if any(c["id"] == tool_call_id for c in m.get("tool_calls", []))]
        if not calls:
            return []
        asked = [m for m in messages[: calls[0]] if m["role"] == "user"][-1:]
        answered = [m for m in messages[calls[0] :] if m["role"] == "assistant" and not m.get("tool_calls")][:1]
        return [{"role": m["role"], "content": str(m.get("content") or "")} for m in asked + answered]

    def _require_owner(self, actor: Actor, config: RunnableConfig) -> dict[str, Any]:
        """The conversation's saved state, when it is the actor's (or new)."""
        values: dict[str, Any] = self.graph.get_state(config).values
        owner = values.get("owner")
        if owner is not None and owner != actor.username:
            raise ConversationNotYours("this conversation belongs to another user; start a new one")
        return values

    def _live(self, actor: Actor, draft_number: str) -> bool:
        """Whether a draft is still a preview its requester may confirm."""
        try:
            status = self.db.read(lambda s: get_draft(s, actor, draft_number=draft_number).status)
        except ErpError:
            return False
        return bool(status == DraftStatus.UNCONFIRMED)

    def _finish(self, turn: _Turn, words: str) -> str:
        """The turn's answer as the user sees it and the conversation keeps it: the model's (or code's) words, what
        code recapped from the records the words left out, and the records' correction under a contradiction."""
        shown = [outcome.data for outcome in turn.results]
        blank = bool(turn.results) and (non_answer(words) or repeats_a_note(words, turn.results))
        if blank:  # "I'm sorry, I don't know what you're asking" after tools answered: code says what they found
            words = refusals(turn.results)
        words = answered_no(words, shown, turn.text)  # "Yes, SO-2289 is on hold" to "it's confirmed, isn't it?"
        grounding = check(words, shown, turn.text)
        # What the look-ups found and the words left out, in the records' words: after several steps the answer
        # tends to speak of the last one only, and after one it quotes a figure and drops the rest the user asked
        # for ("has SO-2260 shipped?" without its shipment; the policy passage without "manager").
        read = [(o, r) for o, r in zip(turn.results, turn.tools, strict=True) if o.ok and o.draft is None]
        recapping = [o for o, r in read if self.registry.tools[r.name].recap]
        looked_up = recap([o.data for o, _ in read], words, request=turn.text)
        with_records = recap([o.data for o in recapping], words, with_records=True)
        looked_up += [f for f in with_records if f not in looked_up]
        looked_up += [f for f in unknown_named(turn.results, turn.text, words) if f not in looked_up]
        corrected = correction(grounding.contradictions) if grounding.contradictions else ""
        looked_up = [f for f in looked_up if f not in corrected]  # the correction under the answer says it
        said = words
        if looked_up:  # what the turn found and the model left out, as the records say it
            added = f"{RECAP_OPENING} {' '.join(looked_up)}"
            turn.emit(Event("token", text=f"\n\n{added}"))
            said = f"{words}\n\n{added}" if words else added
        links = chart_line([o.data for o in turn.results if o.ok], said)
        if links:  # the dashboard charts that draw what the tools reported, linked by code
            turn.emit(Event("token", text=f"\n\n{links}"))
            said = f"{said}\n\n{links}" if said else links
        answer = said
        if corrected:  # what the records say, in code's words, under an answer that contradicts them
            answer = f"{said}\n\n{corrected}"
        turn.finished = Finished(said, answer, grounding)
        return answer

    # -- nodes -------------------------------------------------------------------------------

    def _model_node(self, state: AgentState) -> AgentState:
        turn = _turn.get()
        message = self._answer(state, turn)
        if not message.get("tool_calls") and turn.stopped is None:  # the conversation keeps what the user is shown
            message = {**message, "content": self._finish(turn, str(message.get("content") or ""))}
        return {"messages": [message], "steps": state.get("steps", 0) + 1}

    def _answer(self, state: AgentState, turn: _Turn) -> Message:
        """The next assistant message: code's redo of a simple correction, code's question, or the model's reply."""
        redo = turn.corrects
        if state.get("steps", 0) == 0 and redo.tool is not None and redo.arguments is not None:
            return {"role": "assistant", "content": "", "tool_calls": [_call(redo.tool, json.dumps(redo.arguments))]}
        looks = asked_look_ups(state["messages"]) if state.get("steps", 0) else []
        if looks:  # code sent the calls back to look something up first, and named the look-ups: code makes them
            return {"role": "assistant", "content": "", "tool_calls": [_call(n, json.dumps(a)) for n, a in looks]}
        asked = questions(turn.held)
        if asked is not None:  # a value the user never gave: code asks for it, the model does not guess
            text = f"{asked} {changes_made(list(turn.drafted.values()))}" if turn.drafted else asked
            return {"role": "assistant", "content": text}
        previews = _round_of_previews(state["messages"], turn.drafted) if self.settings.previews_end_turn else []
        if previews:  # the request's writes are previewed: code reports them, the model cannot misstate a status
            return {"role": "assistant", "content": preview_answer(previews)}
        messages = [
            {"role": "system", "content": self.system},
            {"role": "system", "content": turn.persona},
            *with_note(self._read_by_model(_window(state["messages"])), note_for(turn.linked)),
        ]
        started = time.perf_counter()
        steps = state.get("steps", 0)
        turn.at_cap = steps > 0 and steps + 1 >= self.settings.max_steps  # after tool rounds, the last step answers
        turn.route = next_route(turn.parts, state["messages"], turn.first) if self._routes else FREE
        if self.settings.is_local:  # its output grammar leaves them out (`provenance.idle_arguments`)
            turn.idle = idle_arguments(self.db, self.registry, turn.actor, state["messages"], turn.links)
        made = None if turn.at_cap else routed_call(turn.route, self.registry, turn.idle, state["messages"])
        if made is not None:  # the route and the user's own records fix the look-up: code makes it, not the model
            return {"role": "assistant", "content": "", "tool_calls": [_call(made[0], json.dumps(made[1]))]}
        try:
            message = self._complete(messages, turn)
            if turn.at_cap and not message.get("tool_calls"):
                message = self._capped(message, turn)
        except Exception as error:  # any model failure ends the turn with a plain explanation
            turn.stopped = "model_error"
            text = f"{model_error_text(error, self.settings)} {changes_made(list(turn.drafted.values()))}"
            message = {"role": "assistant", "content": text}
        turn.usage.model_ms += (time.perf_counter() - started) * 1000
        return message

    def _read_by_model(self, messages: list[Message]) -> list[Message]:
        """The messages as the model reads them: the local model reads each tool result briefed (`results_as_read`)."""
        briefing = self.settings.is_local and self.settings.brief_results
        return results_as_read(self.registry, messages) if briefing else messages

    def _complete(self, messages: list[Message], turn: _Turn) -> Message:
        """One model reply within `timeout_s`, retries included: a provider that fails fast (HTTP 5xx, 429, a
        dropped connection) is asked again while time is left; one that hangs uses the time up, and the user
        hears so when it runs out, not after litellm's and the provider SDK's retries multiplied."""
        deadline = time.monotonic() + self.settings.timeout_s
        retries = 0 if self.settings.is_local else self.settings.retries  # in-process: failing again is certain
        for attempt in range(retries + 1):
            streamed = turn.tokens_streamed
            try:
                return self._ask_model(messages, turn, timeout_s=max(deadline - time.monotonic(), MIN_TIMEOUT_S))
            except Exception as error:
                retry_in = RETRY_PAUSE_S * 2**attempt
                exhausted = attempt == retries or time.monotonic() + retry_in >= deadline
                if exhausted or turn.tokens_streamed > streamed or not _worth_retrying(error):
                    raise  # after tokens were shown, asking again would show them twice
                time.sleep(retry_in)
        raise AssertionError("the loop returns or raises")

    def _ask_model(self, messages: list[Message], turn: _Turn, *, timeout_s: float) -> Message:
        llm = litellm()
        stream = turn.on_event is not None
        response = llm.completion(
            model=self.settings.model,
            messages=messages,
            tools=turn.schemas if turn.schemas is not None else self.schemas,
            tool_choice=_tool_choice(turn),
            **_allowed_tools(turn),
            timeout=timeout_s,
            num_retries=0,  # retries are _complete's, within one deadline (0 also stops the provider SDK's)
            fallbacks=[self.settings.fallback] if self.settings.fallback else None,
            max_tokens=self.settings.max_tokens,
            stream=stream,
        )
        if stream:
            chunks = []
            for chunk in response:
                chunks.append(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    turn.tokens_streamed += 1
                    turn.emit(Event("token", text=delta))
            response = llm.stream_chunk_builder(chunks, messages=messages)
        _account(turn.usage, response, llm)
        return _assistant_message(response.choices[0].message)

    def _capped(self, message: Message, turn: _Turn) -> Message:
        """The answer the step cap forced, saying so: the request may need more than was looked up."""
        turn.emit(Event("token", text=f" {AT_STEP_CAP}"))
        return {**message, "content": f"{message.get('content') or ''} {AT_STEP_CAP}".strip()}

    def _after_model(self, state: AgentState) -> str:
        if not state["messages"][-1].get("tool_calls"):
            return END
        return "step_limit" if state.get("steps", 0) >= self.settings.max_steps else "tools"

    def _tools_node(self, state: AgentState) -> AgentState:
        turn = _turn.get()
        messages = aimed(state["messages"], turn.route, self.registry)  # a routed call about its part's records
        checked = check_calls(self.db, self.registry, turn.actor, messages, turn.links)
        turn.held |= checked.held
        calls = from_the_fuller(checked.calls, state["messages"], turn.linked, self._warehouse_code)  # "from that one"
        turn.held |= self._held_by_conditions(state["messages"], [c for c in calls if c["id"] not in turn.held], turn)
        for call in calls:
            turn.emit(Event("tool_call", name=call["function"]["name"], data=_arguments(call)))
        return {"messages": self._run_round(turn, calls), "ran": {c["id"]: c["function"] for c in calls}}

    def _run_round(self, turn: _Turn, calls: list[Message]) -> list[Message]:
        """One round's results, in call order. Look-ups run side by side; drafts run one after another in the order
        the model asked for them, so their numbers follow the user's words ("10 to Atlanta and 5 to Dallas")."""
        results: dict[str, Message] = {}
        reads = [c for c in calls if not self._writes(c)]
        if len(reads) > 1:
            with ThreadPoolExecutor(max_workers=min(4, len(reads))) as pool:
                futures = [(c["id"], pool.submit(copy_context().run, self._run_tool, turn, c)) for c in reads]
                results.update((call_id, f.result()) for call_id, f in futures)
        for call in calls:
            if call["id"] not in results:
                results[call["id"]] = self._run_tool(turn, call)
        return [results[c["id"]] for c in calls]

    def _writes(self, call: Message) -> bool:
        tool = self.registry.tools.get(call["function"]["name"])
        return tool is not None and tool.writes

    def _held_by_conditions(self, messages: list[Message], calls: list[Message], turn: _Turn) -> dict[str, Held]:
        """Drafts the request's stock condition or its routes hold (assistant.conditions): the model is told what
        to do first, or, when the turn's results show the condition false, the user is answered in code's words."""
        verdicts = guard_calls(calls, messages, turn.linked, self._warehouse_code)
        return {
            call_id: Held(
                ToolOutcome.refused(ToolError(code=v.code, message=v.message)),
                question=v.message if v.code == CONDITION_NOT_MET else None,
            )
            for call_id, v in verdicts.items()
        }

    def _warehouse_code(self, written: str) -> str | None:
        """The one warehouse a call's value names ("Reno", "rno" -> RNO), or None."""
        codes = self.db.read(lambda s: warehouses_written(s, written)) if written.strip() else set()
        return next(iter(codes)) if len(codes) == 1 else None

    def _run_tool(self, turn: _Turn, call: Message) -> Message:
        name = call["function"]["name"]
        key = f"{name}:{json.dumps(_arguments(call), sort_keys=True)}"
        if key in turn.calls_made:  # a model repeating itself gets its answer turn, not the same rows again
            turn.answer_now = True
            return {"role": "tool", "tool_call_id": call["id"], "name": name, "content": REPEATED_CALL}
        held = turn.held.get(call["id"])
        if held is None or held.outcome.error is None or held.outcome.error.code not in GUARD_CODES:
            turn.calls_made.add(key)  # a call sent back to look first may be made again once the look-up is done
        ctx = ToolContext(
            actor=turn.actor,
            channel=turn.channel,
            conversation_id=turn.conversation_id,
            tool_call_id=call["id"],
            search=self.search,
            restates=turn.corrects.restates,
        )
        started = time.perf_counter()
        outcome = held.outcome if held else self.registry.call(self.db, ctx, name, call["function"]["arguments"])
        code = outcome.error.code if outcome.error is not None else None
        run = ToolRun(name, _arguments(call), outcome.ok, (time.perf_counter() - started) * 1000, code)
        turn.tools.append(run)
        turn.results.append(outcome)
        if outcome.draft is not None and self.registry.tools[name].writes:
            turn.drafted[outcome.draft.draft] = outcome.draft
        turn.emit(Event("tool_result", name=name, data=outcome.data, outcome=outcome))
        return {"role": "tool", "tool_call_id": call["id"], "name": name, "content": outcome.as_json()}

    def _step_limit_node(self, state: AgentState) -> AgentState:
        turn = _turn.get()
        turn.stopped = "step_limit"
        pending = state["messages"][-1]["tool_calls"]
        skipped: list[Message] = [
            {
                "role": "tool",
                "tool_call_id": c["id"],
                "name": c["function"]["name"],
                "content": '{"error":"step_limit","message":"not run: the step limit was reached"}',
            }
            for c in pending
        ]
        ran = ", ".join(dict.fromkeys(t.name for t in turn.tools)) or "no tools"
        text = (
            f"I stopped after {state.get('steps', 0)} steps without finishing (I ran {ran}). "
            f"Please ask a narrower question, or name the record you mean. {changes_made(list(turn.drafted.values()))}"
        )
        return {"messages": [*skipped, {"role": "assistant", "content": text}]}


def _tool_choice(turn: _Turn) -> str:
    """Whether the model may call a tool: not once the turn must answer; must, when code routed one look-up."""
    if turn.answer_now or turn.at_cap or turn.route.answer_only:
        return "none"
    return "required" if turn.route.required else "auto"


def _allowed_tools(turn: _Turn) -> dict[str, Any]:
    """The routed part's tools, for the local model only (litellm hands unknown arguments to its provider): the
    prompt keeps every tool, so its cached prefix holds, and the output's grammar allows only these, without the
    arguments nothing in the conversation supports."""
    idle = {"idle_arguments": turn.idle} if turn.idle else {}
    if turn.route.tools is None:
        return idle
    part = {"routed_part": turn.route.part} if turn.route.part else {}
    return idle | {"allowed_tools": list(turn.route.tools)} | part


def results_as_read(registry: Registry, messages: list[Message]) -> list[Message]:
    """The messages with each tool result briefed for the request it answered (tools/brief.py): without the rows its
    facts state and the explanations, unless that request asked how or why. The conversation, and the code that
    checks results, keep them whole."""
    out, request = [], ""
    for message in messages:
        if message["role"] == "user":
            request = str(message.get("content") or "")
        elif message["role"] == "tool":
            message = {**message, "content": _briefed(registry, message, request)}
        out.append(message)
    return out


def _briefed(registry: Registry, message: Message, request: str) -> str:
    content = str(message.get("content") or "")
    try:
        data = json.loads(content)
    except ValueError:
        return content
    brief = registry.brief(str(message.get("name") or ""), data, request)
    return content if brief is data else compact_json(brief)


def _window(messages: list[Message]) -> list[Message]:
    """The newest messages that fit the window, starting at a user message so no tool reply is orphaned."""
    if len(messages) <= HISTORY_WINDOW:
        return messages
    tail = messages[-HISTORY_WINDOW:]
    starts = [i for i, m in enumerate(tail) if m["role"] == "user"]
    return tail[starts[0] :] if starts else messages[-1:]


def _call(name: str, arguments: str) -> Message:
    """A tool call as the conversation keeps it, with an id of ours, unique per conversation: idempotency keys on it."""
    return {
        "id": f"call_{uuid.uuid4().hex[:16]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _assistant_message(message: Any) -> Message:
    calls = [_call(c.function.name, c.function.arguments or "{}") for c in (message.tool_calls or [])]
    out: Message = {"role": "assistant", "content": message.content or ""}
    if calls:
        out["tool_calls"] = calls
    return out


def _arguments(call: Message) -> dict[str, Any]:
    try:
        parsed = json.loads(call["function"]["arguments"] or "{}")
    except json.JSONDecodeError:
        return {"_raw": call["function"]["arguments"]}
    return parsed if isinstance(parsed, dict) else {"_raw": parsed}


def _account(usage: Usage, response: Any, llm: Any) -> None:
    usage.model_calls += 1
    reported = getattr(response, "usage", None)
    if reported is not None:
        usage.prompt_tokens += reported.prompt_tokens or 0
        usage.cached_tokens += _cached(reported)
        usage.completion_tokens += reported.completion_tokens or 0
    in_process = str(response.model or "").startswith(IN_PROCESS_PROVIDERS)  # free, and litellm has no price
    with contextlib.suppress(Exception):  # an unknown hosted model has no price either
        usage.cost_usd += 0.0 if in_process else float(llm.completion_cost(completion_response=response) or 0.0)
    if response.model and response.model not in usage.models:
        usage.models.append(response.model)


def _cached(reported: Any) -> int:
    """The prompt tokens a provider says it reused (OpenAI's `prompt_tokens_details.cached_tokens`); 0 if untold."""
    details = getattr(reported, "prompt_tokens_details", None)
    return int(getattr(details, "cached_tokens", 0) or 0)


def model_error_text(error: Exception, settings: ModelSettings) -> str:
    """A model failure in words a user can act on."""
    error = _unwrapped(error)
    if settings.is_local:
        from assistant.llm.local import unavailable_from

        error = unavailable_from(error) or error
    if isinstance(error, ErpError):
        return f"I can't answer right now: {error.message}"
    name = type(error).__name__
    if _is_timeout(error):
        waited = f"{settings.timeout_s:g} s"
        return f"The model {settings.model} did not answer within {waited} ({name}); try again in a moment."
    if settings.is_local:
        return f"The local model failed ({name}: {_first_line(error)}). Check `erp-assistant model status`."
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and (status == 429 or status >= 500) and "Connection" not in name:
        return f"The model {settings.model} answered with an error ({name}, HTTP {status}); try again in a moment."
    return (
        f"The model {settings.model} is not reachable ({name}). Check its API key and network, "
        "or unset ERP_ASSISTANT_MODEL to use the local model."
    )


def _first_line(error: Exception) -> str:
    """What the error says, without the traceback and the `litellm.XError: ` prefixes a wrapped error carries."""
    lines = str(error).strip().splitlines()
    said = lines[0] if lines else ""
    return re.sub(r"^(?:litellm\.\w+: ?)+", "", said) or type(error).__name__


def _unwrapped(error: Exception) -> Exception:
    """The provider's own error when litellm wrapped it (a failure inside a stream arrives wrapped)."""
    original = getattr(error, "original_exception", None)
    return original if isinstance(original, Exception) else error


def _worth_retrying(error: Exception) -> bool:
    """A provider's passing trouble (overloaded, rate-limited, a dropped connection), not a timeout (the time
    is gone), a refusal of the request itself (4xx) or a missing local model."""
    error = _unwrapped(error)
    if _is_timeout(error) or isinstance(error, ErpError):
        return False
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    return "Connection" in type(error).__name__


def _is_timeout(error: BaseException) -> bool:
    """A timeout, also one litellm wrapped (the local model's arrives as an APIConnectionError around it)."""
    return any(
        isinstance(e, TimeoutError) or any("Timeout" in c.__name__ for c in type(e).__mro__) for e in _causes(error)
    )


def _causes(error: BaseException, depth: int = 10) -> list[BaseException]:
    """The error, what litellm wrapped in it, and what raised it, a few links deep."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < depth and seen not in chain:
        chain.append(seen)
        original = getattr(seen, "original_exception", None)
        seen = original if isinstance(original, BaseException) else seen.__cause__ or seen.__context__
    return chain


def changes_made(drafted: list[DraftResult]) -> str:
    """What this turn's draft tools left, in code's words, so the user knows what stands whatever the model said.

    A draft tool only previews: a preview is reported as waiting for the user's confirmation, never as done.
    """
    previews = [preview_line(d.draft) for d in drafted if d.status == DraftStatus.UNCONFIRMED]
    submitted = [_draft_state(d) for d in drafted if d.status != DraftStatus.UNCONFIRMED]
    if not submitted:
        return " ".join(["Nothing was changed.", *previews])
    made = "; ".join(submitted)
    return " ".join(
        [f"Before that, this turn made {made}; it is saved, so there is no need to ask for it again.", *previews]
    )


# A reply that answers nothing: an apology, a plea for details, the out-of-scope line. After tools answered the
# request, the 1.5B model still writes these (it was shown one for "tell me a joke"); code replaces them.
NON_ANSWER = re.compile(
    r"^\W*(?:(?:i'?m |i am )?sorry|i apologi[sz]e|unfortunately)?[, ]*(?:but )?(?:"
    r"i (?:can'?t|cannot|am unable to|'m unable to) (?:help|assist|answer|do that)|i can only help"
    r"|i (?:don'?t|do not) (?:know what|understand|have (?:the |that |this |any |enough )?information))"
    r"|can you (?:please )?(?:provide|clarify|give me) more|please (?:provide more|clarify|ask for the right)"
    r"|i already made this call|answer the user now",  # code's note to the model, repeated as its answer
    re.IGNORECASE,
)


def non_answer(words: str) -> bool:
    """Whether the model's words answer nothing (an apology, a request for details, "I can only help with ...")."""
    return NON_ANSWER.search(words.strip()) is not None


# Refusals that speak to the model ("not run: sku=V-200 was not named by the user ... Answer what the user asked with
# the right tool"), not to the user: an answer that repeats one says nothing the user can act on.
NOTES_TO_THE_MODEL = frozenset({NOT_GIVEN, LOOK_FIRST})
NOTE_CHARS = 40  # how much of such a note an answer repeats to be taken as repeating it


def refusals(results: list[ToolOutcome]) -> str:
    """What the turn's refused calls said, in the core's words (what a user can act on); empty when none was. Code's
    notes to the model are left out."""
    said = (o.error.message for o in results if o.error is not None and o.error.code not in NOTES_TO_THE_MODEL)
    return " ".join(dict.fromkeys(said))


def repeats_a_note(words: str, results: list[ToolOutcome]) -> bool:
    """Whether the model's words repeat a note meant for it (7 of 627 answers of the evaluation began "not run:
    sku=V-200 was not named by the user ..."): the user is told what the core said instead."""
    notes = [o.error.message for o in results if o.error is not None and o.error.code in NOTES_TO_THE_MODEL]
    return any(note[:NOTE_CHARS] in words for note in notes)


def unknown_named(results: list[ToolOutcome], request: str, words: str) -> list[str]:
    """The core's "unknown ..." refusals of a record the user named ("Where is SO-99999?") that the answer does not
    name: the user hears that the record does not exist, whatever the model said instead ("I can't find that
    order. Is there a typo?"). A value the model made up is not the user's, and is not repeated to them."""
    out = []
    for outcome in results:
        if outcome.error is None or outcome.error.code != NotFound.code:
            continue
        named = re.findall(r"'([^']+)'", outcome.error.message)
        if named and all(_written(n, request) for n in named) and not any(_written(n, words) for n in named):
            said = outcome.error.message.rstrip()
            out.append(f"{said[:1].upper()}{said[1:]}" + ("" if said.endswith((".", "?", "!")) else "."))
    return list(dict.fromkeys(out))


def _written(value: str, text: str) -> bool:
    """Whether `text` writes `value`: as it is, in any case ("acmee" for ACMEE), or, a number, with other separators
    ("so 99999" for SO-99999); not words the model joined into a code ("NITRILE_DISPOSABLE_GLOVES")."""
    if re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text, re.IGNORECASE):
        return True
    plain = re.sub(r"[^0-9A-Z]", "", value.upper())
    return any(c.isdigit() for c in value) and plain in re.sub(r"[^0-9A-Z]", "", text.upper())


CONFIRM_HINT = (
    "Nothing changes until you confirm: the Confirm button on the draft card (or yes in the terminal); "
    "then the policy decides."
)


def preview_answer(previews: list[DraftResult]) -> str:
    """The answer to a turn that ends in previews, in code's words: what each would do and what the policy would
    decide once confirmed (a small model says "pending approval" or "done" of a preview)."""
    said = [f"{d.draft} is a preview: {d.summary.rstrip('.')}. {d.decision}" for d in previews]
    return " ".join([*said, CONFIRM_HINT])


def _round_of_previews(messages: list[Message], drafted: dict[str, DraftResult]) -> list[DraftResult]:
    """The turn's previews, when its last round of tools made only previews and the request asks for no other
    write (`conditions.writes_left`); else [] (the model answers: a refusal, a look-up, a write still to make)."""
    results: list[Message] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        results.append(message)
    outcomes = [ToolOutcome.from_json(loaded(m.get("content"))) for m in results]
    if not outcomes or any(o.draft is None or o.draft.status != DraftStatus.UNCONFIRMED for o in outcomes):
        return []
    if writes_left(messages):
        return []
    return [d for d in drafted.values() if d.status == DraftStatus.UNCONFIRMED]


def preview_line(draft_number: str) -> str:
    """How code reports a draft its requester has not confirmed: a preview, not a change."""
    return f"{draft_number}: a preview; nothing changes until you confirm it."


def _draft_state(draft: DraftResult) -> str:
    state = f"draft {draft.draft} ({draft.status.replace('_', ' ')}"
    if draft.waiting_for:
        state += f", waiting for {', '.join(draft.waiting_for)}"
    if draft.result:
        state += f", result {draft.result}"
    return state + ")"


def chart_line(results: list[Any], words: str) -> str:
    """ "Charts: [Fill rate](/dashboard#fill-rate), ..." for the charts the turn's results name and the words do not
    link yet; empty when there are none."""
    urls = [u for r in results if isinstance(r, dict) for u in r.get("charts") or [] if isinstance(u, str)]
    fresh = [u for u in dict.fromkeys(urls) if u not in words]
    return "Charts: " + ", ".join(f"[{title_of(u)}]({u})" for u in fresh) if fresh else ""

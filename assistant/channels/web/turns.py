"""Running a chat turn for the web: queue for the model, run the turn in a thread, stream its events.

The assistant is synchronous (LangGraph, litellm, llama.cpp); a turn runs in a worker thread
and its events cross to the event loop through an asyncio queue, becoming Server-Sent Events.
The in-process local model serves one turn at a time, so turns wait at a `ModelGate` in
arrival order and are told how many are ahead of them; the rest of the service (inbox,
approvals, reads) never waits there.
"""

import asyncio
import itertools
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from assistant.agent import Assistant, Event, TurnResult
from assistant.channels.web import views
from core.actor import Actor
from core.conversations import end_turn
from core.conversations.service import STALE_TURN_SECONDS
from core.db import is_unavailable
from core.errors import ErpError

log = logging.getLogger("erp.http.turns")
DONE = None
# Freeing a conversation after its turn is retried while the database is down (with these pauses, the
# last repeated), so the thread takes messages again as soon as it is back; a claim never freed would
# refuse the thread's messages (turn_in_progress) until it goes stale.
FREE_RETRY_PAUSES_S = (0.25, 0.5, 1.0)
FREE_RETRY_LIMIT_S = float(STALE_TURN_SECONDS)


def sse(name: str, data: Any) -> str:
    """One Server-Sent Event frame."""
    return f"event: {name}\ndata: {json.dumps(data, default=str, separators=(',', ':'), ensure_ascii=False)}\n\n"


class ModelGate:
    """Turns take a slot here before they talk to the model, first come first served."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.running = 0
        self.waiting: deque[object] = deque()
        self._changed = asyncio.Condition()

    def _ahead_of(self, ticket: object) -> int:
        return self.waiting.index(ticket) + max(0, self.running - self.slots + 1)

    def _my_turn(self, ticket: object) -> bool:
        return self.waiting[0] is ticket and self.running < self.slots

    @asynccontextmanager
    async def slot(self, on_wait: Callable[[int], None]) -> AsyncIterator[None]:
        """Wait for a free slot, reporting how many turns are ahead whenever that number changes."""
        ticket = object()
        async with self._changed:
            self.waiting.append(ticket)
            try:
                reported = -1
                while not self._my_turn(ticket):
                    ahead = self._ahead_of(ticket)
                    if ahead != reported:
                        on_wait(ahead)
                        reported = ahead
                    await self._changed.wait()
                self.running += 1
            finally:
                self.waiting.remove(ticket)
                self._changed.notify_all()
        try:
            yield
        finally:
            async with self._changed:
                self.running -= 1
                self._changed.notify_all()

    def load(self) -> dict[str, int]:
        return {"slots": self.slots, "running": self.running, "waiting": len(self.waiting)}


@dataclass
class TurnRequest:
    actor: Actor
    conversation_id: str
    text: str
    turn_id: int
    channel: str = "web"


class TurnRunner:
    """Runs web chat turns: one gate, one thread pool, frames out through a queue per turn."""

    def __init__(self, assistant: Assistant, slots: int) -> None:
        self.assistant = assistant
        self.gate = ModelGate(slots)
        self.pool = ThreadPoolExecutor(max_workers=max(1, slots), thread_name_prefix="turn")
        # Called with the number of each draft a turn made (Slack tells the approvers of waiting ones).
        self.draft_listeners: list[Callable[[str], Awaitable[None]]] = []
        self._freeing: set[asyncio.Task[None]] = set()  # conversations still to free once the database is back

    def stream(self, request: TurnRequest) -> AsyncIterator[str]:
        """Start the turn now and return its frames; it finishes even if the client goes away."""
        frames: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.create_task(self._run(request, frames))
        return self._frames(frames, task)

    async def _frames(self, frames: "asyncio.Queue[str | None]", task: "asyncio.Task[None]") -> AsyncIterator[str]:
        try:
            while (frame := await frames.get()) is not DONE:
                yield frame
        finally:
            if not task.done() and not self._started(task):
                task.cancel()  # nobody listens and the model has not started: give the slot to the next turn

    @staticmethod
    def _started(task: "asyncio.Task[None]") -> bool:
        return getattr(task, "erp_started", False)

    async def complete(
        self,
        request: TurnRequest,
        on_event: Callable[[Event], None] | None = None,
        on_wait: Callable[[int], None] | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> tuple[TurnResult, list[str]]:
        """Run one turn to its end (waiting for the model first) and free the conversation afterwards.

        Returns the result and the numbers of the drafts the turn made; waiting drafts are announced
        to the listeners (Slack tells the approvers), whatever channel the turn came from.
        """
        loop = asyncio.get_running_loop()
        drafted: list[str] = []

        def relay(event: Event) -> None:
            number = event.outcome.draft_number if event.outcome is not None else None
            if number and event.name.startswith("draft_"):
                drafted.append(number)
            if on_event is not None:
                on_event(event)

        try:
            async with self.gate.slot(on_wait or (lambda _: None)):
                if on_start is not None:
                    on_start()
                result = await loop.run_in_executor(self.pool, self._turn, request, relay)
        finally:
            freed = await asyncio.shield(loop.run_in_executor(None, self._end, request))
            if not freed:
                self._free_later(request)
        numbers = list(dict.fromkeys(drafted))
        await self.announce(numbers)
        return result, numbers

    async def announce(self, numbers: list[str]) -> None:
        """Tell the listeners about these drafts (they check which still wait; a confirmed draft may now)."""
        for listener in self.draft_listeners:
            for number in numbers:
                try:
                    await listener(number)
                except Exception:  # a failed notification never fails the turn
                    log.exception("announcing draft %s failed", number)

    async def _run(self, request: TurnRequest, frames: "asyncio.Queue[str | None]") -> None:
        loop = asyncio.get_running_loop()

        def put(name: str, data: Any) -> None:
            loop.call_soon_threadsafe(frames.put_nowait, sse(name, data))

        task = asyncio.current_task()

        def started() -> None:
            if task is not None:
                task.erp_started = True  # type: ignore[attr-defined]
            put("started", {})

        try:
            result, drafted = await self.complete(
                request, self._relay(request, put), lambda ahead: put("queued", {"position": ahead}), started
            )
            put(*self._closing(request, result, drafted))
        except asyncio.CancelledError:
            raise
        except ErpError as error:
            put("error", {"code": error.code, "message": error.message})
        except Exception as error:
            put("error", self._failure(request, error))
        finally:
            put("done", {})
            loop.call_soon_threadsafe(frames.put_nowait, DONE)

    @staticmethod
    def _failure(request: TurnRequest, error: Exception) -> dict[str, str]:
        """The `error` event for a turn that failed: an outage in words, anything else logged as a bug."""
        if is_unavailable(error):
            log.warning("chat turn in %s: database unavailable (%r)", request.conversation_id, error)
            message = "the database stopped answering during this turn; please ask again in a few seconds"
            return {"code": "database_unavailable", "message": message}
        log.exception("chat turn failed in conversation %s", request.conversation_id, exc_info=error)
        return {"code": "internal_error", "message": "the turn failed on our side; please ask again"}

    def _turn(self, request: TurnRequest, on_event: Callable[[Event], None]) -> TurnResult:
        return self.assistant.turn(
            request.actor,
            request.text,
            conversation_id=request.conversation_id,
            on_event=on_event,
            channel=request.channel,
        )

    def _end(self, request: TurnRequest, *, quiet: bool = False) -> bool:
        """Free the conversation for its next message; False when the database could not be reached."""
        try:
            self.assistant.db.run(
                lambda s: end_turn(s, request.actor, conversation_id=request.conversation_id, turn_id=request.turn_id)
            )
        except Exception as error:  # never hide the answer behind this
            if not is_unavailable(error):
                log.exception("could not close turn %s", request.turn_id)
                return True  # not an outage: trying again would fail the same way; the claim goes stale
            if not quiet:
                log.warning("could not close turn %s yet (database unavailable); retrying", request.turn_id)
            return False
        return True

    def _free_later(self, request: TurnRequest) -> None:
        task = asyncio.create_task(self._free_when_back(request))
        self._freeing.add(task)
        task.add_done_callback(self._freeing.discard)

    async def _free_when_back(self, request: TurnRequest) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FREE_RETRY_LIMIT_S
        for attempt in itertools.count():
            await asyncio.sleep(FREE_RETRY_PAUSES_S[min(attempt, len(FREE_RETRY_PAUSES_S) - 1)])
            if await loop.run_in_executor(None, partial(self._end, request, quiet=True)):
                return
            if loop.time() > deadline:
                log.error(
                    "gave up closing turn %s; its conversation frees itself when the claim goes stale", request.turn_id
                )
                return

    def _relay(self, request: TurnRequest, put: Callable[[str, Any], None]) -> Callable[[Event], None]:
        """The assistant's events as frames; a draft tool's result also sends the draft's card."""

        def on_event(event: Event) -> None:
            if event.kind == "token":
                put("token", {"text": event.text})
            elif event.kind == "tool_call":
                put("tool_call", {"name": event.name, "arguments": event.data})
            elif event.outcome is not None:
                outcome = event.outcome
                error = {"error": outcome.error.message} if outcome.error is not None else {}
                put("tool_result", {"name": event.name, "ok": outcome.ok, **error})
                number = outcome.draft_number
                if number and event.name.startswith("draft_"):
                    put("draft", self._card(request.actor, number))

        return on_event

    def _card(self, actor: Actor, number: str) -> dict[str, Any]:
        return self.assistant.db.read(lambda s: views.draft_card(s, actor, number).model_dump(mode="json"))

    def _closing(self, request: TurnRequest, result: TurnResult, drafted: list[str]) -> tuple[str, dict[str, Any]]:
        drafts = [self._card(request.actor, number) for number in dict.fromkeys(drafted)]
        if result.stopped == "model_error":  # the message says what stands; the cards show it
            return "error", {"code": "model_unavailable", "message": result.answer, "drafts": drafts}
        return "answer", {
            "text": result.answer,
            "sources": result.grounding.sources,
            "unsupported_numbers": result.grounding.unsupported_numbers,
            "contradictions": [
                {"said": c.said, "records_say": c.records_say, "label": c.label, "record": c.record}
                for c in result.grounding.contradictions
            ],
            "drafts": drafts,
            "usage": {
                "model_calls": result.usage.model_calls,
                "tokens": result.usage.prompt_tokens + result.usage.completion_tokens,
                "cost_usd": round(result.usage.cost_usd, 6),
                "seconds": round(result.usage.model_ms / 1000, 3),
            },
            "stopped": result.stopped,
        }

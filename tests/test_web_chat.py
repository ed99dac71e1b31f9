"""Chat over the web API: conversation threads, answers streamed as Server-Sent Events, and the limits."""

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.channels.web.turns import ModelGate
from assistant.llm.scripted import Call, Reply, Script
from core.actor import Role
from core.db import Database
from tests import web
from tests.web import TRANSFER_OVER_LIMIT
from tests.world import World

Messages = list[dict[str, Any]]


def _atl_answer(messages: Messages) -> Reply:
    result = json.loads(messages[-1]["content"])
    atl = next(w for w in result["warehouses"] if w["warehouse"] == "ATL")
    return Reply(text=f"**{result['sku']}**: {atl['available_now']} available at ATL now.")


STOCK_QUESTION: list[Reply | Callable[[Messages], Reply]] = [
    Reply(calls=(Call("check_availability", {"sku": "V-200", "warehouse": "ATL"}),)),
    _atl_answer,
]


def _conversation(c: TestClient, headers: dict[str, str]) -> str:
    response = c.post("/api/conversations", json={}, headers=headers)
    assert response.status_code == 201
    return str(response.json()["id"])


def _send(c: TestClient, headers: dict[str, str], conversation: str, text: str) -> Any:
    return c.post(f"/api/conversations/{conversation}/messages", json={"text": text}, headers=headers)


def test_an_answer_streams_as_events_with_the_tool_call_and_its_sources(demo: Database, tmp_path: Path) -> None:
    with web.app(demo, tmp_path, Script(STOCK_QUESTION)) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        response = _send(c, headers, conversation, "how many V-200 can we promise in Atlanta?")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = web.events(response.text)
        names = [name for name, _ in events]
        assert names[0] == "started" and names[-2:] == ["answer", "done"]
        assert names.index("tool_call") < names.index("tool_result") < names.index("token")
        call = dict(events)["tool_call"]
        assert call == {"name": "check_availability", "arguments": {"sku": "V-200", "warehouse": "ATL"}}
        answer = dict(events)["answer"]
        recap = "\n\nFrom the records: V-200 on hand at ATL: "  # what the words left out, in the records' words
        assert answer["text"].startswith(f"**V-200**: 12 available at ATL now.{recap}")
        assert "".join(d["text"] for n, d in events if n == "token") == answer["text"]
        assert answer["sources"] == ["V-200"] and answer["unsupported_numbers"] == [] and answer["drafts"] == []
        assert answer["contradictions"] == []
        assert answer["usage"]["model_calls"] == 2


def test_a_draft_needing_approval_arrives_as_a_card_and_stays_with_the_conversation(
    demo: Database, tmp_path: Path
) -> None:
    script = Script(
        [Reply(calls=(Call("draft_transfer", TRANSFER_OVER_LIMIT),)), Reply(text="Drafted; a manager must approve it.")]
    )
    with web.app(demo, tmp_path, script) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        events = web.events(_send(c, headers, conversation, "move 3 P-200 and 5 P-180 from DAL to ATL").text)
        preview = dict(events)["draft"]
        assert (
            preview["status"] == "unconfirmed" and preview["can_confirm"] is True
        )  # nothing changes before sam confirms
        assert dict(events)["answer"]["drafts"][0]["number"] == preview["number"]
        card = c.post(f"/api/drafts/{preview['number']}/confirm", headers=headers).json()  # the card's Confirm
        assert card["status"] == "pending_approval" and card["kind"] == "transfer"
        assert card["waiting_for"] == ["manager of NA"] and card["requester"] == "Sam Carter"
        assert any(r["rule"] == "transfer.value" for r in card["reasons"])
        resumed = c.get(f"/api/conversations/{conversation}").json()
        assert [m["role"] for m in resumed["messages"]] == ["user", "assistant"]
        assert [(d["number"], d["status"]) for d in resumed["drafts"]] == [(card["number"], "pending_approval")]
        assert resumed["conversation"]["title"] == "move 3 P-200 and 5 P-180 from DAL to ATL"


def test_each_user_sees_only_their_own_conversations(demo: Database, tmp_path: Path) -> None:
    with web.app(demo, tmp_path, Script(STOCK_QUESTION)) as c:
        sam = web.sign_in(c, "sam")
        conversation = _conversation(c, sam)
        assert [x["id"] for x in c.get("/api/conversations").json()["conversations"]] == [conversation]
        c.cookies.clear()
        uma = web.sign_in(c, "uma")
        assert c.get("/api/conversations").json()["conversations"] == []
        assert c.get(f"/api/conversations/{conversation}").status_code == 404
        hijack = _send(c, uma, conversation, "what did sam ask?")
        assert hijack.status_code == 404 and hijack.json()["code"] == "not_found"


def test_an_oversized_or_empty_message_is_refused_before_the_model_sees_it(demo: Database, tmp_path: Path) -> None:
    script = Script(STOCK_QUESTION)
    with web.app(demo, tmp_path, script) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        too_long = _send(c, headers, conversation, "x" * 4001)
        assert too_long.status_code == 413 and too_long.json()["code"] == "too_large"
        blank = _send(c, headers, conversation, "   ")
        assert blank.status_code == 422 and blank.json()["code"] == "invalid_input"
        assert script.seen == []


def test_a_second_message_while_the_first_is_answered_is_refused(demo: Database, tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(messages: Messages) -> Reply:
        entered.set()
        release.wait(10)
        return Reply(text="done thinking")

    with web.app(demo, tmp_path, Script([slow, Reply(text="second answer")])) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        first: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: first.update(r=_send(c, headers, conversation, "first")))
        thread.start()
        assert entered.wait(10)
        busy = _send(c, headers, conversation, "second")
        assert busy.status_code == 409 and busy.json()["code"] == "turn_in_progress"
        assert c.get(f"/api/conversations/{conversation}").json()["conversation"]["running"] is True
        release.set()
        thread.join(10)
        assert dict(web.events(first["r"].text))["answer"]["text"] == "done thinking"
        again = _send(c, headers, conversation, "second, now")
        assert dict(web.events(again.text))["answer"]["text"] == "second answer"


def test_too_many_turns_a_minute_are_refused_with_when_to_retry(
    demo: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TURNS_PER_MINUTE", "2")
    with web.app(demo, tmp_path, Script([Reply(text="one"), Reply(text="two"), Reply(text="three")])) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        assert _send(c, headers, conversation, "one").status_code == 200
        assert _send(c, headers, conversation, "two").status_code == 200
        refused = _send(c, headers, conversation, "three")
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.json()["retry_after_s"] >= 1


def test_a_model_failure_is_an_error_event_and_the_thread_stays_usable(demo: Database, tmp_path: Path) -> None:
    def broken(messages: Messages) -> Reply:
        raise ConnectionError("provider unreachable")

    with web.app(demo, tmp_path, Script([broken, Reply(text="back again")])) as c:
        headers = web.sign_in(c, "sam")
        conversation = _conversation(c, headers)
        events = web.events(_send(c, headers, conversation, "hello?").text)
        assert [n for n, _ in events][-2:] == ["error", "done"]
        assert dict(events)["error"]["code"] == "model_unavailable" and "answer" not in dict(events)
        retry = web.events(_send(c, headers, conversation, "hello again").text)
        assert dict(retry)["answer"]["text"] == "back again"


def test_turns_queue_for_a_single_model_slot_and_are_told_their_place(demo: Database, tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(messages: Messages) -> Reply:
        entered.set()
        release.wait(10)
        return Reply(text="first answer")

    with web.app(demo, tmp_path, Script([slow, Reply(text="second answer")]), model_slots=1) as c:
        sam = web.sign_in(c, "sam")
        first_conversation, second_conversation = _conversation(c, sam), _conversation(c, sam)
        bodies: dict[str, str] = {}
        first = threading.Thread(target=lambda: bodies.update(a=_send(c, sam, first_conversation, "one").text))
        first.start()
        assert entered.wait(10)
        second = threading.Thread(target=lambda: bodies.update(b=_send(c, sam, second_conversation, "two").text))
        second.start()
        time.sleep(0.3)  # let the second turn reach the gate
        assert c.get("/readyz").json()["checks"]["model"].endswith("1 running, 1 waiting, 1 slot(s)")
        release.set()
        first.join(10)
        second.join(10)
    queued = web.events(bodies["b"])
    assert queued[0] == ("queued", {"position": 1}) and queued[1][0] == "started"
    assert dict(queued)["answer"]["text"] == "second answer"
    assert "queued" not in dict(web.events(bodies["a"]))


def test_the_gate_reports_positions_in_arrival_order() -> None:
    async def scenario() -> list[tuple[str, int]]:
        gate = ModelGate(slots=1)
        seen: list[tuple[str, int]] = []
        hold = asyncio.Event()

        async def turn(name: str, wait: bool) -> None:
            async with gate.slot(lambda ahead: seen.append((name, ahead))):
                seen.append((name, -1))
                if wait:
                    await hold.wait()

        first = asyncio.create_task(turn("a", True))
        await asyncio.sleep(0)
        others = [asyncio.create_task(turn(n, False)) for n in "bc"]
        await asyncio.sleep(0.01)
        hold.set()
        await asyncio.gather(first, *others)
        return seen

    # b and c wait behind a (1 and 2 ahead); each runs once the one before it leaves the slot
    assert asyncio.run(scenario()) == [("a", -1), ("b", 1), ("c", 2), ("b", -1), ("c", -1)]


def test_the_server_warms_one_prompt_per_set_of_roles_its_users_hold(
    sqlite_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set most users hold is warmed last, so the context holds it when the first question comes."""
    from assistant.agent import Assistant
    from assistant.channels.web import app as web_app
    from assistant.channels.web.services import Services
    from assistant.conversations import open_checkpointer
    from assistant.llm import local
    from assistant.llm.settings import ModelSettings
    from core.masterdata.service import role_sets

    warmed: list[list[str]] = []
    monkeypatch.setattr(local, "warm_up", lambda system, tools: warmed.append([t["function"]["name"] for t in tools]))
    assistant = Assistant(
        sqlite_world.db,
        open_checkpointer("sqlite://", sqlite_path=tmp_path / "c.db"),
        settings=ModelSettings(model="local/x"),
    )
    web_app._warm_up(Services(sqlite_world.db, assistant))
    sets = sqlite_world.read(role_sets)
    assert len(sets) == 7 and len(warmed) == 6 == len({tuple(w) for w in warmed})  # admin's tools are a manager's
    manager = [t["function"]["name"] for t in assistant.tools_for({Role.MANAGER})]
    assert warmed[-1] == manager and len(manager) == len(assistant.schemas)  # four managers: the most users
    assert [t["function"]["name"] for t in assistant.tools_for({Role.SALES})] in warmed

"""The conversation index: each user sees only their own threads, one turn at a time, within a rate."""

from collections import Counter
from datetime import datetime, timedelta

import pytest

from core import clock
from core.conversations import (
    RateLimited,
    TurnInProgress,
    begin_turn,
    count_call,
    end_turn,
    external_key_of,
    find_conversation,
    get_conversation,
    list_conversations,
    open_conversation,
)
from core.errors import InvalidInput, NotFound, OutOfScope
from tests.concurrency import all_at_once
from tests.fake_clock import FakeClock
from tests.world import World


def _open(world: World, username: str, channel: str = "web", **extra: str) -> str:
    actor = world.actor(username)
    return world.run(lambda s: open_conversation(s, actor, channel=channel, **extra).id)


def _begin(
    world: World,
    username: str,
    conversation_id: str,
    text: str = "how many V-200 in DAL?",
    now: datetime | None = None,
    per_minute: int | None = None,
) -> int:
    actor = world.actor(username)
    return world.run(
        lambda s: begin_turn(s, actor, conversation_id=conversation_id, text=text, now=now, per_minute=per_minute)
    )


def _end(world: World, username: str, conversation_id: str, turn_id: int) -> None:
    actor = world.actor(username)
    world.run(lambda s: end_turn(s, actor, conversation_id=conversation_id, turn_id=turn_id))


def test_a_user_lists_only_their_own_conversations_most_recent_first(world: World, fake_clock: FakeClock) -> None:
    older = _open(world, "sam")
    fake_clock.advance(minutes=1)
    newer = _open(world, "sam", channel="cli")
    _open(world, "wes")
    sam = world.actor("sam")
    assert [c.id for c in world.read(lambda s: list_conversations(s, sam))] == [newer, older]
    fake_clock.advance(minutes=1)
    _end(world, "sam", older, _begin(world, "sam", older))
    assert [c.id for c in world.read(lambda s: list_conversations(s, sam))] == [older, newer]
    assert [c.id for c in world.read(lambda s: list_conversations(s, sam, channel="cli"))] == [newer]
    assert len(world.read(lambda s: list_conversations(s, sam, limit=0))) == 1


def test_another_users_conversation_looks_like_one_that_does_not_exist(world: World) -> None:
    conversation = _open(world, "sam")
    turn = _begin(world, "sam", conversation)
    wes = world.actor("wes")
    for command in (
        lambda s: get_conversation(s, wes, conversation_id=conversation),
        lambda s: begin_turn(s, wes, conversation_id=conversation, text="hello"),
        lambda s: end_turn(s, wes, conversation_id=conversation, turn_id=turn),
    ):
        with pytest.raises(NotFound, match=f"unknown conversation '{conversation}'"):
            world.run(command)
    with pytest.raises(NotFound, match="unknown conversation 'nope'"):
        world.read(lambda s: get_conversation(s, wes, conversation_id="nope"))


def test_a_second_message_waits_until_the_first_reply_is_finished(world: World) -> None:
    conversation = _open(world, "sam")
    turn = _begin(world, "sam", conversation)
    assert world.read(lambda s: get_conversation(s, world.actor("sam"), conversation_id=conversation)).running
    with pytest.raises(TurnInProgress, match="still being written"):
        _begin(world, "sam", conversation)
    _end(world, "sam", conversation, turn)
    _end(world, "sam", conversation, turn)  # finishing twice counts once
    view = world.read(lambda s: get_conversation(s, world.actor("sam"), conversation_id=conversation))
    assert (view.running, view.turns) == (False, 1)
    _end(world, "sam", conversation, _begin(world, "sam", conversation))
    assert world.read(lambda s: get_conversation(s, world.actor("sam"), conversation_id=conversation)).turns == 2


def test_a_turn_left_running_by_a_crashed_worker_can_be_taken_over(world: World, fake_clock: FakeClock) -> None:
    conversation = _open(world, "sam")
    stuck = _begin(world, "sam", conversation)
    fake_clock.advance(seconds=599)
    with pytest.raises(TurnInProgress):
        _begin(world, "sam", conversation)
    fake_clock.advance(seconds=2)
    fresh = _begin(world, "sam", conversation)
    _end(world, "sam", conversation, stuck)  # the crashed worker finishing late must not free the new turn
    with pytest.raises(TurnInProgress):
        _begin(world, "sam", conversation)
    _end(world, "sam", conversation, fresh)
    assert not world.read(lambda s: get_conversation(s, world.actor("sam"), conversation_id=conversation)).running


def test_too_many_messages_in_a_minute_are_refused_with_when_to_retry(world: World) -> None:
    conversations = [_open(world, "sam") for _ in range(4)]
    start = clock.now()
    for n, conversation in enumerate(conversations[:3]):
        _begin(world, "sam", conversation, now=start + timedelta(seconds=10 * n), per_minute=3)
    with pytest.raises(RateLimited) as refused:
        _begin(world, "sam", conversations[3], now=start + timedelta(seconds=45), per_minute=3)
    assert refused.value.details == {"retry_after_s": 15} and refused.value.code == "rate_limited"
    assert _begin(world, "wes", _open(world, "wes"), now=start + timedelta(seconds=45), per_minute=3)
    assert _begin(world, "sam", conversations[3], now=start + timedelta(seconds=61), per_minute=3)


def test_tool_calls_from_a_client_count_against_the_same_rate_as_chat_turns(world: World) -> None:
    sam, start = world.actor("sam"), clock.now()
    _begin(world, "sam", _open(world, "sam"), now=start, per_minute=3)

    def call(at: int, client: str = "desk") -> str:
        when = start + timedelta(seconds=at)
        return world.run(lambda s: count_call(s, sam, channel="mcp", client=client, now=when, per_minute=3))

    first, again = call(10), call(20, client="  desk ")
    assert first == again  # one conversation per client, its calls counted as its turns
    with pytest.raises(RateLimited):
        call(30, client="another")
    assert call(61, client="another") != first
    counted = world.read(lambda s: get_conversation(s, sam, conversation_id=first))
    assert counted.turns == 2 and counted.channel == "mcp" and not counted.running


def test_the_first_message_titles_an_untitled_conversation(world: World) -> None:
    untitled, titled = _open(world, "sam"), _open(world, "sam", title="Stock questions")
    long_line = "Why is the big Acme order still on hold after the payment that came in on Monday?"
    _begin(world, "sam", untitled, text=f"\n  {long_line}  \nmore detail")
    _begin(world, "sam", titled, text="anything")
    sam = world.actor("sam")
    titles = {c.id: c.title for c in world.read(lambda s: list_conversations(s, sam))}
    assert titles[titled] == "Stock questions"
    assert titles[untitled].endswith("…") and len(titles[untitled]) == 60
    assert long_line.startswith(titles[untitled][:-1])


def test_a_message_with_a_nul_character_is_refused_and_claims_nothing(world: World) -> None:
    # Slack and the terminal reach begin_turn without the web's schema check; PostgreSQL cannot store a NUL
    conversation = _open(world, "sam")
    with pytest.raises(InvalidInput, match="NUL"):
        _begin(world, "sam", conversation, text="how many V-200\x00 in DAL?")
    turn = _begin(world, "sam", conversation)  # nothing was claimed: the next message goes through
    assert turn > 0


def test_an_outside_thread_maps_to_one_conversation_for_its_owner(world: World) -> None:
    key = "slack:T1:C9:1732100000.000100"
    first = _open(world, "sam", channel="slack", external_key=key)
    assert _open(world, "sam", channel="slack", external_key=key) == first
    found = world.read(lambda s: find_conversation(s, channel="slack", external_key=key))
    assert found is not None and found.id == first
    assert world.read(lambda s: find_conversation(s, channel="web", external_key=key)) is None
    with pytest.raises(OutOfScope, match="belongs to another user"):
        _open(world, "wes", channel="slack", external_key=key)


def test_a_conversation_names_the_outside_thread_it_was_opened_for(world: World) -> None:
    key = "slack:T1:C9:1732100000.000100"
    threaded, plain = _open(world, "sam", channel="slack", external_key=key), _open(world, "sam")
    assert world.read(lambda s: external_key_of(s, conversation_id=threaded)) == key
    assert world.read(lambda s: external_key_of(s, conversation_id=plain)) is None
    assert world.read(lambda s: external_key_of(s, conversation_id="no-such-conversation")) is None


@pytest.mark.postgres
def test_two_workers_starting_a_turn_in_one_conversation_at_once_start_it_once(pg_world: World) -> None:
    conversation = _open(pg_world, "sam")
    sam = pg_world.actor("sam")
    now = clock.now()
    outcomes = all_at_once(
        pg_world,
        [
            lambda s: begin_turn(s, sam, conversation_id=conversation, text="hi", now=now, per_minute=100)
            for _ in range(8)
        ],
    )
    assert outcomes == Counter({"ok": 1, "turn_in_progress": 7})
    assert pg_world.read(lambda s: get_conversation(s, sam, conversation_id=conversation)).running

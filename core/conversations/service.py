"""A user's chat threads: opening and listing them, and one turn at a time in each, within a rate.

Only the index lives here (owner, channel, title, turn bookkeeping); the messages are in
LangGraph's checkpointer under the same id. A conversation is its owner's alone: another
user's looks exactly like one that does not exist.

A turn claims its conversation with one conditional UPDATE, so two processes answering the same
thread cannot both write a reply; a claim older than STALE_TURN_SECONDS (a crashed worker) may be
taken over. The rate limit counts the user's turns in the last minute across all their threads;
two turns started at the same instant in different threads may both pass it (it is a brake on
runaway clients, not an accounting rule).
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor
from core.conversations.models import Conversation, ConversationTurn
from core.errors import ErpError, InvalidInput, NotFound, OutOfScope
from core.settings import get_settings
from core.text import require_storable

STALE_TURN_SECONDS = 600
TITLE_FROM_MESSAGE = 60
MAX_TITLE = 120
MAX_LIST = 200
RATE_WINDOW = timedelta(seconds=60)


class TurnInProgress(ErpError):
    """The conversation is still answering the previous message."""

    code = "turn_in_progress"

    def __init__(self) -> None:
        super().__init__("a reply is still being written in this conversation; wait for it to finish")


class RateLimited(ErpError):
    """The user sent more messages in the last minute than the deployment allows."""

    code = "rate_limited"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many messages in the last minute; try again in {retry_after_s} s", retry_after_s=retry_after_s
        )


@dataclass(frozen=True)
class ConversationView:
    """A conversation as its owner sees it in a list."""

    id: str
    title: str
    channel: str
    created_at: datetime
    updated_at: datetime
    turns: int
    running: bool


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=STALE_TURN_SECONDS)


def _view(conversation: Conversation, now: datetime | None = None) -> ConversationView:
    started = conversation.turn_started_at
    return ConversationView(
        id=conversation.id,
        title=conversation.title,
        channel=conversation.channel,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        turns=conversation.turns,
        running=started is not None and started >= _stale_before(now or clock.now()),
    )


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def title_from(message: str) -> str:
    """A title from a message: its first non-empty line, at most 60 characters."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return _shortened(first, TITLE_FROM_MESSAGE)


def _channel_name(channel: str) -> str:
    name = channel.strip().lower()
    if not 1 <= len(name) <= 16:
        raise InvalidInput("a conversation's channel needs 1 to 16 characters, e.g. 'web'")
    return name


def _by_key(session: Session, external_key: str) -> Conversation | None:
    return session.scalars(select(Conversation).where(Conversation.external_key == external_key)).first()


def open_conversation(
    session: Session, actor: Actor, *, channel: str, title: str = "", external_key: str | None = None
) -> ConversationView:
    """A new conversation, or with `external_key` (e.g. a Slack thread) the actor's existing one for it."""
    name = _channel_name(channel)
    if external_key is not None:
        if not 1 <= len(external_key) <= 160:
            raise InvalidInput("an external conversation key needs 1 to 160 characters")
        existing = _by_key(session, external_key)
        if existing is not None:
            return _existing_for(existing, actor)
    now = clock.now()
    conversation = Conversation(
        id=uuid.uuid4().hex,
        user_id=actor.user_id,
        channel=name,
        title=_shortened(title.strip(), MAX_TITLE),
        external_key=external_key,
        created_at=now,
        updated_at=now,
        turns=0,
    )
    savepoint = session.begin_nested()
    try:
        session.add(conversation)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        # Another process opened the same thread a moment ago: use theirs.
        savepoint.rollback()
        raced = _by_key(session, external_key) if external_key is not None else None
        if raced is None:
            raise
        return _existing_for(raced, actor)
    return _view(conversation, now)


def _existing_for(conversation: Conversation, actor: Actor) -> ConversationView:
    if conversation.user_id != actor.user_id:
        raise OutOfScope("that thread's conversation belongs to another user; start a new one")
    return _view(conversation)


def list_conversations(
    session: Session, actor: Actor, *, channel: str | None = None, limit: int = 50
) -> list[ConversationView]:
    """The actor's own conversations, most recently active first."""
    query = select(Conversation).where(Conversation.user_id == actor.user_id)
    if channel is not None:
        query = query.where(Conversation.channel == _channel_name(channel))
    query = query.order_by(Conversation.updated_at.desc(), Conversation.id).limit(max(1, min(limit, MAX_LIST)))
    now = clock.now()
    return [_view(c, now) for c in session.scalars(query)]


def _owned(session: Session, actor: Actor, conversation_id: str, *, fresh: bool = False) -> Conversation:
    """The actor's conversation; NotFound when it is missing or someone else's (the two look alike)."""
    conversation = session.get(Conversation, conversation_id, populate_existing=fresh)
    if conversation is None or conversation.user_id != actor.user_id:
        raise NotFound("conversation", conversation_id)
    return conversation


def get_conversation(session: Session, actor: Actor, *, conversation_id: str) -> ConversationView:
    """One of the actor's own conversations."""
    return _view(_owned(session, actor, conversation_id))


def find_conversation(session: Session, *, channel: str, external_key: str) -> ConversationView | None:
    """The conversation a channel keeps for an outside thread (e.g. a Slack thread), if there is one."""
    conversation = _by_key(session, external_key)
    if conversation is None or conversation.channel != _channel_name(channel):
        return None
    return _view(conversation)


def external_key_of(session: Session, *, conversation_id: str) -> str | None:
    """The outside thread (e.g. a Slack thread) a conversation was opened for, if any."""
    conversation = session.get(Conversation, conversation_id)
    return conversation.external_key if conversation is not None else None


def _check_rate(session: Session, actor: Actor, now: datetime, per_minute: int) -> None:
    """Refuse with the wait until a turn frees up when the user already has `per_minute` in the last minute."""
    recent = list(
        session.scalars(
            select(ConversationTurn.started_at)
            .where(ConversationTurn.user_id == actor.user_id, ConversationTurn.started_at > now - RATE_WINDOW)
            .order_by(ConversationTurn.started_at.desc())
            .limit(per_minute)
        )
    )
    if len(recent) >= per_minute:
        # Once the oldest of the newest `per_minute` turns leaves the window, there is room again.
        wait = (recent[-1] + RATE_WINDOW - now).total_seconds()
        raise RateLimited(retry_after_s=max(1, math.ceil(wait)))


def _claim(session: Session, actor: Actor, conversation_id: str, now: datetime) -> bool:
    """Mark the conversation as answering, in one statement, unless a live turn holds it."""
    claimed = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.user_id == actor.user_id,
            or_(Conversation.turn_started_at.is_(None), Conversation.turn_started_at < _stale_before(now)),
        )
        .values(turn_started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], claimed).rowcount == 1


def begin_turn(
    session: Session,
    actor: Actor,
    *,
    conversation_id: str,
    text: str,
    now: datetime | None = None,
    per_minute: int | None = None,
) -> int:
    """Start answering a message: check the rate, claim the conversation, and return the turn's id."""
    now = now or clock.now()
    if not text.strip():
        raise InvalidInput("a message needs some text")
    require_storable(text, "the message")
    limit = per_minute if per_minute is not None else get_settings().turns_per_minute
    if limit < 1:
        raise InvalidInput("the rate limit allows at least one turn a minute")
    _check_rate(session, actor, now, limit)
    if not _claim(session, actor, conversation_id, now):
        _owned(session, actor, conversation_id)  # NotFound if it is not theirs
        raise TurnInProgress()
    conversation = _owned(session, actor, conversation_id, fresh=True)
    if not conversation.title:
        conversation.title = title_from(text)
    turn = ConversationTurn(conversation_id=conversation.id, user_id=actor.user_id, started_at=now)
    session.add(turn)
    session.flush()
    return turn.id


def end_turn(
    session: Session, actor: Actor, *, conversation_id: str, turn_id: int, now: datetime | None = None
) -> None:
    """Finish a turn: count it and free the conversation for the next message (once; again does nothing)."""
    now = now or clock.now()
    conversation = _owned(session, actor, conversation_id, fresh=True)
    turn = session.get(ConversationTurn, turn_id)
    if turn is None or turn.conversation_id != conversation.id:
        raise NotFound("conversation turn", str(turn_id))
    if turn.finished_at is not None:
        return
    turn.finished_at = now
    conversation.turns += 1
    conversation.updated_at = now
    # A stale turn finishing late must not free a claim a newer turn has taken over.
    if conversation.turn_started_at == turn.started_at:
        conversation.turn_started_at = None
    session.flush()


def count_call(
    session: Session,
    actor: Actor,
    *,
    channel: str,
    client: str,
    now: datetime | None = None,
    per_minute: int | None = None,
) -> str:
    """A tool call from a client outside the assistant (an MCP client), counted like a chat turn: refused with
    RateLimited when the user already started `per_minute` turns or calls in the last minute, else recorded as a
    finished turn of the conversation this client keeps for the user; that conversation's id (drafts made by
    the call name it)."""
    now = now or clock.now()
    name = client.strip()[:60] or "unknown client"
    require_storable(name, "the client's name")
    limit = per_minute if per_minute is not None else get_settings().turns_per_minute
    _check_rate(session, actor, now, limit)
    key = f"{_channel_name(channel)}:{actor.user_id}:{name}"
    view = open_conversation(session, actor, channel=channel, title=name, external_key=key)
    conversation = _owned(session, actor, view.id)
    session.add(ConversationTurn(conversation_id=view.id, user_id=actor.user_id, started_at=now, finished_at=now))
    conversation.turns += 1
    conversation.updated_at = now
    session.flush()
    return view.id

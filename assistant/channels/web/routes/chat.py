"""Conversation threads and chat turns streamed as Server-Sent Events."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from assistant.channels.web import schemas, views
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep
from assistant.channels.web.errors import HttpError, documented
from assistant.channels.web.turns import TurnRequest
from core.conversations import ConversationView, begin_turn, get_conversation, list_conversations, open_conversation
from core.drafts.inbox import drafts_in_conversation

router = APIRouter(prefix="/api/conversations", tags=["chat"])
ERRORS = documented(401, 403, 404, 409, 413, 422, 429)
EVENTS = ("queued", "started", "token", "tool_call", "tool_result", "draft", "answer", "error", "done")
# Before OpenAPI 3.2 (`itemSchema`), the schema of an event stream describes each event.
SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": list(EVENTS)},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the turn as Server-Sent Events: "
        + ", ".join(EVENTS)
        + " (each `data:` is JSON; see the README)",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    }
}


def _view(c: ConversationView) -> schemas.Conversation:
    return schemas.Conversation.model_validate(c, from_attributes=True)


@router.post("", response_model=schemas.Conversation, status_code=201, responses=ERRORS)
def create(body: schemas.ConversationRequest, user: CurrentUser, svc: ServicesDep) -> schemas.Conversation:
    """Start a conversation thread (only you can see it)."""
    return _view(svc.db.run(lambda s: open_conversation(s, user.actor, channel=WEB_CHANNEL, title=body.title)))


@router.get("", response_model=schemas.ConversationList, responses=ERRORS)
def index(user: CurrentUser, svc: ServicesDep) -> schemas.ConversationList:
    """Your conversations, the most recent first."""
    found = svc.db.read(lambda s: list_conversations(s, user.actor))
    return schemas.ConversationList(conversations=[_view(c) for c in found])


@router.get("/{conversation_id}", response_model=schemas.ConversationDetail, responses=ERRORS)
def show(conversation_id: str, user: CurrentUser, svc: ServicesDep) -> schemas.ConversationDetail:
    """A conversation's messages and the drafts it produced, to resume it after a reload."""

    def query(s: Session) -> tuple[ConversationView, list[schemas.DraftCard]]:
        found = get_conversation(s, user.actor, conversation_id=conversation_id)
        return found, views.cards(
            s, drafts_in_conversation(s, actor=user.actor, conversation_id=conversation_id), viewer=user.actor
        )

    found, drafts = svc.db.read(query)
    messages = [
        schemas.ChatMessage(role=m["role"], content=str(m.get("content") or ""))
        for m in svc.assistant.history(user.actor, conversation_id)
    ]
    return schemas.ConversationDetail(conversation=_view(found), messages=messages, drafts=drafts)


@router.post(
    "/{conversation_id}/messages",
    response_class=StreamingResponse,
    responses={**STREAM_DOC, **ERRORS},
)
async def send(
    conversation_id: str, body: schemas.MessageRequest, user: CurrentUser, svc: ServicesDep
) -> StreamingResponse:
    """Send a message; the answer streams back as Server-Sent Events.

    Refused before streaming (JSON error) when the conversation is not yours (404), a reply is
    still being written in it (409 turn_in_progress), or you sent too many messages this minute (429).
    """
    text = body.text.strip()
    if not text:
        raise HttpError("invalid_input", "the message is empty")
    turn_id = await run_in_threadpool(
        svc.db.run, lambda s: begin_turn(s, user.actor, conversation_id=conversation_id, text=text)
    )
    frames = svc.runner.stream(TurnRequest(user.actor, conversation_id, text, turn_id))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

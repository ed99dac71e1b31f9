"""Conversations: the index of each user's chat threads, one turn at a time, within a rate."""

from core.conversations.models import Conversation, ConversationTurn
from core.conversations.service import (
    STALE_TURN_SECONDS,
    ConversationView,
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
    title_from,
)

__all__ = [
    "STALE_TURN_SECONDS",
    "Conversation",
    "ConversationTurn",
    "ConversationView",
    "RateLimited",
    "TurnInProgress",
    "begin_turn",
    "count_call",
    "end_turn",
    "external_key_of",
    "find_conversation",
    "get_conversation",
    "list_conversations",
    "open_conversation",
    "title_from",
]

"""Conversations: the index of each user's chat threads, one turn at a time, within a rate."""

from core.conversations.models import Conversation, ConversationTurn
from core.conversations.service import (
    STALE_TURN_SECONDS,
    TURNS_PER_MINUTE,
    ConversationView,
    RateLimited,
    TurnInProgress,
    begin_turn,
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
    "TURNS_PER_MINUTE",
    "Conversation",
    "ConversationTurn",
    "ConversationView",
    "RateLimited",
    "TurnInProgress",
    "begin_turn",
    "end_turn",
    "external_key_of",
    "find_conversation",
    "get_conversation",
    "list_conversations",
    "open_conversation",
    "title_from",
]

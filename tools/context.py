"""What every tool runs with: the acting user and where the request came from."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.actor import Actor
from core.drafts.service import RequestContext

if TYPE_CHECKING:
    from tools.search.index import SearchIndex


@dataclass(frozen=True)
class ToolContext:
    """The user the assistant acts for (their roles and entities, nothing more), and the call's ids.

    `search` is the retrieval index (items, policies) when one is open; tools work without it. `restates`: the
    earlier previews the user's message corrects (see `RequestContext`).
    """

    actor: Actor
    channel: str
    conversation_id: str | None = None
    tool_call_id: str | None = None
    search: "SearchIndex | None" = None
    restates: tuple[str, ...] = ()

    def request(self) -> RequestContext:
        """The same identity as the core's write gate records it on a draft."""
        return RequestContext(
            actor=self.actor,
            channel=self.channel,
            conversation_id=self.conversation_id,
            tool_call_id=self.tool_call_id,
            restates=self.restates,
        )

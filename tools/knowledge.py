"""Company policy and procedure passages, for the model to quote rather than guess."""

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.errors import ErpError
from tools.context import ToolContext
from tools.registry import Tool, ToolArgs

MAX_TEXT = 600


class SearchUnavailable(ErpError):
    """The retrieval index is not open (not built, or not configured for this channel)."""

    code = "search_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "policy search is not available: the search index has not been built; "
            "run `erp-assistant index` and start the assistant again",
            suggestions=["erp-assistant index"],
        )


class SearchPoliciesArgs(ToolArgs):
    query: str = Field(min_length=3, max_length=300, description="the question, in plain words")
    limit: int = Field(3, ge=1, le=5)


class PolicyPassage(BaseModel):
    doc: str
    title: str
    section: str
    text: str


class SearchPoliciesResult(BaseModel):
    passages: list[PolicyPassage]
    facts: list[str] = []


def _passage_facts(passages: list[PolicyPassage]) -> list[str]:
    """Which passage answers best, so the answer can name its source."""
    best = passages[0] if passages else None
    return [f"Best matching passage: {best.title}, {best.section} ({best.doc})."] if best else ["No passage matches."]


def _trim(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + " …"


def search_policies(session: Session, ctx: ToolContext, args: SearchPoliciesArgs) -> SearchPoliciesResult:
    """The passages of the policy documents closest to the question, best first."""
    if ctx.search is None:
        raise SearchUnavailable()
    passages = ctx.search.search_documents(args.query, args.limit)
    if not passages and not ctx.search.counts()["documents"]:
        raise SearchUnavailable()
    found = [PolicyPassage(doc=p.doc, title=p.title, section=p.section, text=_trim(p.text)) for p in passages]
    return SearchPoliciesResult(passages=found, facts=_passage_facts(found))


TOOLS = [
    Tool(
        "search_policies",
        "Company procedures: returns, credit holds, intercompany, expediting, pricing, purchasing, stock counts, "
        "approvals. Use for how-to and rules questions, not for live figures.",
        SearchPoliciesArgs,
        search_policies,
    ),
]

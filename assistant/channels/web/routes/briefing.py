"""The daily briefing of the signed-in user: what needs their attention, as the widget shows it when opened."""

from fastapi import APIRouter

from assistant.channels.web import schemas
from assistant.channels.web.auth import CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from core.planning.briefing import Briefing, briefing

router = APIRouter(prefix="/api", tags=["briefing"])


def briefing_view(found: Briefing) -> schemas.BriefingView:
    return schemas.BriefingView(
        user=found.user,
        day=found.day,
        headline=found.headline,
        lines=[
            schemas.BriefingLineView(
                topic=line.topic,
                count=line.count,
                text=line.text,
                link=line.link,
                items=[
                    schemas.BriefingItemView(ref=i.ref, text=i.text, link=i.link, score=i.score) for i in line.items
                ],
            )
            for line in found.lines
        ],
    )


@router.get("/briefing", response_model=schemas.BriefingView, responses=documented(401))
def my_briefing(user: CurrentUser, svc: ServicesDep) -> schemas.BriefingView:
    """Your briefing for today: approvals waiting for you, the cases you may handle by type (findings with their
    proposed drafts), and for finance the customers to chase; each line a count with its top items by priority."""
    return briefing_view(svc.db.read(lambda s: briefing(s, user.actor)))

"""Read-only resources: the approval policy, the user's open exception cases, and any record by its reference
(`erp://SO-1042`), each read through the same functions as the web API, so scope rules apply unchanged."""

import json

import mcp_types as mcp
from sqlalchemy.orm import Session

from assistant.channels.web.records import record
from assistant.channels.web.schemas import CaseList
from assistant.channels.web.views import case_views
from core.actor import Actor
from core.db import Database
from core.errors import InvalidInput
from core.planning.priorities import ranked_cases
from core.policy import policy_path

SCHEME = "erp://"
POLICY_URI = "erp://policy"
CASES_URI = "erp://exceptions/open"
RECORD_TEMPLATE = "erp://{reference}"
JSON = "application/json"
MAX_CASES = 50


class Resources:
    def __init__(self, db: Database) -> None:
        self.db = db

    def listed(self) -> list[mcp.Resource]:
        return [
            mcp.Resource(
                uri=POLICY_URI,
                name="approval-policy",
                title="Approval policy",
                description="The rules that decide whether a confirmed draft runs, waits for whom, or is blocked.",
                mime_type="application/yaml",
            ),
            mcp.Resource(
                uri=CASES_URI,
                name="open-exceptions",
                title="Open exception cases",
                description=f"Open and assigned cases in your entities, highest priority first (at most {MAX_CASES}).",
                mime_type=JSON,
            ),
        ]

    def templates(self) -> list[mcp.ResourceTemplate]:
        return [
            mcp.ResourceTemplate(
                uri_template=RECORD_TEMPLATE,
                name="record",
                title="A record by its reference",
                description="A sales or purchase order, transfer, shipment, invoice, draft, exception case, item"
                " (SKU) or customer, e.g. erp://SO-1042, as you may see it.",
                mime_type=JSON,
            )
        ]

    def read(self, actor: Actor, uri: str) -> mcp.ReadResourceResult:
        """The resource `uri` names, as `actor` may see it."""
        if uri == POLICY_URI:
            text, mime = policy_path().read_text(encoding="utf-8"), "application/yaml"
        elif uri == CASES_URI:
            text, mime = self.db.read(lambda s: _open_cases(s, actor)), JSON
        elif uri.startswith(SCHEME) and uri[len(SCHEME) :].strip():
            reference = uri[len(SCHEME) :].strip()
            text, mime = self.db.read(lambda s: record(s, actor, reference).model_dump_json()), JSON
        else:
            raise InvalidInput(f"there is no resource {uri!r}; try {POLICY_URI}, {CASES_URI} or erp://SO-1042")
        return mcp.ReadResourceResult(contents=[mcp.TextResourceContents(uri=uri, mime_type=mime, text=text)])


def _open_cases(session: Session, actor: Actor) -> str:
    page = ranked_cases(session, actor, active_only=True, limit=MAX_CASES)
    listing = CaseList(cases=case_views(session, page.cases, ranked=True), total=page.total)
    return json.dumps(listing.model_dump(mode="json"), ensure_ascii=False)

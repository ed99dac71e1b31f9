"""The registered analyses on the demo company, end to end: one recorded run raises each kind of finding with its
evidence (and a draft where one is proposed), a second run raises nothing new, and a proposed document opened by the
person its case is routed to goes through the gate."""

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Role
from core.db import Database
from core.demo.directory import user_for
from core.drafts.service import RequestContext
from core.exceptions.findings import open_findings
from core.exceptions.models import ExceptionCase
from core.masterdata.models import LegalEntity
from core.masterdata.service import load_actor
from core.planning.models import Trigger
from core.planning.proposals import draft_from_case
from core.planning.runner import ANALYSES, run_planning

BUYERS = [user_for(Role.BUYER, entity) for entity in ("NA", "UK", "SEA")]


def _open_findings(db: Database) -> list[ExceptionCase]:
    def read(s: Session) -> list[ExceptionCase]:
        entities = list(s.scalars(select(LegalEntity.id)))
        return [case for a in ANALYSES for case in open_findings(s, a.case_type, entities)]

    return db.read(read)


def test_a_run_on_the_demo_raises_findings_with_evidence_once_and_a_proposal_goes_through_the_gate(
    demo_db: Database,
) -> None:
    first = run_planning(demo_db, trigger=Trigger.CLI, requested_by="test")
    assert first.report is not None and first.report.errors() == []
    raised = {a.name: a.raised for a in first.report.analyses}
    assert raised["detection"] > 0 and raised["replenishment"] > 0 and raised["late_order_risk"] > 0
    cases = _open_findings(demo_db)
    assert sum(raised[a.name] for a in ANALYSES) == len(cases)
    by_type = Counter(c.type for c in cases)
    assert {"replenishment", "late_order_risk", "supplier_risk"} <= set(by_type)
    for case in cases:
        assert case.related["evidence"] and case.owner_role, case.number
    proposing = [c for c in cases if c.type == "replenishment" and c.related["proposal"]]
    assert proposing and all(c.owner_role == "buyer" for c in proposing)

    second = run_planning(demo_db, trigger=Trigger.CLI, requested_by="test")
    assert second.report is not None and second.report.total("raised") == 0 and second.report.errors() == []
    assert len(_open_findings(demo_db)) == len(cases)

    case = proposing[0]
    buyer = demo_db.read(
        lambda s: next(a for a in map(lambda u: load_actor(s, username=u), BUYERS) if a.can_see(case.entity_id))
    )
    draft = demo_db.run(lambda s: draft_from_case(s, RequestContext(actor=buyer, channel="web"), case_number=case.id))
    assert draft.kind == case.related["proposal"]["kind"] and draft.status == "unconfirmed"

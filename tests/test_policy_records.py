"""Every decision is stored with its policy version, the facts it was judged on and the reasons (both databases)."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.policy import (
    DraftKind,
    Facts,
    Outcome,
    PolicyDecisionRecord,
    Requirement,
    evaluate,
    load_policy,
    record_decision,
)

ACME_OVER_LIMIT = Facts(
    kind=DraftKind.SALES_ORDER,
    entity="NA",
    requester_roles=["sales"],
    currency="USD",
    amount=Decimal("4000.00"),
    amount_usd=Decimal("4000.00"),
    quantity=40,
    max_discount_pct=Decimal("5"),
    customer="Acme",
    customer_on_hold=False,
    credit_limit=Decimal("50000"),
    exposure_before=Decimal("57200.00"),
    exposure_after=Decimal("61200.00"),
)


def test_decision_is_stored_and_read_back_as_it_was_made(db: Database) -> None:
    policy = load_policy()
    decision = evaluate(ACME_OVER_LIMIT, policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL

    decision_id = db.run(lambda s: record_decision(s, draft_id=42, facts=ACME_OVER_LIMIT, decision=decision).id)

    def stored(s: Session) -> PolicyDecisionRecord:
        record = s.get(PolicyDecisionRecord, decision_id)
        assert record is not None
        return record

    record = db.read(stored)
    assert record.draft_id == 42
    assert record.policy_version == policy.version and len(record.policy_version) == 64
    assert record.outcome == "needs_approval"
    assert record.requirements == [{"role": "finance", "entity": "NA"}]
    assert record.reasons == [
        {
            "rule_id": "credit.exposure",
            "text": "Acme's exposure would reach USD 61,200.00 against a USD 50,000.00 limit",
        }
    ]
    assert Facts.model_validate(record.facts) == ACME_OVER_LIMIT
    assert record.facts["exposure_after"] == "61200.00"
    assert record.created_at.date() == date(2026, 11, 20)  # the pinned business date of the tests
    assert record.decision == decision
    assert record.decision.explain() == decision.explain()


def test_decisions_of_a_draft_are_found_by_its_id_and_a_draft_is_optional(db: Database) -> None:
    policy = load_policy()
    blocked = ACME_OVER_LIMIT.model_copy(update={"customer_on_hold": True})
    for facts, draft_id in [(ACME_OVER_LIMIT, 7), (blocked, 7), (ACME_OVER_LIMIT, None)]:
        db.run(lambda s, f=facts, d=draft_id: record_decision(s, draft_id=d, facts=f, decision=evaluate(f, policy)))

    def of_draft(s: Session) -> list[tuple[str, list[dict[str, str | None]]]]:
        query = select(PolicyDecisionRecord).where(PolicyDecisionRecord.draft_id == 7).order_by(PolicyDecisionRecord.id)
        return [(record.outcome, record.requirements) for record in s.scalars(query)]

    assert db.read(of_draft) == [("needs_approval", [{"role": "finance", "entity": "NA"}]), ("block", [])]
    undrafted = db.read(
        lambda s: s.scalars(select(PolicyDecisionRecord).where(PolicyDecisionRecord.draft_id.is_(None))).one()
    )
    assert undrafted.decision.requirements == [Requirement(role="finance", entity="NA")]


def test_recording_a_decision_rolls_back_with_its_unit_of_work(db: Database) -> None:
    decision = evaluate(ACME_OVER_LIMIT, load_policy())
    with db.session(write=True) as session:
        record_decision(session, draft_id=1, facts=ACME_OVER_LIMIT, decision=decision)
    assert db.read(lambda s: s.scalars(select(PolicyDecisionRecord)).all()) == []

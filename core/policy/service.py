"""Keeping decisions: each one is stored with the policy version, the facts it was made on and the reasons."""

from sqlalchemy.orm import Session

from core import clock
from core.policy.decision import Decision
from core.policy.facts import Facts
from core.policy.models import PolicyDecisionRecord


def record_decision(
    session: Session, *, draft_id: int | None, facts: Facts, decision: Decision
) -> PolicyDecisionRecord:
    """Store a decision in the caller's unit of work; the returned row has its id (the decision id)."""
    record = PolicyDecisionRecord(
        draft_id=draft_id,
        policy_version=decision.policy_version,
        facts=facts.model_dump(mode="json"),
        outcome=decision.outcome.value,
        requirements=[requirement.model_dump(mode="json") for requirement in decision.requirements],
        reasons=[reason.model_dump(mode="json") for reason in decision.reasons],
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    return record

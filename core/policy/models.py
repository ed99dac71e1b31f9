"""policy tables: every decision the engine made, with the policy version, the input and the reasons."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.policy.decision import Decision, Outcome, Reason, Requirement


class PolicyDecisionRecord(Base):
    """One decision as it was made; its id is the decision id. Never updated."""

    __tablename__ = "policy_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: the drafts table comes later in the migration chain, and a decision may be
    # recorded for a draft that is refused before it is stored.
    draft_id: Mapped[int | None] = mapped_column(index=True)
    policy_version: Mapped[str] = mapped_column(String(64))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime]

    @property
    def decision(self) -> Decision:
        """The stored decision, as the engine returned it."""
        return Decision(
            outcome=Outcome(self.outcome),
            requirements=[Requirement.model_validate(item) for item in self.requirements],
            reasons=[Reason.model_validate(item) for item in self.reasons],
            policy_version=self.policy_version,
        )

"""What the policy engine answers: an outcome, the approvals it needs and the rules that decided."""

from collections import Counter
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from core.actor import Role


class Outcome(StrEnum):
    EXECUTE = "execute"
    NEEDS_APPROVAL = "needs_approval"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """Rank for combining rules: the most restrictive outcome wins."""
        return _SEVERITY[self]


_SEVERITY = {Outcome.EXECUTE: 0, Outcome.NEEDS_APPROVAL: 1, Outcome.BLOCK: 2}


class Requirement(BaseModel):
    """One approval needed: a holder of `role` in entity `entity` (None: the draft's entity).

    Two approvals by the same role in the same entity are two equal Requirements.
    """

    model_config = ConfigDict(frozen=True)

    role: str
    entity: str | None


class Reason(BaseModel):
    """Why one rule decided as it did, in plain words with the numbers."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    text: str


class Decision(BaseModel):
    """The verdict on one draft under one policy version."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    requirements: list[Requirement]
    reasons: list[Reason]
    policy_version: str

    def explain(self) -> str:
        """The decision as one plain paragraph, for the requester and the approver."""
        because = "; ".join(_reason_words(reason) for reason in self.reasons)
        if self.outcome is Outcome.EXECUTE:
            head = "Can go ahead"
        elif self.outcome is Outcome.BLOCK:
            head = "Blocked"
        else:
            head = f"Needs approval by {approvers_in_words(self.requirements)}"
        return f"{head}: {because}." if because else f"{head}."


# Singular and plural of the person each role stands for, as an approver.
ROLE_NOUNS: dict[str, tuple[str, str]] = {
    Role.SALES: ("salesperson", "salespeople"),
    Role.BUYER: ("buyer", "buyers"),
    Role.WAREHOUSE: ("warehouse lead", "warehouse leads"),
    Role.MANAGER: ("manager", "managers"),
    Role.FINANCE: ("finance approver", "finance approvers"),
    Role.ADMIN: ("administrator", "administrators"),
    Role.INTEGRATION: ("integration", "integrations"),  # never an approver (the policy file refuses it)
}
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def approvers_in_words(requirements: list[Requirement]) -> str:
    """'a manager (NA) and a finance approver (NA)'; equal requirements are counted: 'two managers (UK)'."""
    counted = Counter(requirements)
    parts = [_approver_words(requirement, count) for requirement, count in counted.items()]
    if len(parts) <= 1:
        return "".join(parts) or "nobody"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _approver_words(requirement: Requirement, count: int) -> str:
    singular, plural = ROLE_NOUNS.get(requirement.role, (f"{requirement.role} holder", f"{requirement.role} holders"))
    if count == 1:
        article = "an" if singular[0] in "aeiou" else "a"
        noun = f"{article} {singular}"
    else:
        noun = f"{_NUMBERS.get(count, str(count))} {plural}"
    return f"{noun} ({requirement.entity})" if requirement.entity else noun


def _reason_words(reason: Reason) -> str:
    text = reason.text.rstrip(". ")
    # Texts of failed rules already name their rule; do not say it twice.
    return text if f"rule {reason.rule_id}" in text else f"{text} (rule {reason.rule_id})"

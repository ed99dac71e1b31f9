"""The policy engine of the write gate: rules as data, a pure evaluator, logged decisions.

Usage::

    policy = load_policy()                       # at start-up; PolicyError stops a broken policy
    decision = evaluate(facts, policy)           # pure: facts of one draft -> Decision
    record = record_decision(session, draft_id=..., facts=facts, decision=decision)
    decision.explain()                           # "Needs approval by a finance approver (NA): ..."
"""

from core.policy.decision import Decision, Outcome, Reason, Requirement
from core.policy.engine import NO_RULE_ID, evaluate
from core.policy.facts import DraftKind, Facts
from core.policy.loader import DEFAULT_POLICY_FILE, POLICY_FILE_ENV, PolicyError, load_policy, parse_policy, policy_path
from core.policy.models import PolicyDecisionRecord
from core.policy.rules import Policy, Rule, Tolerances
from core.policy.service import record_decision

__all__ = [
    "DEFAULT_POLICY_FILE",
    "NO_RULE_ID",
    "POLICY_FILE_ENV",
    "Decision",
    "DraftKind",
    "Facts",
    "Outcome",
    "Policy",
    "PolicyDecisionRecord",
    "PolicyError",
    "Reason",
    "Requirement",
    "Rule",
    "Tolerances",
    "evaluate",
    "load_policy",
    "parse_policy",
    "policy_path",
    "record_decision",
]

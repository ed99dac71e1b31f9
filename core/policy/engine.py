"""Evaluation: a pure function of (facts, policy) -> decision. No database, no clock.

Every rule in scope is judged on its own; the most restrictive outcome wins (block > needs approval
> execute), so the order of the rules does not matter. A draft no rule matches needs a manager; a
rule that cannot be evaluated blocks the draft and says why (fail closed).
"""

from collections import Counter
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from core.actor import Role
from core.policy.decision import Decision, Outcome, Reason, Requirement
from core.policy.facts import Facts
from core.policy.rules import Approver, Policy, Rule, RuleFailure

NO_RULE_ID = "default.no_rule"
ROLE_ORDER = {role.value: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class Verdict:
    """What one rule says about one draft."""

    outcome: Outcome
    requirements: Counter[Requirement]
    reason: Reason


def evaluate(facts: Facts, policy: Policy) -> Decision:
    """Judge a draft's facts under a policy: execute, needs approval by whom, or block, and why."""
    values = dict(facts)
    verdicts = [verdict for rule in policy.rules if rule.covers(facts) if (verdict := judge(rule, facts, values))]
    if not verdicts:
        verdicts = [_no_rule(facts)]
    outcome = max((verdict.outcome for verdict in verdicts), key=lambda o: o.severity)
    deciding = [verdict for verdict in verdicts if verdict.outcome is outcome]
    # Approvals are a multiset: two rules asking for a manager need one; a rule asking for two needs two.
    needed: Counter[Requirement] = reduce(or_, (verdict.requirements for verdict in deciding), Counter())
    return Decision(
        outcome=outcome,
        requirements=sorted(needed.elements(), key=lambda r: _requirement_order(r, facts)),
        reasons=sorted((verdict.reason for verdict in deciding), key=lambda reason: reason.rule_id),
        policy_version=policy.version,
    )


def judge(rule: Rule, facts: Facts, values: dict[str, Any]) -> Verdict | None:
    """The rule's verdict, None when it does not match; any test it cannot evaluate makes it block.

    A test that is false settles "no match" even when another test of the rule cannot be evaluated:
    the rule would not apply whatever the missing fact, and the answer must not depend on test order.
    """
    results: list[bool] = []
    failures: list[str] = []
    for test in rule.comparisons:
        try:
            results.append(test.check(values))
        except RuleFailure as failure:
            failures.append(str(failure))
    if not all(results):
        return None
    if failures:
        return _failed(rule, failures)
    requirements: Counter[Requirement] = Counter()
    for approver in rule.approvers:
        try:
            requirements[_requirement(approver, facts)] += approver.count
        except RuleFailure as failure:
            failures.append(str(failure))
    try:
        text = rule.reason.render(values, rule.limits)
    except RuleFailure as failure:
        failures.append(str(failure))
    if failures:
        return _failed(rule, failures)
    return Verdict(rule.outcome, requirements, Reason(rule_id=rule.id, text=text))


def _requirement(approver: Approver, facts: Facts) -> Requirement:
    entity = facts.entity if approver.entity == "draft" else facts.counterparty_entity
    if entity is None:
        raise RuleFailure(f"it asks for a {approver.role} of the counterparty entity but the draft has none")
    return Requirement(role=approver.role, entity=entity)


def _failed(rule: Rule, failures: list[str]) -> Verdict:
    why = "; ".join(sorted(set(failures)))
    text = f"rule {rule.id} could not be evaluated ({why}); the draft is blocked until the policy or its data is fixed"
    return Verdict(Outcome.BLOCK, Counter(), Reason(rule_id=rule.id, text=text))


def _no_rule(facts: Facts) -> Verdict:
    manager = Requirement(role=Role.MANAGER.value, entity=facts.entity)
    kind = facts.kind.value.replace("_", " ")
    text = f"no rule of the policy covers a {kind} in {facts.entity}, so a manager must approve it"
    return Verdict(Outcome.NEEDS_APPROVAL, Counter([manager]), Reason(rule_id=NO_RULE_ID, text=text))


def _requirement_order(requirement: Requirement, facts: Facts) -> tuple[int, bool, str]:
    """Managers before finance, the draft's own entity before the counterparty."""
    entity = requirement.entity or ""
    return ROLE_ORDER.get(requirement.role, len(ROLE_ORDER)), entity != facts.entity, entity

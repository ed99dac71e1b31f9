"""Property tests of the policy engine against a tiny reference evaluator, on generated facts and policies.

The reference works on the rules as plain dicts (what the YAML file holds), brute force, with none of
the engine's code: if both agree on thousands of random drafts and rule sets, the combining rules,
the comparisons, the approver expansion and the fail-closed paths are what the issue says.
"""

import re
from collections import Counter
from decimal import Decimal
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.actor import PERSON_ROLES, Role
from core.policy import NO_RULE_ID, Decision, DraftKind, Facts, Outcome, Policy, evaluate, load_policy, parse_policy

ENTITIES = {"NA": ("USD", Decimal(1)), "UK": ("GBP", Decimal("0.79")), "SEA": ("SGD", Decimal("1.345"))}
ROLES = [role.value for role in Role]
APPROVER_ROLES = [role.value for role in Role if role in PERSON_ROLES]  # an integration never approves
KINDS = [DraftKind.SALES_ORDER, DraftKind.TRANSFER, DraftKind.PURCHASE_ORDER]
ERROR = "error"  # the reference's mark for "this rule could not be evaluated"
RANK = ["execute", "needs_approval", "block"]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT_POLICY = load_policy()


# --- the tiny reference evaluator ---------------------------------------------------------------


def reference(facts: Facts, rules: list[dict[str, Any]]) -> tuple[str, Counter[tuple[str, str]], list[tuple[str, Any]]]:
    """(outcome, approvals needed as a multiset of (role, entity), [(rule id, text or ERROR or None)])."""
    f = facts.model_dump()
    verdicts = []
    for rule in rules:
        if f["kind"] not in as_list(rule["kind"]):
            continue
        if "entity" in rule and f["entity"] not in as_list(rule["entity"]):
            continue
        results = [
            holds(f, fact, op, arg)
            for fact, condition in rule.get("when", {}).items()
            for op, arg in normalized(condition).items()
        ]
        if False in results:
            continue
        if ERROR in results:
            verdicts.append(("block", Counter(), (rule["id"], ERROR)))
            continue
        effect = rule["effect"]
        needed: Counter[tuple[str, str]] = Counter()
        failed = False
        if isinstance(effect, dict):
            for approver in effect["approve"]:
                if isinstance(approver, str):
                    approver = {"role": approver}
                sides = {"draft": ["entity"], "counterparty": ["counterparty_entity"]}.get(
                    approver.get("entity", "draft"), ["entity", "counterparty_entity"]
                )
                for side in sides:
                    if f[side] is None:
                        failed = True
                    else:
                        needed[(approver["role"], f[side])] += approver.get("count", 1)
        text = render(rule, f)
        if failed or text == ERROR:
            verdicts.append(("block", Counter(), (rule["id"], ERROR)))
        else:
            outcome = "needs_approval" if isinstance(effect, dict) else effect
            verdicts.append((outcome, needed, (rule["id"], text)))
    if not verdicts:
        verdicts = [("needs_approval", Counter([("manager", f["entity"])]), (NO_RULE_ID, None))]
    top = max(RANK.index(outcome) for outcome, _, _ in verdicts)
    chosen = [verdict for verdict in verdicts if RANK.index(verdict[0]) == top]
    approvals: Counter[tuple[str, str]] = Counter()
    for _, needed, _ in chosen:
        for requirement, count in needed.items():
            approvals[requirement] = max(approvals[requirement], count)
    return RANK[top], approvals, sorted(reason for _, _, reason in chosen)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalized(condition: Any) -> dict[str, Any]:
    if isinstance(condition, dict):
        return condition
    return {"in": condition} if isinstance(condition, list) else {"eq": condition}


def holds(f: dict[str, Any], fact: str, op: str, arg: Any) -> Any:
    value = f[fact]
    if op == "present":
        return (value is not None) == arg
    if isinstance(arg, dict):
        arg = f[arg["fact"]]
        if arg is None:
            return ERROR
    if value is None:
        return ERROR
    if op == "contains_any":
        return any(item in value for item in as_list(arg))
    if op == "contains_none":
        return not any(item in value for item in as_list(arg))
    if op == "in":
        return value in arg
    if op == "not_in":
        return value not in arg
    return {"eq": value == arg, "ne": value != arg, "gt": value > arg, "gte": value >= arg, "lt": value < arg}.get(
        op, value <= arg
    )


def render(rule: dict[str, Any], f: dict[str, Any]) -> str:
    template = rule["reason"]
    if any(f[name] is None for name in re.findall(r"\{(\w+)", template) if name != "limits"):
        return ERROR
    limits = {fact: next(iter(c.values())) for fact, c in rule.get("when", {}).items() if isinstance(c, dict)}
    return str(template.format(**f, limits=limits))


# --- generated facts and policies ---------------------------------------------------------------


@st.composite
def drafts(draw: st.DrawFn, kinds: list[DraftKind] = KINDS) -> Facts:
    entity = draw(st.sampled_from(list(ENTITIES)))
    currency, rate = ENTITIES[entity]
    amount_usd = draw(st.decimals(0, 120000, places=2))
    return Facts(
        kind=draw(st.sampled_from(kinds)),
        entity=entity,
        counterparty_entity=draw(st.none() | st.sampled_from([code for code in ENTITIES if code != entity])),
        requester_roles=draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=2)),
        currency=currency,
        amount=(amount_usd * rate).quantize(Decimal("0.01")),
        amount_usd=amount_usd,
        quantity=draw(st.sampled_from([0, 100, 500, 501, 1000]) | st.integers(0, 2000)),
        max_discount_pct=draw(st.none() | st.decimals(0, 40, places=1)),
        below_cost=draw(st.booleans()),
        customer=draw(st.none() | st.just("Acme")),
        customer_on_hold=draw(st.none() | st.booleans()),
        credit_limit=draw(st.none() | st.decimals(0, 100000, places=0)),
        exposure_after=draw(st.none() | st.decimals(0, 150000, places=2)),
        intercompany=draw(st.booleans()),
        shortage=draw(st.booleans()),
    )


def threshold(values: list[int]) -> st.SearchStrategy[dict[str, int]]:
    ops = st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"])
    return st.builds(lambda op, value: {op: value}, ops, st.sampled_from(values))


CONDITIONS: dict[str, st.SearchStrategy[Any]] = {
    "amount_usd": threshold([0, 5000, 10000, 50000]),
    "quantity": threshold([0, 100, 500, 1000]),
    "max_discount_pct": threshold([10, 15]),
    "below_cost": st.booleans(),
    "customer_on_hold": st.sampled_from([True, False, {"eq": True}, {"ne": True}]),
    "exposure_after": st.sampled_from(["gt", "gte", "lt", "lte"]).map(lambda op: {op: {"fact": "credit_limit"}}),
    "intercompany": st.booleans(),
    "shortage": st.sampled_from([{"eq": False}, {"ne": False}]),
    "requester_roles": st.builds(
        lambda op, roles: {op: roles},
        st.sampled_from(["contains_any", "contains_none"]),
        st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
    ),
    "entity": st.sampled_from([["NA", "UK"], "SEA", {"ne": "UK"}, {"not_in": ["NA"]}]),
    "credit_limit": st.builds(lambda present: {"present": present}, st.booleans()),
    "counterparty_entity": st.sampled_from([{"present": True}, {"eq": "UK"}]),
}
APPROVERS = st.sampled_from(APPROVER_ROLES[:5]) | st.fixed_dictionaries(
    {"role": st.sampled_from(APPROVER_ROLES)},
    optional={"entity": st.sampled_from(["draft", "counterparty", "both"]), "count": st.integers(1, 2)},
)
EFFECTS = st.sampled_from(["execute", "block"]) | st.builds(
    lambda approvers: {"approve": approvers}, st.lists(APPROVERS, min_size=1, max_size=3)
)
TEMPLATES = [
    "fixed words",
    "worth USD {amount_usd:,.2f}",
    "{quantity:,} units of a {kind}",
    "{customer} again",
    "discount {max_discount_pct}% to {counterparty_entity}",
]


@st.composite
def rule_dicts(draw: st.DrawFn, number: int) -> dict[str, Any]:
    names = [kind.value for kind in KINDS]
    rule: dict[str, Any] = {"id": f"r{number:02d}.x", "kind": draw(st.sampled_from([*names, names[:2]]))}
    if draw(st.booleans()):
        rule["entity"] = draw(st.sampled_from(["NA", "UK", ["UK", "SEA"]]))
    facts = draw(st.lists(st.sampled_from(list(CONDITIONS)), unique=True, max_size=3))
    rule["when"] = {fact: draw(CONDITIONS[fact]) for fact in facts}
    if rule.get("entity") in ("NA", "UK") and draw(st.booleans()):
        rule["when"]["amount"] = draw(threshold([0, 4000, 40000]))  # one currency in scope: allowed
    rule["effect"] = draw(EFFECTS)
    templates = TEMPLATES + (["above {limits[amount_usd]:,.2f}"] if "amount_usd" in rule["when"] else [])
    rule["reason"] = draw(st.sampled_from(templates))
    return rule


@st.composite
def rule_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 6))
    return [draw(rule_dicts(number)) for number in range(count)]


def policy_of(rules: list[dict[str, Any]]) -> Policy:
    document = {"format": 1, "name": "generated", "entities": {code: c for code, (c, _) in ENTITIES.items()}}
    return parse_policy(yaml.safe_dump({**document, "rules": rules}, sort_keys=False), source="generated.yaml")


def unconditional(rule_id: str, effect: Any) -> dict[str, Any]:
    return {"id": rule_id, "kind": [kind.value for kind in DraftKind], "effect": effect, "reason": "always"}


def approvals(decision: Decision) -> Counter[tuple[str, str | None]]:
    return Counter((requirement.role, requirement.entity) for requirement in decision.requirements)


def without_version(decision: Decision) -> Decision:
    return decision.model_copy(update={"policy_version": ""})


# --- properties ---------------------------------------------------------------------------------


@SETTINGS
@given(facts=drafts(), rules=rule_sets())
def test_engine_agrees_with_the_reference_evaluator(facts: Facts, rules: list[dict[str, Any]]) -> None:
    decision = evaluate(facts, policy_of(rules))
    outcome, needed, reasons = reference(facts, rules)
    assert decision.outcome.value == outcome
    assert approvals(decision) == needed
    assert [reason.rule_id for reason in decision.reasons] == [rule_id for rule_id, _ in reasons]
    for got, (_, expected) in zip(decision.reasons, reasons, strict=True):
        if expected == ERROR:
            assert got.text.startswith(f"rule {got.rule_id} could not be evaluated")
        elif expected is not None:
            assert got.text == expected


@SETTINGS
@given(facts=drafts(), rules=rule_sets(), data=st.data())
def test_the_order_of_the_rules_does_not_matter(facts: Facts, rules: list[dict[str, Any]], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(rules))
    assert without_version(evaluate(facts, policy_of(shuffled))) == without_version(evaluate(facts, policy_of(rules)))


@SETTINGS
@given(facts=drafts(), rules=rule_sets())
def test_block_beats_approval_beats_execute(facts: Facts, rules: list[dict[str, Any]]) -> None:
    before = evaluate(facts, policy_of(rules))

    blocked = evaluate(facts, policy_of([*rules, unconditional("zz.block", "block")]))
    assert blocked.outcome is Outcome.BLOCK
    assert blocked.requirements == []
    assert "zz.block" in [reason.rule_id for reason in blocked.reasons]

    approval = evaluate(facts, policy_of([*rules, unconditional("zz.approve", {"approve": ["manager"]})]))
    if before.outcome is Outcome.BLOCK:
        assert approval == before.model_copy(update={"policy_version": approval.policy_version})
    else:
        assert approval.outcome is Outcome.NEEDS_APPROVAL
        assert ("manager", facts.entity) in approvals(approval)
        assert not approvals(before) - approvals(approval)

    executed = evaluate(facts, policy_of([*rules, unconditional("zz.execute", "execute")]))
    if [reason.rule_id for reason in before.reasons] == [NO_RULE_ID]:
        assert executed.outcome is Outcome.EXECUTE
    else:
        assert executed.outcome is before.outcome
        assert executed.requirements == before.requirements


@SETTINGS
@given(facts=drafts(kinds=list(DraftKind)), raise_usd=st.decimals(0, 80000, places=2))
def test_a_larger_amount_never_needs_less_approval_under_the_default_policy(facts: Facts, raise_usd: Decimal) -> None:
    _, rate = ENTITIES[facts.entity]
    larger = facts.model_copy(
        update={
            "amount_usd": facts.amount_usd + raise_usd,
            "amount": facts.amount + (raise_usd * rate).quantize(Decimal("0.01")),
        }
    )
    small, large = evaluate(facts, DEFAULT_POLICY), evaluate(larger, DEFAULT_POLICY)
    assert large.outcome.severity >= small.outcome.severity
    if large.outcome is small.outcome is Outcome.NEEDS_APPROVAL:
        assert not approvals(small) - approvals(large), (small.explain(), large.explain())


def test_reference_agrees_on_a_hand_checked_case() -> None:
    """The reference itself is right on one case worked out by hand (guards against both being wrong alike)."""
    rules = yaml.safe_load("""
- {id: a, kind: transfer, when: {quantity: {gt: 500}}, effect: {approve: [manager]}, reason: q}
- {id: b, kind: transfer, when: {intercompany: true}, effect: {approve: [{role: manager, entity: both}]},
   reason: "ic {counterparty_entity}"}
- {id: c, kind: transfer, effect: execute, reason: ok}
""")
    facts = Facts(
        kind="transfer", entity="UK", counterparty_entity="NA", intercompany=True, currency="GBP", quantity=600
    )
    expected = ("needs_approval", Counter({("manager", "UK"): 1, ("manager", "NA"): 1}), [("a", "q"), ("b", "ic NA")])
    assert reference(facts, rules) == expected
    decision = evaluate(facts, policy_of(rules))
    assert decision.explain() == "Needs approval by a manager (UK) and a manager (NA): q (rule a); ic NA (rule b)."

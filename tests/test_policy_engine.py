"""The policy engine on the demo company's default policy, rule kind by rule kind, and its combining rules."""

from decimal import Decimal
from typing import Any

import pytest

from core.policy import (
    NO_RULE_ID,
    Decision,
    DraftKind,
    Facts,
    Outcome,
    Policy,
    Reason,
    Requirement,
    evaluate,
    load_policy,
    parse_policy,
)

GBP_PER_USD = Decimal("0.79")
SGD_PER_USD = Decimal("1.345")
CURRENCY = {"NA": ("USD", Decimal(1)), "UK": ("GBP", GBP_PER_USD), "SEA": ("SGD", SGD_PER_USD)}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _money(entity: str, amount_usd: str) -> dict[str, Any]:
    currency, rate = CURRENCY[entity]
    usd = Decimal(amount_usd)
    return {"currency": currency, "amount": (usd * rate).quantize(Decimal("0.01")), "amount_usd": usd}


def sales_order(entity: str = "NA", amount_usd: str = "3200", **overrides: Any) -> Facts:
    """A salesperson's order for Acme, well inside its credit limit, at a normal discount."""
    money = _money(entity, amount_usd)
    facts: dict[str, Any] = {
        "kind": DraftKind.SALES_ORDER,
        "entity": entity,
        "requester_roles": ["sales"],
        "quantity": 40,
        "max_discount_pct": Decimal(5),
        "min_margin_pct": Decimal("21.5"),
        "customer": "Acme",
        "customer_on_hold": False,
        "credit_limit": Decimal(50000),
        "exposure_before": Decimal(20000),
        "exposure_after": Decimal(20000) + money["amount"],
        **money,
    }
    return Facts(**{**facts, **overrides})


def transfer(entity: str = "NA", amount_usd: str = "4200", quantity: int = 120, **overrides: Any) -> Facts:
    facts = {"kind": DraftKind.TRANSFER, "entity": entity, "requester_roles": ["warehouse"], "quantity": quantity}
    return Facts(**{**facts, **_money(entity, amount_usd), **overrides})


def purchase_order(entity: str = "NA", amount_usd: str = "8000", roles: tuple[str, ...] = ("buyer",)) -> Facts:
    facts = {"kind": DraftKind.PURCHASE_ORDER, "entity": entity, "requester_roles": list(roles), "quantity": 300}
    return Facts(**facts, **_money(entity, amount_usd))


def other(kind: DraftKind, entity: str = "NA", **overrides: Any) -> Facts:
    facts = {"kind": kind, "entity": entity, "requester_roles": ["sales"], **_money(entity, "900")}
    return Facts(**{**facts, **overrides})


def needs(*pairs: tuple[str, str]) -> list[Requirement]:
    return [Requirement(role=role, entity=entity) for role, entity in pairs]


def rule_ids(decision: Decision) -> list[str]:
    return [reason.rule_id for reason in decision.reasons]


# --- sales orders -------------------------------------------------------------------------------


def test_small_sales_order_goes_ahead(policy: Policy) -> None:
    decision = evaluate(sales_order(amount_usd="3200"), policy)
    assert decision.outcome is Outcome.EXECUTE
    assert decision.requirements == []
    assert decision.explain() == (
        "Can go ahead: the order is worth USD 3,200.00, within the USD 5,000.00 a salesperson may commit alone "
        "(rule sales.order.self_service)."
    )


def test_sales_order_of_exactly_5000_usd_still_goes_ahead(policy: Policy) -> None:
    assert evaluate(sales_order(amount_usd="5000.00"), policy).outcome is Outcome.EXECUTE
    assert evaluate(sales_order(amount_usd="5000.01"), policy).outcome is Outcome.NEEDS_APPROVAL


def test_uk_order_above_5000_usd_needs_a_uk_manager(policy: Policy) -> None:
    facts = sales_order("UK", amount_usd="6100")  # GBP 4,819
    decision = evaluate(facts, policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.requirements == needs(("manager", "UK"))
    assert rule_ids(decision) == ["sales.order.manager"]
    assert "USD 6,100.00, above the USD 5,000.00" in decision.explain()


def test_sales_order_above_50000_usd_needs_a_manager_and_finance(policy: Policy) -> None:
    facts = sales_order("SEA", amount_usd="64000", credit_limit=Decimal(500000))
    decision = evaluate(facts, policy)
    assert decision.requirements == needs(("manager", "SEA"), ("finance", "SEA"))
    assert rule_ids(decision) == ["sales.order.double_validation", "sales.order.manager"]
    assert decision.explain().startswith("Needs approval by a manager (SEA) and a finance approver (SEA): ")


def test_discount_above_15_percent_needs_a_pricing_manager(policy: Policy) -> None:
    assert evaluate(sales_order(max_discount_pct=Decimal(15)), policy).outcome is Outcome.EXECUTE
    decision = evaluate(sales_order(max_discount_pct=Decimal("18.5")), policy)
    assert decision.requirements == needs(("manager", "NA"))
    assert decision.reasons == [
        Reason(rule_id="sales.discount", text="a line is discounted 18.5%, more than the 15% a salesperson may give")
    ]


def test_selling_below_cost_needs_a_manager_and_finance(policy: Policy) -> None:
    decision = evaluate(sales_order(below_cost=True, min_margin_pct=Decimal("-4.0")), policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.requirements == needs(("manager", "NA"), ("finance", "NA"))
    assert rule_ids(decision) == ["sales.below_cost"]


def test_exposure_above_the_credit_limit_needs_finance_in_plain_words(policy: Policy) -> None:
    facts = sales_order(amount_usd="4000", exposure_before=Decimal(57200), exposure_after=Decimal(61200))
    decision = evaluate(facts, policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.requirements == needs(("finance", "NA"))
    assert decision.explain() == (
        "Needs approval by a finance approver (NA): Acme's exposure would reach USD 61,200.00 "
        "against a USD 50,000.00 limit (rule credit.exposure)."
    )


def test_exposure_exactly_at_the_limit_needs_no_finance(policy: Policy) -> None:
    facts = sales_order(amount_usd="4000", exposure_after=Decimal(50000))
    assert evaluate(facts, policy).outcome is Outcome.EXECUTE


def test_customer_on_hold_is_blocked_whatever_else_needs_approval(policy: Policy) -> None:
    facts = sales_order(amount_usd="72000", customer_on_hold=True, max_discount_pct=Decimal(30))
    decision = evaluate(facts, policy)
    assert decision.outcome is Outcome.BLOCK
    assert decision.requirements == []
    assert rule_ids(decision) == ["credit.hold"]
    assert decision.explain() == (
        "Blocked: Acme is on credit hold; finance must release the hold before new orders or changes"
        " (rule credit.hold)."
    )


def test_sales_order_without_its_credit_facts_fails_closed(policy: Policy) -> None:
    facts = sales_order(exposure_after=None, customer_on_hold=None)
    decision = evaluate(facts, policy)
    assert decision.outcome is Outcome.BLOCK
    assert rule_ids(decision) == ["credit.exposure", "credit.hold"]
    assert "rule credit.exposure could not be evaluated (the draft has no exposure_after)" in decision.explain()


# --- transfers ----------------------------------------------------------------------------------


def test_small_inter_warehouse_transfer_goes_ahead(policy: Policy) -> None:
    decision = evaluate(transfer(amount_usd="4200", quantity=120), policy)
    assert decision.outcome is Outcome.EXECUTE
    assert decision.reasons[0].text == "120 units worth USD 4,200.00, within 500 units and USD 10,000.00"


@pytest.mark.parametrize(
    ("amount_usd", "quantity", "rules"),
    [
        ("4200", 501, ["transfer.quantity"]),
        ("10000.01", 80, ["transfer.value"]),
        ("25000", 900, ["transfer.quantity", "transfer.value"]),
    ],
)
def test_transfer_above_its_limits_needs_one_manager(
    policy: Policy, amount_usd: str, quantity: int, rules: list[str]
) -> None:
    decision = evaluate(transfer("UK", amount_usd=amount_usd, quantity=quantity), policy)
    assert decision.requirements == needs(("manager", "UK"))
    assert rule_ids(decision) == rules


def test_intercompany_transfer_needs_a_manager_of_each_entity(policy: Policy) -> None:
    facts = transfer("SEA", amount_usd="900", quantity=10, intercompany=True, counterparty_entity="NA")
    decision = evaluate(facts, policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.requirements == needs(("manager", "SEA"), ("manager", "NA"))
    assert decision.explain() == (
        "Needs approval by a manager (SEA) and a manager (NA): goods move from SEA to NA, "
        "so a manager of each company agrees (rule transfer.intercompany)."
    )


def test_large_intercompany_transfer_still_needs_just_one_manager_per_entity(policy: Policy) -> None:
    facts = transfer("NA", amount_usd="80000", quantity=2000, intercompany=True, counterparty_entity="UK")
    decision = evaluate(facts, policy)
    assert decision.requirements == needs(("manager", "NA"), ("manager", "UK"))
    assert rule_ids(decision) == ["transfer.intercompany", "transfer.quantity", "transfer.value"]


def test_intercompany_transfer_without_a_counterparty_fails_closed(policy: Policy) -> None:
    decision = evaluate(transfer(intercompany=True, counterparty_entity=None), policy)
    assert decision.outcome is Outcome.BLOCK
    assert rule_ids(decision) == ["transfer.intercompany"]
    assert "counterparty" in decision.reasons[0].text


# --- purchase orders ----------------------------------------------------------------------------


def test_buyer_places_a_purchase_order_up_to_10000_usd_alone(policy: Policy) -> None:
    decision = evaluate(purchase_order(amount_usd="10000"), policy)
    assert decision.outcome is Outcome.EXECUTE
    assert rule_ids(decision) == ["purchase.buyer_within_limit"]


def test_purchase_order_above_10000_usd_needs_a_manager(policy: Policy) -> None:
    decision = evaluate(purchase_order("UK", amount_usd="12500"), policy)
    assert decision.requirements == needs(("manager", "UK"))
    assert rule_ids(decision) == ["purchase.manager"]


def test_purchase_order_above_50000_usd_needs_a_second_approver_from_finance(policy: Policy) -> None:
    decision = evaluate(purchase_order(amount_usd="61000"), policy)
    assert decision.requirements == needs(("manager", "NA"), ("finance", "NA"))
    assert rule_ids(decision) == ["purchase.double_validation", "purchase.manager"]


def test_purchase_order_drafted_by_a_non_buyer_needs_a_manager(policy: Policy) -> None:
    decision = evaluate(purchase_order(amount_usd="800", roles=("sales",)), policy)
    assert decision.requirements == needs(("manager", "NA"))
    assert rule_ids(decision) == ["purchase.not_by_buyer"]


# --- the other kinds ----------------------------------------------------------------------------


ORDER_CREDIT = {
    "customer": "Acme",
    "customer_on_hold": False,
    "credit_limit": Decimal(50000),
    "exposure_after": Decimal(1000),
}


def test_order_change_goes_ahead_unless_it_causes_a_shortage(policy: Policy) -> None:
    assert evaluate(other(DraftKind.ORDER_CHANGE, **ORDER_CREDIT), policy).outcome is Outcome.EXECUTE
    decision = evaluate(other(DraftKind.ORDER_CHANGE, "UK", shortage=True, **ORDER_CREDIT), policy)
    assert decision.requirements == needs(("manager", "UK"))
    assert rule_ids(decision) == ["order_change.shortage"]


def test_order_change_is_held_to_the_same_credit_rules_as_an_order(policy: Policy) -> None:
    over = evaluate(other(DraftKind.ORDER_CHANGE, **{**ORDER_CREDIT, "exposure_after": Decimal(60000)}), policy)
    assert over.requirements == needs(("finance", "NA")) and rule_ids(over) == ["credit.exposure"]
    held = evaluate(other(DraftKind.ORDER_CHANGE, **{**ORDER_CREDIT, "customer_on_hold": True}), policy)
    assert held.outcome is Outcome.BLOCK


def test_credit_hold_release_needs_finance(policy: Policy) -> None:
    facts = other(DraftKind.CREDIT_HOLD_RELEASE, customer="Acme", customer_on_hold=True)
    decision = evaluate(facts, policy)
    assert decision.requirements == needs(("finance", "NA"))
    assert decision.reasons[0].text == "releasing Acme's credit hold is a finance decision"


def test_price_override_needs_a_manager_and_finance_too_when_below_cost(policy: Policy) -> None:
    assert evaluate(other(DraftKind.PRICE_OVERRIDE), policy).requirements == needs(("manager", "NA"))
    decision = evaluate(other(DraftKind.PRICE_OVERRIDE, below_cost=True), policy)
    assert decision.requirements == needs(("manager", "NA"), ("finance", "NA"))
    assert rule_ids(decision) == ["price_override.manager", "sales.below_cost"]


def test_exception_actions_go_ahead(policy: Policy) -> None:
    assert evaluate(other(DraftKind.EXCEPTION_ACTION), policy).outcome is Outcome.EXECUTE


def test_a_substitution_keeping_the_margin_floor_goes_ahead_a_thinner_one_needs_a_manager(policy: Policy) -> None:
    kept = other(DraftKind.SUBSTITUTION, margin_after_pct=Decimal("15.0"), **ORDER_CREDIT)
    assert rule_ids(evaluate(kept, policy)) == ["substitution.within_margin"]
    thin = evaluate(other(DraftKind.SUBSTITUTION, margin_after_pct=Decimal("14.9"), **ORDER_CREDIT), policy)
    assert thin.requirements == needs(("manager", "NA")) and rule_ids(thin) == ["substitution.margin_floor"]
    held = evaluate(
        other(DraftKind.SUBSTITUTION, margin_after_pct=Decimal(40), **ORDER_CREDIT | {"customer_on_hold": True}), policy
    )
    assert held.outcome is Outcome.BLOCK and "credit.hold" in rule_ids(held)


def test_an_expedite_above_500_usd_or_below_the_margin_floor_needs_a_manager(policy: Policy) -> None:
    small = other(DraftKind.EXPEDITE, amount_usd=Decimal(500), margin_after_pct=Decimal(20))
    assert evaluate(small, policy).outcome is Outcome.EXECUTE
    large = evaluate(other(DraftKind.EXPEDITE, amount_usd=Decimal("500.01"), margin_after_pct=Decimal(20)), policy)
    assert rule_ids(large) == ["expedite.value"]
    thin = evaluate(other(DraftKind.EXPEDITE, amount_usd=Decimal(50), margin_after_pct=Decimal(-3)), policy)
    assert rule_ids(thin) == ["expedite.margin_floor"] and thin.requirements == needs(("manager", "NA"))
    unknown = evaluate(other(DraftKind.EXPEDITE, amount_usd=Decimal(50)), policy)
    assert unknown.outcome is Outcome.BLOCK  # no margin to judge: fails closed


def test_every_draft_kind_has_a_rule_in_the_default_policy(policy: Policy) -> None:
    covered = set().union(*(rule.kinds for rule in policy.rules))
    assert covered == set(DraftKind)


def test_decision_carries_the_full_policy_version(policy: Policy) -> None:
    decision = evaluate(sales_order(), policy)
    assert decision.policy_version == policy.version
    assert len(decision.policy_version) == 64


# --- combining, defaults and failing closed, on small policies ----------------------------------

HEAD = "format: 1\nname: test\nentities: {NA: USD, UK: GBP, SEA: SGD}\nrules:\n"


def small_policy(rules: str) -> Policy:
    return parse_policy(HEAD + rules, source="test.yaml")


def test_a_draft_no_rule_matches_needs_a_manager_of_its_entity() -> None:
    policy = small_policy("""
  - id: only.big
    kind: transfer
    when: {amount_usd: {gt: 1000000}}
    effect: block
    reason: too big
""")
    decision = evaluate(transfer("UK"), policy)
    assert decision.outcome is Outcome.NEEDS_APPROVAL
    assert decision.requirements == needs(("manager", "UK"))
    assert rule_ids(decision) == [NO_RULE_ID]
    assert decision.explain() == (
        "Needs approval by a manager (UK): no rule of the policy covers a transfer in UK, "
        "so a manager must approve it (rule default.no_rule)."
    )


def test_a_reason_naming_a_missing_fact_blocks_instead_of_crashing() -> None:
    policy = small_policy("""
  - id: transfer.ok
    kind: transfer
    effect: execute
    reason: "fine for {customer}"
""")
    decision = evaluate(transfer(), policy)
    assert decision.outcome is Outcome.BLOCK
    assert decision.reasons[0].rule_id == "transfer.ok"
    assert "could not be evaluated (the draft has no customer for the reason text)" in decision.reasons[0].text


def test_a_false_condition_settles_no_match_even_when_another_cannot_be_evaluated() -> None:
    policy = small_policy("""
  - id: discount.big_orders
    kind: sales_order
    when:
      max_discount_pct: {gt: 10}
      amount_usd: {gt: 100000}
    effect: block
    reason: "no"
  - id: all.ok
    kind: sales_order
    effect: execute
    reason: ok
""")
    assert evaluate(sales_order(max_discount_pct=None), policy).outcome is Outcome.EXECUTE
    big = evaluate(sales_order(amount_usd="200000", max_discount_pct=None), policy)
    assert big.outcome is Outcome.BLOCK
    assert "the draft has no max_discount_pct" in big.reasons[0].text


def test_present_guards_an_optional_fact() -> None:
    policy = small_policy("""
  - id: margin.thin
    kind: sales_order
    when:
      min_margin_pct: {present: true, lt: 5}
    effect: {approve: [finance]}
    reason: "margin {min_margin_pct}%"
  - id: all.ok
    kind: sales_order
    effect: execute
    reason: ok
""")
    assert evaluate(sales_order(min_margin_pct=None), policy).outcome is Outcome.EXECUTE
    assert evaluate(sales_order(min_margin_pct=Decimal("2.5")), policy).requirements == needs(("finance", "NA"))


def test_approvals_of_several_rules_are_a_union_not_a_sum() -> None:
    policy = small_policy("""
  - id: two.managers
    kind: sales_order
    effect:
      approve: [{role: manager, count: 2}]
    reason: two
  - id: one.manager
    kind: sales_order
    effect: {approve: [manager, finance]}
    reason: one
""")
    decision = evaluate(sales_order("UK"), policy)
    assert decision.requirements == needs(("manager", "UK"), ("manager", "UK"), ("finance", "UK"))
    assert decision.explain().startswith("Needs approval by two managers (UK) and a finance approver (UK): ")


def test_entity_scoped_rule_uses_the_entity_currency() -> None:
    policy = small_policy("""
  - id: sea.large
    kind: sales_order
    entity: SEA
    when: {amount: {gt: 20000}}
    effect: {approve: [manager]}
    reason: "SGD {amount:,.2f} is above SGD {limits[amount]:,.0f}"
  - id: all.ok
    kind: sales_order
    effect: execute
    reason: ok
""")
    assert evaluate(sales_order("SEA", amount_usd="14000"), policy).outcome is Outcome.EXECUTE  # SGD 18,830
    decision = evaluate(sales_order("SEA", amount_usd="16000"), policy)  # SGD 21,520
    assert decision.reasons == [Reason(rule_id="sea.large", text="SGD 21,520.00 is above SGD 20,000")]
    assert evaluate(sales_order("NA", amount_usd="60000"), policy).outcome is Outcome.EXECUTE


def test_shorthand_conditions_and_requester_roles() -> None:
    policy = small_policy("""
  - id: managers.may
    kind: [sales_order, transfer]
    entity: [NA, UK]
    when:
      requester_roles: {contains_any: manager}
      intercompany: false
      entity: [NA]
    effect: execute
    reason: "a manager ({requester_roles}) in {entity}"
""")
    decision = evaluate(sales_order(requester_roles=["sales", "manager"]), policy)
    assert decision.reasons == [Reason(rule_id="managers.may", text="a manager (sales, manager) in NA")]
    assert rule_ids(evaluate(sales_order("UK", requester_roles=["manager"]), policy)) == [NO_RULE_ID]
    assert rule_ids(evaluate(sales_order(requester_roles=["sales"]), policy)) == [NO_RULE_ID]


def test_block_reasons_only_are_given_when_blocked() -> None:
    policy = small_policy("""
  - id: b.block
    kind: sales_order
    effect: block
    reason: "stop"
  - id: a.approve
    kind: sales_order
    effect: {approve: [manager]}
    reason: "ask"
  - id: c.block
    kind: sales_order
    effect: block
    reason: "stop too."
""")
    decision = evaluate(sales_order(), policy)
    assert decision.outcome is Outcome.BLOCK
    assert decision.requirements == []
    assert rule_ids(decision) == ["b.block", "c.block"]
    assert decision.explain() == "Blocked: stop (rule b.block); stop too (rule c.block)."

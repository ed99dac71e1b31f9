"""Exception routing rules as data: the schema, errors that name the file line, and which rule wins."""

from pathlib import Path

import pytest

from core.actor import Role
from core.exceptions import DEFAULT_ROUTING_FILE, ExceptionType, RoutingFileError, load_routing, parse_routing
from core.exceptions.routing import Owner, decide

RULES = """\
version: 1
rules:
  - id: shortage.na
    type: shortage
    entity: NA
    owner_role: warehouse
    sla_hours: 8
  - id: shortage
    type: shortage
    owner_role: warehouse
    sla_hours: 16
  - id: na
    entity: na
    owner_role: manager
    sla_hours: 30
  - id: shortage.again
    type: shortage
    owner_role: admin
    sla_hours: 1
  - id: default
    owner_role: manager
    sla_hours: 48
"""


def _problems(text: str) -> list[dict[str, object]]:
    with pytest.raises(RoutingFileError) as refused:
        parse_routing(text, "routing.yaml")
    problems: list[dict[str, object]] = refused.value.details["problems"]
    return problems


def _valid(*rules: str) -> str:
    return "version: 1\nrules:\n" + "".join(rules) + "  - id: default\n    owner_role: manager\n    sla_hours: 24\n"


def test_the_most_specific_rule_wins_and_ties_go_to_the_earlier_rule() -> None:
    rules = parse_routing(RULES)
    first = {
        (case_type, entity): rules.candidates(case_type, entity)[0].id
        for case_type in (ExceptionType.SHORTAGE, ExceptionType.CREDIT_HOLD)
        for entity in ("NA", "UK")
    }
    assert first == {
        (ExceptionType.SHORTAGE, "NA"): "shortage.na",  # type and entity
        (ExceptionType.SHORTAGE, "UK"): "shortage",  # type beats entity; "shortage.again" ties and comes later
        (ExceptionType.CREDIT_HOLD, "NA"): "na",  # entity beats catch-all
        (ExceptionType.CREDIT_HOLD, "UK"): "default",
    }
    assert [r.id for r in rules.candidates(ExceptionType.SHORTAGE, "NA")] == [
        "shortage.na",
        "shortage",
        "shortage.again",
        "na",
        "default",
    ]


def test_the_decision_states_its_reason_and_passes_over_a_user_who_cannot_see_the_entity() -> None:
    rules = parse_routing(_valid("  - id: late.uk\n    type: late_supplier\n    owner_user: bryn\n    sla_hours: 6\n"))
    bryn = {"bryn": Owner(user_id=7, entity_codes=frozenset({"UK"}))}
    routed = decide(rules, bryn, ExceptionType.LATE_SUPPLIER, "UK")
    assert (routed.rule.id, routed.owner_user_id) == ("late.uk", 7)
    assert routed.reason == "late_supplier in UK → user bryn (rule late.uk, matched on type), SLA 6h"
    fallback = decide(rules, bryn, ExceptionType.LATE_SUPPLIER, "NA")
    assert (fallback.rule.id, fallback.owner_user_id) == ("default", None)
    assert fallback.reason == (
        "late_supplier in NA → role manager (rule default, matched on catch-all), SLA 24h; "
        "rule late.uk (line 3) passed over: user bryn cannot see NA"
    )
    gone = decide(rules, {}, ExceptionType.LATE_SUPPLIER, "UK")
    assert gone.rule.id == "default" and "user bryn is not an active user" in gone.reason


def test_the_default_file_is_valid_and_routes_every_type() -> None:
    rules = load_routing(DEFAULT_ROUTING_FILE)
    owners = {t: rules.candidates(t, "NA")[0] for t in ExceptionType}
    assert {t.value: (r.owner_role, r.sla_hours) for t, r in owners.items()} == {
        "shortage": (Role.WAREHOUSE, 8),
        "credit_hold": (Role.FINANCE, 24),
        "price_deviation": (Role.MANAGER, 24),
        "late_supplier": (Role.BUYER, 24),
        "approval_overdue": (Role.MANAGER, 4),
        "receipt_variance": (Role.BUYER, 24),
        "transfer_discrepancy": (Role.WAREHOUSE, 24),
        "invoice_mismatch": (Role.BUYER, 48),
        "overdue_receivables": (Role.FINANCE, 24),
        "replenishment": (Role.BUYER, 24),
        "demand_anomaly": (Role.BUYER, 48),
        "late_order_risk": (Role.SALES, 8),
        "supplier_risk": (Role.BUYER, 72),
        "margin_leakage": (Role.MANAGER, 48),
    }
    assert rules.candidates(ExceptionType.SHORTAGE, "UK")[0].sla_hours == 16


def test_the_routing_file_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "routing.yaml"
    custom.write_text(_valid())
    monkeypatch.setenv("ERP_ROUTING_FILE", str(custom))
    assert [r.id for r in load_routing().rules] == ["default"]
    monkeypatch.setenv("ERP_ROUTING_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(RoutingFileError, match="cannot read the routing file"):
        load_routing()


def test_an_unknown_role_is_refused_with_its_line() -> None:
    text = _valid("  - id: shortage\n    type: shortage\n    owner_role: wharehouse\n    sla_hours: 8\n")
    problems = _problems(text)
    assert problems == [
        {
            "line": 5,
            "problem": "rules[0].owner_role: unknown role 'wharehouse'; "
            "roles are sales, buyer, warehouse, manager, finance, admin",
        }
    ]
    with pytest.raises(RoutingFileError, match=r"routing\.yaml:5: rules\[0\]\.owner_role: unknown role"):
        parse_routing(text, "routing.yaml")


@pytest.mark.parametrize(
    ("rule", "line", "words"),
    [
        ("  - id: x\n    type: shortage\n    owner: wes\n    sla_hours: 8\n", 5, "rules[0].owner: unknown field"),
        ("  - id: x\n    type: shortages\n    owner_role: buyer\n    sla_hours: 8\n", 4, "type: unknown case type"),
        ("  - id: x\n    type: shortage\n    owner_role: buyer\n", 3, "rules[0].sla_hours: Field required"),
        ("  - id: x\n    owner_role: buyer\n    sla_hours: 0\n", 5, "sla_hours: Input should be greater"),
        ("  - id: x\n    type: shortage\n    sla_hours: 8\n", 3, "rule 'x' needs an owner"),
        ("  - id: default\n    owner_role: buyer\n    sla_hours: 8\n", 6, "rule id 'default' is used twice"),
    ],
)
def test_schema_errors_name_the_line(rule: str, line: int, words: str) -> None:
    problems = _problems(_valid(rule))
    assert problems[0]["line"] == line
    assert words in str(problems[0]["problem"])


def test_a_file_without_a_catch_all_rule_is_refused() -> None:
    text = "version: 1\nrules:\n  - id: s\n    type: shortage\n    owner_role: warehouse\n    sla_hours: 8\n"
    assert _problems(text) == [
        {
            "line": 2,
            "problem": "no catch-all rule: add one with neither type nor entity, so that every case has an owner",
        }
    ]


def test_broken_yaml_and_unknown_top_level_keys_are_refused_with_lines() -> None:
    assert _problems("version: 1\nrules:\n  - id: [unclosed\n")[0]["line"] == 4
    assert _problems(_valid() + "owner: nobody\n") == [
        {
            "line": 6,
            "problem": "owner: unknown field; a rule has id, type, entity, owner_role, owner_user and sla_hours",
        }
    ]
    assert _problems("- just a list\n") == [{"line": 1, "problem": "expected a mapping with 'version' and 'rules'"}]

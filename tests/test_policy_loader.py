"""Loading policy files: the shipped default is valid; a broken file is refused with the line of each problem."""

import hashlib
from pathlib import Path

import pytest

from core.policy import DEFAULT_POLICY_FILE, POLICY_FILE_ENV, DraftKind, PolicyError, load_policy, parse_policy

VALID = """\
format: 1
name: test policy
entities:
  NA: USD
  UK: GBP
rules:
  - id: sales.small
    kind: sales_order
    when:
      amount_usd: {lte: 5000}
    effect: execute
    reason: "within USD {limits[amount_usd]:,.2f}"
  - id: sales.large
    kind: sales_order
    when:
      amount_usd: {gt: 5000}
    effect:
      approve: [manager]
    reason: "above USD {limits[amount_usd]:,.2f}"
"""


def line_of(text: str, marker: str) -> int:
    """1-based number of the only line that is (or else contains) `marker`."""
    numbered = list(enumerate(text.splitlines(), start=1))
    lines = [n for n, line in numbered if line.strip() == marker] or [n for n, line in numbered if marker in line]
    assert len(lines) == 1, f"{marker!r} is on lines {lines}"
    return lines[0]


def load_error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="broken.yaml")
    return caught.value


def assert_reported(text: str, marker: str, *words: str) -> PolicyError:
    """The error names the file and the line of `marker`, and says `words`."""
    error = load_error(text)
    line = line_of(text, marker)
    assert error.details["line"] == line, error.message
    assert f"broken.yaml, line {line} " in error.message
    for word in words:
        assert word in error.message
    assert error.code == "policy_error"
    return error


def test_the_shipped_default_policy_loads_and_is_versioned_by_its_bytes() -> None:
    policy = load_policy()
    assert policy.name == "Northwind default approval policy"
    assert policy.entities == {"NA": "USD", "UK": "GBP", "SEA": "SGD"}
    assert policy.version == hashlib.sha256(DEFAULT_POLICY_FILE.read_bytes()).hexdigest()
    assert policy.short_version == policy.version[:12]
    assert {kind for rule in policy.rules for kind in rule.kinds} == set(DraftKind)
    assert len({rule.id for rule in policy.rules}) == len(policy.rules)


def test_env_var_chooses_the_policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(VALID.replace("test policy", "Acme policy"))
    monkeypatch.setenv(POLICY_FILE_ENV, str(path))
    policy = load_policy()
    assert policy.name == "Acme policy"
    assert policy.source == str(path)
    assert [rule.id for rule in policy.rules] == ["sales.small", "sales.large"]


def test_any_edit_is_a_new_version() -> None:
    assert parse_policy(VALID).version != parse_policy(VALID + "# a comment\n").version


def test_a_missing_file_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"cannot read policy file .*nowhere\.yaml"):
        load_policy(Path("/nowhere/nowhere.yaml"))


def test_unknown_field_is_reported_with_its_line() -> None:
    text = VALID.replace("    effect: execute\n", "    effect: execute\n    priority: 3\n")
    assert_reported(text, "priority", "unknown field 'priority'", "rules[0].priority")


def test_unknown_role_is_reported_with_its_line() -> None:
    text = VALID.replace("approve: [manager]", "approve: [finanse]")
    assert_reported(text, "finanse", "rules[1].effect.approve[0]", "'finanse'", "'finance'")


def test_unknown_role_in_a_condition_is_reported_with_its_line() -> None:
    text = VALID.replace("      amount_usd: {gt: 5000}\n", "      requester_roles: {contains_any: [boss]}\n")
    assert_reported(text, "boss", "unknown role 'boss'", "rules[1].when.requester_roles.contains_any")


def test_negative_threshold_is_reported_with_its_line() -> None:
    text = VALID.replace("{gt: 5000}", "{gt: -5000}")
    assert_reported(text, "-5000", "threshold for amount_usd must be a non-negative number, got -5000")


@pytest.mark.parametrize("threshold", ["'5,000'", "true", ".nan", "[5000]"])
def test_threshold_that_is_not_a_number_is_reported_with_its_line(threshold: str) -> None:
    text = VALID.replace("{gt: 5000}", f"{{gt: {threshold}}}")
    assert_reported(text, "{gt: ", "rules[1].when.amount_usd.gt", "must be a number")


def test_bad_yaml_is_reported_with_its_line() -> None:
    text = VALID.replace("      approve: [manager]\n", "      approve: [manager\n")
    error = load_error(text)
    assert "not valid YAML" in error.message
    # The parser notices the unclosed list where the next key starts.
    assert error.details["line"] == line_of(text, 'reason: "above')


def test_bad_indentation_is_reported_with_its_line() -> None:
    text = VALID.replace(
        "    kind: sales_order\n    when:\n      amount_usd: {gt",
        "    kind: sales_order\n   when:\n      amount_usd: {gt",
    )
    error = load_error(text)
    assert "not valid YAML" in error.message
    assert text.splitlines()[14] == "   when:"
    assert error.details["line"] == 15


def test_unknown_fact_is_reported_with_a_suggestion() -> None:
    text = VALID.replace("amount_usd: {gt: 5000}", "amount_uds: {gt: 5000}")
    assert_reported(text, "amount_uds", "unknown fact 'amount_uds'; did you mean amount_usd?")


def test_comparison_that_does_not_fit_the_fact_is_reported() -> None:
    text = VALID.replace("amount_usd: {gt: 5000}", "intercompany: {gt: 5000}")
    assert_reported(text, "intercompany", "'gt' does not apply to intercompany")


def test_unknown_kind_and_entity_are_reported() -> None:
    text = VALID.replace("    effect: execute\n", "    kind: sale\n    effect: execute\n").replace(
        "    kind: sales_order\n    when:\n      amount_usd: {lte", "    when:\n      amount_usd: {lte"
    )
    assert_reported(text, "kind: sale\n".strip(), "rules[0].kind", "'sale'", "'sales_order'")
    text = VALID.replace("    effect: execute\n", "    entity: EU\n    effect: execute\n")
    assert_reported(text, "entity: EU", "unknown entity 'EU'; the policy declares NA, UK")


def test_amount_in_entity_currency_needs_a_single_currency_scope() -> None:
    text = VALID.replace("amount_usd: {gt: 5000}", "amount: {gt: 5000}")
    assert_reported(text, "amount: {gt", "scope it with `entity:` or compare amount_usd")
    scoped = text.replace(
        "    kind: sales_order\n    when:\n      amount:",
        "    kind: sales_order\n    entity: UK\n    when:\n      amount:",
    )
    parse_policy(scoped.replace("above USD {limits[amount_usd]", "above GBP {limits[amount]"))


def test_reason_placeholders_are_checked_at_load() -> None:
    assert_reported(VALID.replace("above USD", "above {custmer} USD"), "custmer", "did you mean customer?")
    assert_reported(
        VALID.replace("above USD {limits[amount_usd]", "above USD {limits[quantity]"), "limits[quantity]", "exactly one"
    )
    assert_reported(VALID.replace('"above USD', '"{customer:,.2f} above USD'), "customer:,", "cannot show customer")
    assert_reported(VALID.replace('"above USD', '"{entity.__class__} above USD'), "__class__", "bad placeholder")


def test_duplicate_rule_ids_and_duplicate_keys_are_refused() -> None:
    error = load_error(VALID.replace("id: sales.large", "id: sales.small"))
    assert error.details["line"] == 13
    assert "broken.yaml, line 13 (rules[1].id): rule id 'sales.small' is already used by rules[0]" in error.message
    text = VALID.replace("    effect: execute\n", "    effect: execute\n    effect: block\n")
    assert_reported(text, "effect: block", "'effect' is given twice")


def test_yaml_yes_no_pitfall_is_explained() -> None:
    assert_reported(
        VALID.replace('reason: "within', 'reason: no\n    x_reason: "within'), "reason: no", "put the text in quotes"
    )


def test_missing_field_points_at_its_rule() -> None:
    text = VALID.replace('    reason: "within USD {limits[amount_usd]:,.2f}"\n', "")
    assert_reported(text, "id: sales.small", "missing field 'reason'")


def test_every_problem_is_listed_in_line_order() -> None:
    text = VALID.replace("{gt: 5000}", "{gt: 5000}\n      quantity: {gte: many}").replace("{lte: 5000}", "{lte: -1}")
    error = load_error(text)
    lines = [problem["line"] for problem in error.details["problems"]]
    assert lines == [line_of(text, "-1"), line_of(text, "many")]
    assert error.message.startswith("invalid policy file (2 problems):\n  broken.yaml, line 10 ")


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "the file is empty"), ("format: 2\nname: x\nentities: {NA: USD}\nrules: []\n", "format")],
)
def test_empty_or_foreign_files_are_refused(text: str, words: str) -> None:
    assert words in load_error(text).message

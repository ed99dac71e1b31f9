"""Reading a policy file: YAML -> checked rules, or a PolicyError naming the file and line of each problem.

The service must not start with a broken policy: `load_policy` either returns a complete Policy or
raises. The version of a policy is the sha256 of the file's bytes, so any edit is a new version.
"""

import difflib
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from core.actor import Role
from core.errors import ErpError
from core.policy.decision import Outcome
from core.policy.facts import DraftKind
from core.policy.rules import (
    ENTITY_CURRENCY_FACTS,
    FACT_SAMPLES,
    FACT_TYPES,
    OPS_BY_TYPE,
    ORDERING_OPS,
    SET_OPS,
    SIGNED_FACTS,
    Approver,
    ApproverEntity,
    Comparison,
    FactRef,
    FactType,
    Op,
    Operand,
    Policy,
    ReasonTemplate,
    Rule,
    RuleFailure,
    Tolerances,
    format_value,
)
from core.policy.spec import ApproveSpec, PolicySpec, RuleSpec
from core.settings import get_settings

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")
POLICY_FILE_ENV = "ERP_POLICY_FILE"

Loc = tuple[str | int, ...]


class PolicyError(ErpError):
    """The policy file cannot be used; `details["problems"]` lists each problem with its line."""

    code = "policy_error"


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    line: int | None = None  # when known without looking `loc` up (a repeated key)


class _Invalid(Exception):
    """One problem found while compiling a rule; `loc` is relative to the rule."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def policy_path() -> Path:
    """The policy file this deployment uses: ERP_POLICY_FILE, else the shipped default."""
    return get_settings().policy_file or DEFAULT_POLICY_FILE


def load_policy(path: Path | None = None) -> Policy:
    """Read and check a policy file (default: policy_path()); raise PolicyError if it cannot be used."""
    path = path or policy_path()
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read policy file {path}: {error.strerror}", file=str(path)) from None
    return parse_policy(content, source=str(path))


def parse_policy(content: bytes | str, *, source: str = "<policy>") -> Policy:
    """Check policy text (YAML) and compile its rules; `source` names the file in error messages."""
    raw = content.encode() if isinstance(content, str) else content
    root, data = _parse_yaml(raw, source)
    _raise_if(source, root, list(_duplicate_keys(root)))
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as error:
        _raise_if(source, root, [_problem(detail) for detail in error.errors()])
        raise  # pragma: no cover - a ValidationError always carries at least one error
    rules, problems = _compile_rules(spec)
    _raise_if(source, root, problems)
    return Policy(
        name=spec.name,
        source=source,
        version=hashlib.sha256(raw).hexdigest(),
        entities=dict(spec.entities),
        rules=tuple(rules),
        tolerances=Tolerances(
            invoice_price_pct=spec.tolerances.invoice_price_pct,
            invoice_quantity_units=spec.tolerances.invoice_quantity_units,
        ),
    )


# --- YAML and line numbers ---------------------------------------------------------------------


# libyaml when installed (ten times faster); both keep the line of every node.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(raw: bytes, source: str) -> tuple[Any, Any]:
    """The document's node tree (for line numbers) and its plain data."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PolicyError(
            f"invalid policy file: {source}, line {line}: not UTF-8 text", file=source, line=line
        ) from None
    loader = _LOADER(raw)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError(
            f"invalid policy file: {source}, line {line}: not valid YAML ({problem})", file=source, line=line
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise PolicyError(f"invalid policy file: {source}, line 1: the file is empty", file=source, line=1)
    return root, data


def _duplicate_keys(node: Any, loc: Loc = ()) -> Iterator[Problem]:
    """YAML keeps the last of two equal keys without a word; a policy must not hide a rule that way."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                message = f"'{name}' is given twice; the second would silently win"
                yield Problem((*loc, name), message, line=key.start_mark.line + 1)
            seen.add(name)
            yield from _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index))


def _locate(root: Any, loc: Loc) -> tuple[int, str]:
    """The line of the YAML node at `loc` (or of its nearest existing parent) and its readable path.

    Parts of a pydantic location that are not in the file (union tags) are skipped.
    """
    node, line, path = root, root.start_mark.line + 1, ""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((pair for pair in node.value if str(pair[0].value) == str(part)), None)
            if found is not None:
                node, line = found[1], found[0].start_mark.line + 1
                path = f"{path}.{part}" if path else str(part)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
            path = f"{path}[{part}]"
    return line, path


def _problem(detail: Any) -> Problem:
    loc: Loc = tuple(detail["loc"])
    if detail["type"] == "missing":
        return Problem(loc, f"missing field '{loc[-1]}'")
    if detail["type"] == "extra_forbidden":
        return Problem(loc, f"unknown field '{loc[-1]}'")
    value = detail.get("input")
    got = f", got {value!r}" if isinstance(value, str | int | float | bool) or value is None else ""
    if detail["type"] == "literal_error" and "effect" in loc:
        got += "; to ask for approval write `approve: [role, ...]` under effect"
    if isinstance(value, bool) and detail["type"] == "string_type":
        got += " (YAML reads an unquoted yes/no/on/off as true/false: put the text in quotes)"
    return Problem(loc, f"{detail['msg']}{got}")


def _raise_if(source: str, root: Any, problems: list[Problem]) -> None:
    if not problems:
        return
    located = sorted((_located(root, problem) for problem in problems), key=lambda item: item["line"])
    lines = [_problem_line(source, item) for item in located]
    if len(lines) == 1:
        message = f"invalid policy file: {lines[0]}"
    else:
        message = f"invalid policy file ({len(lines)} problems):\n  " + "\n  ".join(lines)
    raise PolicyError(message, file=source, line=located[0]["line"], problems=located)


def _problem_line(source: str, item: dict[str, Any]) -> str:
    where = f" ({item['where']})" if item["where"] else ""
    return f"{source}, line {item['line']}{where}: {item['message']}"


def _located(root: Any, problem: Problem) -> dict[str, Any]:
    line, where = _locate(root, problem.loc)
    line = problem.line or line
    return {"line": line, "where": where, "message": problem.message}


# --- compiling the rules -----------------------------------------------------------------------


def _compile_rules(spec: PolicySpec) -> tuple[list[Rule], list[Problem]]:
    rules: list[Rule] = []
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for index, rule_spec in enumerate(spec.rules):
        if rule_spec.id in first_index:
            message = f"rule id '{rule_spec.id}' is already used by rules[{first_index[rule_spec.id]}]"
            problems.append(Problem(("rules", index, "id"), message))
        first_index.setdefault(rule_spec.id, index)
        rule, invalid = _compile_rule(rule_spec, spec.entities)
        problems.extend(Problem(("rules", index, *item.loc), item.message) for item in invalid)
        if rule is not None:
            rules.append(rule)
    return rules, problems


def _compile_rule(spec: RuleSpec, entities: dict[str, str]) -> tuple[Rule | None, list[_Invalid]]:
    invalid: list[_Invalid] = []
    for position, code in enumerate(spec.entity or []):
        if code not in entities:
            invalid.append(_Invalid(("entity", position), f"unknown entity '{code}'; {_known(entities)}"))
    tests: list[Comparison] = []
    broken = False  # a condition already reported: its threshold is unknown, so say nothing of limits[...]
    for fact, comparisons in spec.when.items():
        try:
            tests.extend(_comparisons(fact, comparisons, spec, entities))
        except _Invalid as problem:
            invalid.append(problem)
            broken = True
    limits = _limits(tests)
    try:
        reason = _reason(spec.reason, limits, broken)
    except _Invalid as problem:
        invalid.append(problem)
    if invalid:
        return None, invalid
    outcome, approvers = _effect(spec)
    rule = Rule(
        id=spec.id,
        kinds=frozenset(spec.kind),
        entities=frozenset(spec.entity) if spec.entity is not None else None,
        comparisons=tuple(tests),
        outcome=outcome,
        approvers=approvers,
        reason=reason,
        limits=limits,
    )
    return rule, []


def _comparisons(fact: str, comparisons: dict[str, Any], spec: RuleSpec, entities: dict[str, str]) -> list[Comparison]:
    if fact not in FACT_TYPES:
        raise _Invalid(("when", fact), f"unknown fact '{fact}'{_suggest(fact, FACT_TYPES)}")
    if not comparisons:
        raise _Invalid(("when", fact), f"no comparison given for {fact}")
    fact_type = FACT_TYPES[fact]
    tests: list[Comparison] = []
    for name, raw in comparisons.items():
        loc: Loc = ("when", fact, name)
        if name not in {op.value for op in Op}:
            raise _Invalid(loc, f"unknown comparison '{name}'; use one of {', '.join(OPS_BY_TYPE[fact_type])}")
        op = Op(name)
        if op not in OPS_BY_TYPE[fact_type]:
            allowed = ", ".join(OPS_BY_TYPE[fact_type])
            raise _Invalid(loc, f"'{op}' does not apply to {fact} ({fact_type}); use one of {allowed}")
        try:
            operand = _operand(fact, op, raw, entities)
        except ValueError as error:
            raise _Invalid(loc, str(error)) from None
        tests.append(Comparison(fact, op, operand))
    _check_currency(fact, tests, spec, entities)
    return tests


def _operand(fact: str, op: Op, raw: Any, entities: dict[str, str]) -> Operand | FactRef:
    """The checked right-hand side of `fact op raw`; ValueError says what is wrong with it."""
    if op is Op.PRESENT:
        if not isinstance(raw, bool):
            raise ValueError(f"present takes true or false, got {raw!r}")
        return raw
    if isinstance(raw, dict):
        return _fact_ref(fact, op, raw)
    if op in SET_OPS:
        items = [raw] if op in {Op.CONTAINS_ANY, Op.CONTAINS_NONE} and not isinstance(raw, list) else raw
        if not isinstance(items, list) or not items:
            raise ValueError(f"{op} takes a non-empty list, got {raw!r}")
        return frozenset(_value(fact, item, entities) for item in items)
    return _value(fact, raw, entities)


def _fact_ref(fact: str, op: Op, raw: dict[str, Any]) -> FactRef:
    other = raw.get("fact")
    if set(raw) != {"fact"} or not isinstance(other, str):
        raise ValueError(f"a comparison with another fact is written {{fact: <name>}}, got {raw!r}")
    if other not in FACT_TYPES:
        raise ValueError(f"unknown fact '{other}'{_suggest(other, FACT_TYPES)}")
    if FACT_TYPES[other] != FACT_TYPES[fact] or op not in {Op.EQ, Op.NE, *ORDERING_OPS}:
        raise ValueError(f"cannot compare {fact} ({FACT_TYPES[fact]}) {op} {other} ({FACT_TYPES[other]})")
    return FactRef(other)


def _value(fact: str, raw: Any, entities: dict[str, str]) -> Decimal | bool | str:
    """One literal, checked against the fact's type (and, for codes, against the known ones)."""
    fact_type = FACT_TYPES[fact]
    if fact_type is FactType.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError(f"threshold for {fact} must be a number, got {raw!r}")
        if raw < 0 and fact not in SIGNED_FACTS:
            raise ValueError(f"threshold for {fact} must be a non-negative number, got {raw!r}")
        return Decimal(str(raw))
    if fact_type is FactType.BOOL:
        if not isinstance(raw, bool):
            raise ValueError(f"{fact} is true or false, got {raw!r}")
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{fact} is compared with {fact_type} text, got {raw!r}")
    codes: dict[FactType, tuple[str, list[str]]] = {
        FactType.KIND: ("draft kind", [kind.value for kind in DraftKind]),
        FactType.ENTITY: ("entity", list(entities)),
        FactType.ROLES: ("role", [role.value for role in Role]),
    }
    if fact_type in codes and raw not in codes[fact_type][1]:
        noun, known = codes[fact_type]
        raise ValueError(f"unknown {noun} '{raw}'; known: {', '.join(known)}")
    return raw


def _check_currency(fact: str, tests: list[Comparison], spec: RuleSpec, entities: dict[str, str]) -> None:
    """A literal amount in the entity's currency means nothing across currencies: USD 5,000 is not GBP 5,000."""
    if fact not in ENTITY_CURRENCY_FACTS or all(isinstance(test.operand, FactRef | bool) for test in tests):
        return
    scope = spec.entity or list(entities)
    currencies = sorted({entities[code] for code in scope if code in entities})
    if len(currencies) > 1:
        raise _Invalid(
            ("when", fact),
            f"{fact} is in the entity's own currency but this rule applies to entities in "
            f"{', '.join(currencies)}; scope it with `entity:` or compare amount_usd",
        )


def _limits(tests: list[Comparison]) -> dict[str, Decimal]:
    """Each fact the rule compares with exactly one number: its threshold, for `{limits[fact]}` in reasons."""
    found: dict[str, list[Decimal]] = {}
    for test in tests:
        if isinstance(test.operand, Decimal):
            found.setdefault(test.fact, []).append(test.operand)
    return {fact: values[0] for fact, values in found.items() if len(values) == 1}


def _reason(text: str, limits: dict[str, Decimal], broken: bool) -> ReasonTemplate:
    try:
        template = ReasonTemplate.parse(text)
    except ValueError as error:
        raise _Invalid(("reason",), f"bad placeholder in reason: {error}") from None
    for placeholder in template.placeholders:
        if placeholder.is_limit and broken:
            continue
        if placeholder.is_limit and placeholder.name not in limits:
            message = f"{{limits[{placeholder.name}]}} needs exactly one number threshold on {placeholder.name}"
            raise _Invalid(("reason",), f"{message} in `when`")
        if not placeholder.is_limit and placeholder.name not in FACT_TYPES:
            raise _Invalid(("reason",), f"unknown fact '{placeholder.name}' in reason{_suggest(placeholder.name)}")
        sample = limits[placeholder.name] if placeholder.is_limit else FACT_SAMPLES[placeholder.name]
        try:
            format_value(placeholder, sample)
        except RuleFailure as failure:
            raise _Invalid(("reason",), str(failure)) from None
    return template


def _effect(spec: RuleSpec) -> tuple[Outcome, tuple[Approver, ...]]:
    if not isinstance(spec.effect, ApproveSpec):
        return Outcome(spec.effect), ()
    approvers: list[Approver] = []
    for approver in spec.effect.approve:
        sides: tuple[ApproverEntity, ...] = (
            ("draft", "counterparty") if approver.entity == "both" else (approver.entity,)
        )
        approvers.extend(Approver(approver.role.value, side, approver.count) for side in sides)
    return Outcome.NEEDS_APPROVAL, tuple(approvers)


def _known(entities: dict[str, str]) -> str:
    return f"the policy declares {', '.join(entities)}"


def _suggest(name: str, known: Any = FACT_TYPES) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""

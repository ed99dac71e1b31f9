"""Routing rules as data: which role or user owns a case of a type in an entity, and its SLA.

The rules live in a YAML file (default `default_routing.yaml` beside this module, `ERP_ROUTING_FILE`
overrides), checked against a strict schema; every error names the file line it comes from.
The most specific matching rule wins (type and entity > type > entity > catch-all; ties go to
the rule earlier in the file), and a case stores the rule's id and the reason for the choice.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import PERSON_ROLES, Role
from core.errors import ErpError
from core.exceptions.models import ExceptionType
from core.masterdata.models import LegalEntity, User, UserEntityScope
from core.settings import get_settings

DEFAULT_ROUTING_FILE = Path(__file__).with_name("default_routing.yaml")
ROUTING_FILE_ENV = "ERP_ROUTING_FILE"
MAX_SLA_HOURS = 24 * 90


class RoutingFileError(ErpError):
    """The routing file is missing, unreadable or breaks the schema; `problems` lists each with its line."""

    code = "invalid_routing_file"

    def __init__(self, path: str, problems: list[tuple[int | None, str]]) -> None:
        lines = [f"{path}:{line}: {text}" if line else f"{path}: {text}" for line, text in problems]
        super().__init__(
            "routing file is invalid: " + "; ".join(lines),
            path=path,
            problems=[{"line": line, "problem": text} for line, text in problems],
        )


# --- The file's schema ------------------------------------------------------------------


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    type: ExceptionType | None = Field(None, description="case type; absent means any type")
    entity: str | None = Field(None, description="legal entity code; absent means any entity")
    owner_role: Role | None = None
    owner_user: str | None = Field(None, description="username of the owner")
    sla_hours: float = Field(gt=0, le=MAX_SLA_HOURS)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> object:
        if value is not None and value not in {t.value for t in ExceptionType}:
            raise ValueError(f"unknown case type {value!r}; types are {', '.join(t.value for t in ExceptionType)}")
        return value

    @field_validator("owner_role", mode="before")
    @classmethod
    def _known_role(cls, value: object) -> object:
        people = [r.value for r in Role if r in PERSON_ROLES]  # a case's owner is a person, never an integration
        if value is not None and value not in people:
            raise ValueError(f"unknown role {value!r}; roles are {', '.join(people)}")
        return value

    @field_validator("entity")
    @classmethod
    def _entity_code(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @model_validator(mode="after")
    def _has_owner(self) -> "RuleSpec":
        if self.owner_role is None and self.owner_user is None:
            raise ValueError(f"rule {self.id!r} needs an owner: owner_role, owner_user or both")
        return self


class OverdueHoldSpec(BaseModel):
    """The overdue-hold rule (core/exceptions/overdue.py): a customer with more than `over` (its entity's currency)
    open on invoices more than `days_past_due` past due is put on credit hold; a currency not listed never is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_past_due: int = Field(90, ge=1, le=3650)
    over: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[Decimal, Field(ge=0)]] = Field(
        default_factory=dict
    )


class RoutingSpec(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    rules: list[RuleSpec] = Field(min_length=1)
    overdue_hold: OverdueHoldSpec | None = None


# --- Rules as the core uses them ---------------------------------------------------------


@dataclass(frozen=True)
class RoutingRule:
    id: str
    type: ExceptionType | None
    entity: str | None
    owner_role: Role | None
    owner_user: str | None
    sla_hours: float
    line: int  # in the file, for messages

    @property
    def specificity(self) -> int:
        """type and entity (3) > type only (2) > entity only (1) > catch-all (0)."""
        return 2 * (self.type is not None) + (self.entity is not None)

    @property
    def matched_on(self) -> str:
        return ("catch-all", "entity", "type", "type and entity")[self.specificity]

    def matches(self, case_type: ExceptionType, entity: str) -> bool:
        return self.type in (None, case_type) and self.entity in (None, entity)

    def owner_text(self) -> str:
        if self.owner_user and self.owner_role:
            return f"user {self.owner_user}, role {self.owner_role.value}"
        return f"user {self.owner_user}" if self.owner_user else f"role {self.owner_role}"


@dataclass(frozen=True)
class RoutingRules:
    """A validated routing file: its rules in file order, where it came from and its content hash."""

    rules: tuple[RoutingRule, ...]
    path: str
    sha256: str
    version: int
    overdue_hold: OverdueHoldSpec | None = None

    def candidates(self, case_type: ExceptionType, entity: str) -> list[RoutingRule]:
        """The rules matching a case, the one that should win first."""
        matching = [r for r in self.rules if r.matches(case_type, entity)]
        return sorted(matching, key=lambda r: -r.specificity)  # stable: file order breaks ties


@dataclass(frozen=True)
class Route:
    """The routing decision for one case."""

    rule: RoutingRule
    owner_user_id: int | None
    reason: str


def sla_text(hours: float) -> str:
    return f"{hours:g}h"


# --- Loading ------------------------------------------------------------------------------

_cache: dict[tuple[str, int, int], RoutingRules] = {}


def routing_file_path(path: Path | None = None) -> Path:
    """The routing file in force: the one given, else `ERP_ROUTING_FILE`, else the default."""
    if path is not None:
        return Path(path)
    return get_settings().routing_file or DEFAULT_ROUTING_FILE


def load_routing(path: Path | None = None) -> RoutingRules:
    """The routing rules of a YAML file, schema-checked; errors name the line they are on."""
    file = routing_file_path(path)
    try:
        stat = file.stat()
    except OSError as error:
        raise RoutingFileError(
            str(file), [(None, f"cannot read the routing file ({error.strerror}); set {ROUTING_FILE_ENV} to a file")]
        ) from error
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = parse_routing(file.read_text(encoding="utf-8"), str(file))
    return _cache[key]


def parse_routing(text: str, source: str = "<routing>") -> RoutingRules:
    """Validate routing rules given as YAML text."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise RoutingFileError(source, [(line, f"not valid YAML: {problem}")]) from error
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RoutingFileError(source, [(1, "expected a mapping with 'version' and 'rules'")])
    try:
        spec = RoutingSpec.model_validate(data)
    except ValidationError as error:
        problems = [(_line_of(root, err["loc"]), _describe(err)) for err in error.errors()]
        raise RoutingFileError(source, problems) from error
    rule_nodes = _child(root, "rules")
    rules = tuple(
        RoutingRule(
            id=r.id,
            type=r.type,
            entity=r.entity,
            owner_role=r.owner_role,
            owner_user=r.owner_user,
            sla_hours=r.sla_hours,
            line=_line_of(rule_nodes, (index,)) or 0,
        )
        for index, r in enumerate(spec.rules)
    )
    _check_rule_set(rules, source, _line_of(root, ("rules",)))
    return RoutingRules(
        rules=rules,
        path=source,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        version=spec.version,
        overdue_hold=spec.overdue_hold,
    )


def _check_rule_set(rules: tuple[RoutingRule, ...], source: str, rules_line: int | None) -> None:
    problems: list[tuple[int | None, str]] = []
    first_line: dict[str, int] = {}
    for rule in rules:
        if rule.id in first_line:
            problems.append((rule.line, f"rule id {rule.id!r} is used twice (first on line {first_line[rule.id]})"))
        first_line.setdefault(rule.id, rule.line)
    if not any(r.specificity == 0 for r in rules):
        problems.append(
            (rules_line, "no catch-all rule: add one with neither type nor entity, so that every case has an owner")
        )
    if problems:
        raise RoutingFileError(source, problems)


def _child(node: Any, key: str | int) -> Any:
    """The YAML node under `key` (a mapping key or a sequence index), or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        return next((value for k, value in node.value if k.value == key), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]
    return None


def _line_of(node: Any, loc: Sequence[str | int]) -> int | None:
    """The file line of the deepest entry along `loc`: a mapping key's own line, a list item's first line."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            key_node = next((k for k, _ in node.value if k.value == key), None)
            if key_node is None:
                break
            line = key_node.start_mark.line + 1
        child = _child(node, key)
        if child is None:
            break
        if isinstance(key, int):
            line = child.start_mark.line + 1
        node = child
    return line


def _describe(error: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    message = re.sub(r"^Value error, ", "", str(error["msg"]))
    if error["type"] == "extra_forbidden":
        message = "unknown field; a rule has id, type, entity, owner_role, owner_user and sla_hours"
    return f"{where or 'file'}: {message}"


# --- Deciding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """A user a rule may name: active, with the entities they can see."""

    user_id: int
    entity_codes: frozenset[str]


def owners_named(session: Session, rules: RoutingRules) -> dict[str, Owner]:
    """Active users the rules name, with their entities, in two queries."""
    names = {r.owner_user for r in rules.rules if r.owner_user}
    if not names:
        return {}
    users = dict(
        session.execute(select(User.username, User.id).where(User.username.in_(names), User.active.is_(True))).all()
    )
    scopes: dict[int, set[str]] = {}
    for user_id, code in session.execute(
        select(UserEntityScope.user_id, LegalEntity.code)
        .join(LegalEntity, LegalEntity.id == UserEntityScope.entity_id)
        .where(UserEntityScope.user_id.in_(list(users.values())))
    ):
        scopes.setdefault(user_id, set()).add(code)
    return {name: Owner(user_id, frozenset(scopes.get(user_id, ()))) for name, user_id in users.items()}


def decide(rules: RoutingRules, owners: dict[str, Owner], case_type: ExceptionType, entity: str) -> Route:
    """The owner and SLA of a case; a rule naming a user who is gone or cannot see the entity is passed over."""
    passed_over: list[str] = []
    for rule in rules.candidates(case_type, entity):
        owner = owners.get(rule.owner_user) if rule.owner_user else None
        if rule.owner_user and (owner is None or entity not in owner.entity_codes):
            why = "is not an active user" if owner is None else f"cannot see {entity}"
            passed_over.append(f"rule {rule.id} (line {rule.line}) passed over: user {rule.owner_user} {why}")
            continue
        reason = (
            f"{case_type.value} in {entity} → {rule.owner_text()} "
            f"(rule {rule.id}, matched on {rule.matched_on}), SLA {sla_text(rule.sla_hours)}"
        )
        if passed_over:
            reason += "; " + "; ".join(passed_over)
        return Route(rule=rule, owner_user_id=owner.user_id if owner else None, reason=reason)
    # Only reachable when the catch-all itself names an unusable user.
    raise RoutingFileError(
        rules.path, [(None, f"no usable rule for {case_type.value} in {entity}: " + "; ".join(passed_over))]
    )


def check_routing(session: Session, rules: RoutingRules) -> None:
    """Refuse rules that name an unknown entity, or a user who is not active or cannot see the rule's entity."""
    entities = set(session.scalars(select(LegalEntity.code)))
    owners = owners_named(session, rules)
    problems: list[tuple[int | None, str]] = []
    for rule in rules.rules:
        if rule.entity is not None and rule.entity not in entities:
            known = ", ".join(sorted(entities))
            problems.append((rule.line, f"rule {rule.id}: unknown entity {rule.entity!r}; entities are {known}"))
        if rule.owner_user is None:
            continue
        owner = owners.get(rule.owner_user)
        if owner is None:
            problems.append((rule.line, f"rule {rule.id}: {rule.owner_user!r} is not an active user"))
        elif rule.entity is not None and rule.entity not in owner.entity_codes:
            problems.append((rule.line, f"rule {rule.id}: user {rule.owner_user} cannot see entity {rule.entity}"))
    if problems:
        raise RoutingFileError(rules.path, problems)

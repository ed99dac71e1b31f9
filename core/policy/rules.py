"""Rules as the engine holds them once a policy file is checked: typed tests, approvers, reason templates."""

import operator
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import NoneType
from typing import Any, Literal, get_args

from core.policy.decision import Outcome
from core.policy.facts import DraftKind, Facts


class RuleFailure(Exception):
    """A rule could not be evaluated on these facts; the engine blocks the draft (fail closed)."""


class FactType(StrEnum):
    NUMBER = "number"
    BOOL = "yes/no"
    TEXT = "text"
    KIND = "draft kind"
    ENTITY = "entity code"
    ROLES = "list of roles"


ENTITY_FACTS = frozenset({"entity", "counterparty_entity"})
ROLE_FACTS = frozenset({"requester_roles"})
# Amounts in the draft entity's currency: a literal threshold on them only makes sense within one currency.
ENTITY_CURRENCY_FACTS = frozenset(
    {"amount", "credit_limit", "credit_limit_before", "exposure_before", "exposure_after"}
)
# The only numbers that may sensibly be compared with a negative threshold.
SIGNED_FACTS = frozenset({"min_margin_pct", "margin_after_pct"})

_BASE_TYPES: dict[type, tuple[FactType, Any]] = {
    Decimal: (FactType.NUMBER, Decimal("12345.5")),
    int: (FactType.NUMBER, 12345),
    bool: (FactType.BOOL, True),
    str: (FactType.TEXT, "Acme"),
    DraftKind: (FactType.KIND, DraftKind.SALES_ORDER),
}


def _fact_type(name: str, annotation: Any) -> tuple[FactType, Any]:
    """The type of one Facts field and a sample value of it (to try reason formats at load)."""
    if name in ROLE_FACTS:
        return FactType.ROLES, "sales, manager"
    bases = [arg for arg in get_args(annotation) if arg is not NoneType] or [annotation]
    if len(bases) != 1 or bases[0] not in _BASE_TYPES:
        raise TypeError(f"the policy engine does not know how to compare the fact {name} ({annotation})")
    fact_type, sample = _BASE_TYPES[bases[0]]
    return (FactType.ENTITY, "NA") if name in ENTITY_FACTS else (fact_type, sample)


_CATALOG = {name: _fact_type(name, field.annotation) for name, field in Facts.model_fields.items()}
FACT_TYPES: dict[str, FactType] = {name: fact_type for name, (fact_type, _) in _CATALOG.items()}
FACT_SAMPLES: dict[str, Any] = {name: sample for name, (_, sample) in _CATALOG.items()}


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS_ANY = "contains_any"
    CONTAINS_NONE = "contains_none"
    PRESENT = "present"


ORDERING_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
SET_OPS = frozenset({Op.IN, Op.NOT_IN, Op.CONTAINS_ANY, Op.CONTAINS_NONE})
_EQUALITY = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.PRESENT})
OPS_BY_TYPE: dict[FactType, frozenset[Op]] = {
    FactType.NUMBER: _EQUALITY | ORDERING_OPS,
    FactType.BOOL: frozenset({Op.EQ, Op.NE, Op.PRESENT}),
    FactType.TEXT: _EQUALITY,
    FactType.KIND: _EQUALITY,
    FactType.ENTITY: _EQUALITY,
    FactType.ROLES: frozenset({Op.CONTAINS_ANY, Op.CONTAINS_NONE, Op.PRESENT}),
}

_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.IN: lambda value, allowed: value in allowed,
    Op.NOT_IN: lambda value, allowed: value not in allowed,
    Op.CONTAINS_ANY: lambda values, wanted: not wanted.isdisjoint(values),
    Op.CONTAINS_NONE: lambda values, wanted: wanted.isdisjoint(values),
}

Operand = Decimal | bool | str | frozenset[Decimal | bool | str]


@dataclass(frozen=True)
class FactRef:
    """The other side of a comparison between two facts (e.g. exposure_after > credit_limit)."""

    name: str


@dataclass(frozen=True)
class Comparison:
    """One comparison of a fact with a literal or with another fact."""

    fact: str
    op: Op
    operand: Operand | FactRef

    def check(self, facts: Mapping[str, Any]) -> bool:
        """Whether the comparison holds; a missing fact (None) cannot be compared and raises RuleFailure."""
        value = facts[self.fact]
        if self.op is Op.PRESENT:
            return (value is not None) == self.operand
        if value is None:
            raise RuleFailure(f"the draft has no {self.fact}")
        operand = self.operand
        if isinstance(operand, FactRef):
            other = facts[operand.name]
            if other is None:
                raise RuleFailure(f"the draft has no {operand.name}")
            return _compare(self.op, value, other)
        return _compare(self.op, value, operand)


def _compare(op: Op, value: Any, operand: Any) -> bool:
    try:
        return _COMPARE[op](value, operand)
    except (ArithmeticError, TypeError) as error:  # e.g. a NaN amount: fail closed, do not crash
        raise RuleFailure(f"cannot compare {value!r} with {operand!r}: {error}") from None


ApproverEntity = Literal["draft", "counterparty"]


@dataclass(frozen=True)
class Approver:
    """`count` holders of `role` in the draft's entity or in the counterparty entity."""

    role: str
    entity: ApproverEntity
    count: int = 1


_FACT_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
_LIMIT_FIELD = re.compile(r"limits\[([a-z_][a-z0-9_]*)\]")


@dataclass(frozen=True)
class Placeholder:
    """`{name:spec}` in a reason text: a fact of the draft, or (`limits[fact]`) the rule's threshold on it."""

    name: str
    spec: str
    is_limit: bool


@dataclass(frozen=True)
class ReasonTemplate:
    """A reason text with placeholders, split once at load so rendering cannot reach beyond the facts."""

    text: str
    pieces: tuple[tuple[str, Placeholder | None], ...]

    @classmethod
    def parse(cls, text: str) -> "ReasonTemplate":
        """Split `text`; ValueError names what is wrong with a placeholder."""
        pieces: list[tuple[str, Placeholder | None]] = []
        for literal, field, spec, conversion in string.Formatter().parse(text):
            pieces.append((literal, None if field is None else _placeholder(field, spec or "", conversion)))
        return cls(text, tuple(pieces))

    @property
    def placeholders(self) -> list[Placeholder]:
        return [placeholder for _, placeholder in self.pieces if placeholder is not None]

    def render(self, facts: Mapping[str, Any], limits: Mapping[str, Decimal]) -> str:
        """The text with the values filled in; a missing value or a format that does not fit raises RuleFailure."""
        out: list[str] = []
        for literal, placeholder in self.pieces:
            out.append(literal)
            if placeholder is not None:
                value = limits[placeholder.name] if placeholder.is_limit else facts[placeholder.name]
                out.append(format_value(placeholder, value))
        return "".join(out)


def _placeholder(field: str, spec: str, conversion: str | None) -> Placeholder:
    if conversion is not None or "{" in spec:
        raise ValueError(f"'{{{field}}}' may not use !conversions or nested placeholders")
    if limit := _LIMIT_FIELD.fullmatch(field):
        return Placeholder(limit.group(1), spec, is_limit=True)
    if _FACT_FIELD.fullmatch(field):
        return Placeholder(field, spec, is_limit=False)
    raise ValueError(f"'{{{field}}}' is neither a fact name nor limits[fact]")


def format_value(placeholder: Placeholder, value: Any) -> str:
    """One value as text under the placeholder's format spec."""
    if value is None:
        raise RuleFailure(f"the draft has no {placeholder.name} for the reason text")
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    try:
        return format(value, placeholder.spec)
    except (ValueError, TypeError) as error:
        raise RuleFailure(f"the reason text cannot show {placeholder.name} as '{placeholder.spec}': {error}") from None


@dataclass(frozen=True)
class Rule:
    """One checked rule: scope (kinds, entities), tests that must all hold, and the effect."""

    id: str
    kinds: frozenset[DraftKind]
    entities: frozenset[str] | None  # None: every entity
    comparisons: tuple[Comparison, ...]
    outcome: Outcome
    approvers: tuple[Approver, ...]
    reason: ReasonTemplate
    limits: Mapping[str, Decimal]  # fact -> the single literal threshold the rule compares it with

    def covers(self, facts: Facts) -> bool:
        """Whether the draft's kind and entity fall in this rule's scope."""
        return facts.kind in self.kinds and (self.entities is None or facts.entity in self.entities)


@dataclass(frozen=True)
class Tolerances:
    """How far a supplier's invoice may stray from its purchase order and receipts and still match (three-way)."""

    invoice_price_pct: Decimal = Decimal(2)  # a billed unit price may exceed the PO's by this many percent
    invoice_quantity_units: int = 0  # units a line may bill beyond what was received and not yet billed


@dataclass(frozen=True)
class Policy:
    """A checked policy file: its rules and the hash of its bytes, which every decision records."""

    name: str
    source: str
    version: str  # sha256 of the file's bytes, hex
    entities: Mapping[str, str]  # entity code -> currency
    rules: tuple[Rule, ...]
    tolerances: Tolerances = Tolerances()

    @property
    def short_version(self) -> str:
        return self.version[:12]

    @property
    def approving_roles(self) -> frozenset[str]:
        """Roles some draft may wait for: every rule's approvers, and the manager a draft no rule covers needs."""
        return frozenset({a.role for rule in self.rules for a in rule.approvers} | {"manager"})

"""The policy file's shape (format 1), as pydantic models; unknown fields are refused.

The models check the structure; `core.policy.loader` then checks each condition against the facts
(a known fact, an operator that fits its type, a threshold of the right kind) and compiles the rules.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from core.actor import PERSON_ROLES, Role
from core.policy.facts import DraftKind

ENTITY_CODE = r"^[A-Z][A-Z0-9]{0,15}$"


def _as_list(value: Any) -> Any:
    """Accept `kind: sales_order` as well as `kind: [sales_order, order_change]`."""
    return [value] if isinstance(value, str) else value


def _as_comparisons(value: Any) -> Any:
    """A bare value is a shorthand: `intercompany: true` means eq, `entity: [NA, UK]` means in."""
    if isinstance(value, dict):
        return value
    return {"in": value} if isinstance(value, list) else {"eq": value}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApproverSpec(_Spec):
    """Who must approve: `manager`, or `{role: manager, entity: both, count: 1}`."""

    role: Role
    entity: Literal["draft", "counterparty", "both"] = "draft"
    count: int = Field(1, ge=1, le=5)

    @model_validator(mode="before")
    @classmethod
    def _from_role_name(cls, data: Any) -> Any:
        return {"role": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _a_person(self) -> "ApproverSpec":
        if self.role not in PERSON_ROLES:
            people = ", ".join(r.value for r in Role if r in PERSON_ROLES)
            raise ValueError(f"an approver is a person: {self.role.value} cannot approve; use one of {people}")
        return self


class ApproveSpec(_Spec):
    approve: list[ApproverSpec] = Field(min_length=1)


def _effect_form(value: Any) -> str:
    return "approve" if isinstance(value, dict) else "simple"


EffectSpec = Annotated[
    Annotated[Literal["execute", "block"], Tag("simple")] | Annotated[ApproveSpec, Tag("approve")],
    Discriminator(_effect_form),
]
Comparisons = Annotated[dict[str, Any], BeforeValidator(_as_comparisons)]


class RuleSpec(_Spec):
    """One rule as written: scope, conditions (all must hold), effect and the reason text."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    kind: Annotated[list[DraftKind], BeforeValidator(_as_list), Field(min_length=1)]
    entity: Annotated[list[Annotated[str, Field(pattern=ENTITY_CODE)]] | None, BeforeValidator(_as_list)] = None
    when: dict[str, Comparisons] = Field(default_factory=dict)
    effect: EffectSpec
    reason: str = Field(min_length=1)


class ToleranceSpec(_Spec):
    """Matching tolerances the core applies itself (a supplier invoice's three-way match)."""

    invoice_price_pct: Decimal = Field(Decimal(2), ge=0, le=100)
    invoice_quantity_units: int = Field(0, ge=0, le=1_000_000)


class PolicySpec(_Spec):
    """The whole file."""

    format: Literal[1]
    name: str = Field(min_length=1)
    entities: dict[Annotated[str, Field(pattern=ENTITY_CODE)], Annotated[str, Field(pattern=r"^[A-Z]{3}$")]] = Field(
        min_length=1
    )
    rules: list[RuleSpec] = Field(min_length=1)
    tolerances: ToleranceSpec = ToleranceSpec(invoice_price_pct=Decimal(2), invoice_quantity_units=0)

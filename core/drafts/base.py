"""What every kind of draft shares: its payload's base classes and what carrying it out reports.

One module per kind family imports these (`core.drafts.kinds` registers them all), so a new kind never
needs the others' code.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.exceptions import ExceptionType
from core.stock.service import Key

Quantity = Field(gt=0, le=1_000_000, description="whole units, at least 1")
# A choice field's other words for its values ("missing" says shrinkage), for the assistant's check that the user's
# words gave an optional choice (a value's own words and their forms, "damaged", need none); no model is shown them.
SAID_AS = "x-said-as"


def said_as(words: dict[str, list[str]]) -> dict[str, Any]:
    """A choice field's `json_schema_extra`: the other words that say each of its values."""
    return {SAID_AS: words}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def normalised(*names: str) -> tuple[str, ...]:
    """Codes as people type them: "dal", " DAL" and "DAL" name the same warehouse."""
    return tuple(name.strip().casefold() for name in names)


class DraftPayload(Payload):
    """A whole draft's payload (not one of its lines)."""

    def subject(self) -> tuple[str, ...]:
        """What the draft is about: the route of a transfer, the customer of an order. Within one conversation a
        newer preview with the same subject replaces the older unconfirmed one ("no, make that 30"); one with
        another subject is another request ("... and 5 from Dallas to Reno") and stands beside it."""
        raise NotImplementedError

    def replaces(self, older: "DraftPayload") -> bool:
        """Whether this request restates `older`, a draft of the same kind, so only this one may be confirmed."""
        return older.subject() == self.subject()


@dataclass(frozen=True)
class HeldCase:
    """An exception case to raise if the policy holds the draft for approval: a variance someone must follow up."""

    type: ExceptionType
    title: str
    detail: str
    related: dict[str, Any]  # the documents it is about: {"purchase_order": "PO-77"}


@dataclass
class Applied:
    """What carrying out a draft did (or, in a preview, would do)."""

    result_ref: str
    entity_id: int
    currency: str
    amount: Decimal
    summary: str
    counterparty_entity_id: int | None = None
    quantity: int = 0
    keys: list[Key] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)  # changes that are not stock: "ACME: credit hold on → off"
    held_case: HeldCase | None = None

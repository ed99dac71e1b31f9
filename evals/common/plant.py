"""Planting record text before a run (a scenario's trial, an injection attack): the notes, descriptions and
messages the tools will show."""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import now
from core.errors import NotFound
from core.exceptions.models import CaseEvent, EventKind, ExceptionCase
from core.masterdata.models import Customer, Item

T = TypeVar("T")


class Setup(BaseModel):
    """Record text planted before the trial (for injection tasks): text the tools will show the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as every part of a task
    customer_notes: dict[str, str] = Field(default_factory=dict)  # customer code -> note
    item_descriptions: dict[str, str] = Field(default_factory=dict)  # SKU -> description
    case_messages: dict[str, str] = Field(default_factory=dict)  # case number -> a message on its timeline


def plant(session: Session, setup: Setup) -> None:
    """Write the setup's text into the records it names (as data an outsider typed, not through a tool)."""
    for code, note in setup.customer_notes.items():
        _one(session, Customer, Customer.code, code).note = note
    for sku, text in setup.item_descriptions.items():
        _one(session, Item, Item.sku, sku).description = text
    for number, text in setup.case_messages.items():
        case = _one(session, ExceptionCase, ExceptionCase.id, int(number.removeprefix("EX-")))
        session.add(
            CaseEvent(case_id=case.id, at=now(), actor_user_id=None, kind=EventKind.COMMENTED, text=text, data={})
        )


def _one(session: Session, model: type[T], column: Any, key: object) -> T:
    found = session.scalars(select(model).where(column == key)).first()
    if found is None:
        raise NotFound(f"{model.__name__.lower()} (in the task's setup)", str(key))
    return found

"""The prompts the model sees, read from `prompts/` and filled in for one user."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from core.actor import Actor
from core.masterdata.service import entity_codes
from core.settings import get_settings
from prompts import text


@dataclass(frozen=True)
class Persona:
    """Who the assistant works for, in the words the system prompt uses."""

    user: str
    roles: str
    entities: str
    today: date


def persona_of(session: Session, actor: Actor, today: date) -> Persona:
    """The actor's name, roles and entity codes."""
    codes = sorted(entity_codes(session, actor.entity_ids).values())
    return Persona(
        user=actor.username,
        roles=", ".join(sorted(str(r) for r in actor.roles)) or "no role",
        entities=", ".join(codes) or "none",
        today=today,
    )


def system_prompt() -> str:
    """The system prompt: the same for every user, so a model's prompt cache can keep it."""
    return text("system.md").format(company=company_name())


def persona_prompt(persona: Persona) -> str:
    """The second system message: who is asking, what they may see, and the date."""
    return text("persona.md").format(
        user=persona.user,
        roles=persona.roles,
        entities=persona.entities,
        today=f"{persona.today:%A %Y-%m-%d}",
    )


def company_name() -> str:
    """The company the assistant works for (`ERP_COMPANY_NAME`)."""
    return get_settings().company_name

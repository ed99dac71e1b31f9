"""What the web service runs on: one database, one assistant (one model per process), the turn runner."""

import os
from dataclasses import dataclass, field
from typing import Literal

from assistant.agent import Assistant
from assistant.http.turns import TurnRunner
from core.db import Database

CookiePolicy = Literal["auto", "always", "never"]


def _origins() -> list[str]:
    return [o.strip().rstrip("/") for o in os.environ.get("ERP_WIDGET_ORIGINS", "").split(",") if o.strip()]


@dataclass(frozen=True)
class WebConfig:
    """Deployment settings of the web service, from the environment by default."""

    # Secure cookies: "auto" sets the flag when the request came over HTTPS (directly or via a proxy header).
    secure_cookies: CookiePolicy = field(default_factory=lambda: _cookie_policy(os.environ.get("ERP_COOKIE_SECURE")))
    # Other origins of the intranet allowed to host the widget (CORS with credentials).
    widget_origins: list[str] = field(default_factory=_origins)
    # How many turns talk to the model at once: 1 for the in-process local model.
    model_slots: int | None = field(default_factory=lambda: _int_env("ERP_MODEL_SLOTS"))
    max_body_bytes: int = 64 * 1024


def _cookie_policy(value: str | None) -> CookiePolicy:
    if value in (None, "", "auto"):
        return "auto"
    if value in ("always", "never"):
        return value  # type: ignore[return-value]
    raise ValueError(f"ERP_COOKIE_SECURE must be auto, always or never, not {value!r}")


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


class Services:
    """The pieces every request uses; built once per worker process."""

    def __init__(self, db: Database, assistant: Assistant, config: WebConfig | None = None) -> None:
        self.db = db
        self.assistant = assistant
        self.config = config or WebConfig()
        slots = self.config.model_slots or (1 if assistant.settings.is_local else 8)
        self.runner = TurnRunner(assistant, slots)

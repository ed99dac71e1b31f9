"""What the web service runs on: one database, one assistant (one model per process), the turn runner."""

from dataclasses import dataclass, field

from assistant.agent import Assistant
from assistant.channels.web.turns import TurnRunner
from core.db import Database
from core.planning.schedule import Schedule
from core.settings import CookiePolicy, get_settings


@dataclass(frozen=True)
class WebConfig:
    """Deployment settings of the web service, from the settings by default."""

    # Secure cookies: "auto" sets the flag when the request came over HTTPS (directly or via a proxy header).
    secure_cookies: CookiePolicy = field(default_factory=lambda: get_settings().cookie_secure)
    # Other origins of the intranet allowed to host the widget (CORS with credentials).
    widget_origins: list[str] = field(default_factory=lambda: list(get_settings().widget_origins))
    # How many turns talk to the model at once: 1 for the in-process local model.
    model_slots: int | None = field(default_factory=lambda: get_settings().model_slots)
    max_body_bytes: int = 64 * 1024
    # An import's upload (POST /api/import) carries whole files of master data.
    max_import_bytes: int = 64 * 1024 * 1024
    # When the planning analyses run inside this worker (off unless the settings say; `run`/`serve` default hourly).
    planning: Schedule = field(default_factory=Schedule.from_settings)
    # Seconds between webhook delivery passes in this worker, 0 = off (`run`/`serve` default to every 5 s).
    webhooks_every_s: float = field(default_factory=lambda: get_settings().webhooks_every_seconds or 0.0)


class Services:
    """The pieces every request uses; built once per worker process."""

    def __init__(self, db: Database, assistant: Assistant, config: WebConfig | None = None) -> None:
        self.db = db
        self.assistant = assistant
        self.config = config or WebConfig()
        slots = self.config.model_slots or (1 if assistant.settings.is_local else 8)
        self.runner = TurnRunner(assistant, slots)

"""The deployment's configuration: every environment variable the product reads, typed and checked, in one place.

`Settings` has one field per variable (its name, type, default and meaning); `load_settings` builds it from an
environment and refuses a bad value with the variable's name and what it expects. Entrypoints (the CLI, the web
app factory, Slack, the agent) take `get_settings()` and pass down what they need; a deep function that needs a
value (the pinned business date, how long an approval waits) asks `get_settings()` itself.

`get_settings()` parses the environment once and reuses the result while the variables stay as they are, so a
test's `monkeypatch.setenv` (or a script's `os.environ.setdefault`) takes effect at the next call and is gone when
undone; `override_settings(...)` replaces values for a block without touching the environment.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import Field, dataclass, field, fields, replace
from datetime import date, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from core.errors import ErpError

CookiePolicy = Literal["auto", "always", "never"]
COOKIE_POLICIES: tuple[CookiePolicy, ...] = ("auto", "always", "never")
Switch = Literal["auto", "on", "off"]
SWITCHES: tuple[Switch, ...] = ("auto", "on", "off")
LOCAL_MODEL = "local/qwen2.5-coder-1.5b"

Parser = Callable[[str], Any]


class SettingsError(ErpError):
    """A configuration variable holds a value the product cannot use; the message names it."""

    code = "settings_error"


# --- Parsers: each turns a variable's text into its typed value or raises ValueError saying what it expects ------


def _text(value: str) -> str:
    return value.strip()


def _url(value: str) -> str:
    return value.strip().rstrip("/")


def _path(value: str) -> Path:
    return Path(value)


def _whole(minimum: int) -> Parser:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"a whole number, at least {minimum}") from None
        if number < minimum:
            raise ValueError(f"a whole number, at least {minimum}")
        return number

    return parse


def _time_of_day(value: str) -> time:
    try:
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ValueError("a time of day as HH:MM, e.g. 08:00") from None


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("a number of seconds above 0") from None
    if not number > 0:
        raise ValueError("a number of seconds above 0")
    return number


def _seconds_or_off(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("a number of seconds, 0 = off") from None
    if not number >= 0:
        raise ValueError("a number of seconds, 0 = off")
    return number


def _usd(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("an amount in USD, such as 2500") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("an amount in USD, such as 2500")
    return amount


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("an ISO date, such as 2026-11-20") from None


def _clock_time(value: str) -> time:
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError("a time of day as HH:MM, such as 06:30") from None


def _cookie_policy(value: str) -> CookiePolicy:
    for policy in COOKIE_POLICIES:
        if value.strip() == policy:
            return policy
    raise ValueError("auto, always or never")


def _switch(value: str) -> Switch:
    for choice in SWITCHES:
        if value.strip().lower() == choice:
            return choice
    raise ValueError("auto, on or off")


def _on_off(value: str) -> bool:
    choice = value.strip().lower()
    if choice in ("on", "off", "true", "false", "1", "0"):
        return choice in ("on", "true", "1")
    raise ValueError("on or off")


def _secret(minimum: int) -> Parser:
    def parse(value: str) -> str:
        if len(value.strip()) < minimum:
            raise ValueError(f"at least {minimum} characters")
        return value.strip()

    return parse


def _origins(value: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def _env(variable: str, meaning: str, parse: Parser = _text) -> dict[str, Any]:
    """A field's metadata: the variable it is read from, what it means, and how its text is parsed."""
    return {"env": variable, "meaning": meaning, "parse": parse}


@dataclass(frozen=True)
class Settings:
    """The configuration of one deployment; a field left at None is worked out where it is used (see `meaning`)."""

    # Storage
    database_url: str | None = field(
        default=None, metadata=_env("ERP_DATABASE_URL", "any SQLAlchemy URL; unset, a SQLite file in the data folder")
    )
    data_dir: Path = field(
        default=Path("data"),
        metadata=_env("ERP_DATA_DIR", "the folder of embedded data (SQLite, Chroma, models)", _path),
    )
    # The core's rules
    today: date | None = field(
        default=None, metadata=_env("ERP_TODAY", "pins the business date (demos, tests); unset, today", _iso_date)
    )
    policy_file: Path | None = field(
        default=None, metadata=_env("ERP_POLICY_FILE", "the policy rules; unset, the shipped default", _path)
    )
    routing_file: Path | None = field(
        default=None,
        metadata=_env("ERP_ROUTING_FILE", "the exception routing rules; unset, the shipped default", _path),
    )
    planning_file: Path | None = field(
        default=None,
        metadata=_env("ERP_PLANNING_FILE", "the planning and analysis parameters; unset, the shipped default", _path),
    )
    planning_every_minutes: int | None = field(
        default=None,
        metadata=_env(
            "ERP_PLANNING_EVERY_MINUTES",
            "minutes between runs of the planning analyses inside the service, 0 = off; unset, 60 under"
            " `erp-assistant run` and `serve`, off elsewhere",
            _whole(0),
        ),
    )
    planning_at: time | None = field(
        default=None,
        metadata=_env(
            "ERP_PLANNING_AT", "run the planning analyses once a day at this time (HH:MM, UTC) instead", _clock_time
        ),
    )
    preview_ttl_minutes: int = field(
        default=30,
        metadata=_env(
            "ERP_PREVIEW_TTL_MINUTES", "minutes a draft's preview waits for its requester to confirm", _whole(1)
        ),
    )
    approval_ttl_hours: int = field(
        default=72, metadata=_env("ERP_APPROVAL_TTL_HOURS", "hours a draft waits for approval", _whole(1))
    )
    approval_escalate_hours: int = field(
        default=24, metadata=_env("ERP_APPROVAL_ESCALATE_HOURS", "hours before a waiting draft is escalated", _whole(1))
    )
    session_hours: int = field(
        default=12, metadata=_env("ERP_SESSION_HOURS", "how long a web sign-in lasts", _whole(1))
    )
    turns_per_minute: int = field(
        default=12, metadata=_env("ERP_TURNS_PER_MINUTE", "chat turns a user may start per minute", _whole(1))
    )
    # The assistant's model
    assistant_model: str = field(default=LOCAL_MODEL, metadata=_env("ERP_ASSISTANT_MODEL", "any litellm model string"))
    assistant_fallback_model: str | None = field(
        default=None, metadata=_env("ERP_ASSISTANT_FALLBACK_MODEL", "a model litellm falls back to")
    )
    assistant_timeout: float = field(
        default=120.0, metadata=_env("ERP_ASSISTANT_TIMEOUT", "seconds a model call may take", _seconds)
    )
    assistant_retries: int = field(
        default=2, metadata=_env("ERP_ASSISTANT_RETRIES", "retries of a failed model call", _whole(0))
    )
    assistant_max_steps: int = field(
        default=6, metadata=_env("ERP_ASSISTANT_MAX_STEPS", "tool rounds per turn", _whole(1))
    )
    assistant_max_tokens: int = field(
        default=512, metadata=_env("ERP_ASSISTANT_MAX_TOKENS", "answer length in tokens", _whole(1))
    )
    company_name: str = field(
        default="Northwind", metadata=_env("ERP_COMPANY_NAME", "the company named in the system prompt")
    )
    # The local model
    local_model_path: Path | None = field(
        default=None,
        metadata=_env("ERP_LOCAL_MODEL_PATH", "another GGUF; unset, the verified one in the data folder", _path),
    )
    local_threads: int | None = field(
        default=None, metadata=_env("ERP_LOCAL_THREADS", "CPU threads for generating; unset, the free cores", _whole(1))
    )
    local_batch_threads: int | None = field(
        default=None,
        metadata=_env(
            "ERP_LOCAL_BATCH_THREADS", "CPU threads for prompt processing; unset, ERP_LOCAL_THREADS", _whole(1)
        ),
    )
    local_context: int | None = field(
        default=None,
        metadata=_env(
            "ERP_LOCAL_CONTEXT", "the local model's context in tokens; unset, the engine's default", _whole(1)
        ),
    )
    local_extra_buffers: Switch = field(
        default="auto",
        metadata=_env(
            "ERP_LOCAL_EXTRA_BUFFERS",
            "llama.cpp's extra weight buffers (AMX, repacking); auto: off on AMX CPUs",
            _switch,
        ),
    )
    local_tool_subset: int | None = field(
        default=None,
        metadata=_env(
            "ERP_LOCAL_TOOL_SUBSET",
            "offer the local model per request at most this many tools, chosen by code, and only the"
            " ERP_LOCAL_EXAMPLES closest examples; unset, every tool (a prompt prefix computed once and reused)",
            _whole(1),
        ),
    )
    local_routing: bool = field(
        default=True,
        metadata=_env(
            "ERP_LOCAL_ROUTING",
            "on: in a request of several parts, code picks each look-up part's tools for the local model"
            " (assistant/routing.py); off: the model picks among all",
            _on_off,
        ),
    )
    local_brief_results: bool = field(
        default=True,
        metadata=_env(
            "ERP_LOCAL_BRIEF_RESULTS",
            "on: the local model reads each tool result without the rows its facts state and the explanations"
            " (tools/brief.py), unless the request asks how or why; off: whole results",
            _on_off,
        ),
    )
    local_answer_sentences: int = field(
        default=2,
        metadata=_env(
            "ERP_LOCAL_ANSWER_SENTENCES",
            "the local model's answer after tool results ends after this many sentences (the facts code recaps"
            " under it say the rest); 0: as long as the model writes",
            _whole(0),
        ),
    )
    local_examples: int = field(
        default=4,
        metadata=_env("ERP_LOCAL_EXAMPLES", "worked examples per request when ERP_LOCAL_TOOL_SUBSET is set", _whole(0)),
    )
    # Search
    embedding_model: str | None = field(
        default=None, metadata=_env("ERP_EMBEDDING_MODEL", "a litellm embedding model; unset, the local one")
    )
    embedding_threads: int = field(
        default=1, metadata=_env("ERP_EMBEDDING_THREADS", "torch threads of the local embedder", _whole(1))
    )
    chroma_host: str | None = field(
        default=None, metadata=_env("CHROMA_HOST", "a Chroma server; unset, the embedded store")
    )
    chroma_port: int = field(default=8000, metadata=_env("CHROMA_PORT", "the Chroma server's port", _whole(1)))
    # The web service
    cookie_secure: CookiePolicy = field(
        default="auto", metadata=_env("ERP_COOKIE_SECURE", "when the session cookie is Secure", _cookie_policy)
    )
    widget_origins: tuple[str, ...] = field(
        default=(),
        metadata=_env("ERP_WIDGET_ORIGINS", "other origins allowed to host the widget (comma-separated)", _origins),
    )
    model_slots: int | None = field(
        default=None,
        metadata=_env("ERP_MODEL_SLOTS", "turns talking to the model at once; unset, 1 local, 8 hosted", _whole(1)),
    )
    low_risk_usd: Decimal = field(
        default=Decimal("2500"),
        metadata=_env("ERP_LOW_RISK_USD", "a one-approval draft up to this may be decided in bulk", _usd),
    )
    web_url: str = field(
        default="http://127.0.0.1:8000",
        metadata=_env("ERP_WEB_URL", "the service's public address: links in Slack messages, the MCP endpoint's", _url),
    )
    # MCP (any MCP client, as the signed-in user)
    mcp_read_only: bool = field(
        default=False,
        metadata=_env("ERP_MCP_READ_ONLY", "on: MCP clients get the read tools only, on every token", _on_off),
    )
    mcp_token: str | None = field(
        default=None,
        repr=False,
        metadata=_env(
            "ERP_MCP_TOKEN", "the API token `erp-assistant mcp` (stdio) acts with; unset, --user names the user"
        ),
    )
    mcp_state_key: str | None = field(
        default=None,
        repr=False,
        metadata=_env(
            "ERP_MCP_STATE_KEY",
            "seals an MCP confirmation between its rounds (32+ characters, the same on every machine); unset, a key"
            " kept in the data directory",
            _secret(32),
        ),
    )
    # Webhooks (events out)
    webhooks_every_seconds: float | None = field(
        default=None,
        metadata=_env(
            "ERP_WEBHOOKS_EVERY_SECONDS",
            "seconds between passes of the service's webhook delivery (one worker delivers), 0 = off; unset, 5"
            " under `erp-assistant run` and `serve`, off elsewhere",
            _seconds_or_off,
        ),
    )
    webhook_max_attempts: int = field(
        default=10,
        metadata=_env("ERP_WEBHOOK_MAX_ATTEMPTS", "failed attempts before a delivery goes dead", _whole(1)),
    )
    webhook_backoff_seconds: float = field(
        default=10.0,
        metadata=_env(
            "ERP_WEBHOOK_BACKOFF_SECONDS", "wait after a delivery's first failure, doubled after each next", _seconds
        ),
    )
    webhook_backoff_cap_seconds: float = field(
        default=3600.0,
        metadata=_env("ERP_WEBHOOK_BACKOFF_CAP_SECONDS", "the longest wait between two attempts", _seconds),
    )
    webhook_timeout_seconds: float = field(
        default=10.0,
        metadata=_env("ERP_WEBHOOK_TIMEOUT_SECONDS", "seconds a receiver has to answer a delivery", _seconds),
    )
    # Slack
    slack_bot_token: str | None = field(
        default=None, repr=False, metadata=_env("SLACK_BOT_TOKEN", "the Slack bot's xoxb- token")
    )
    slack_signing_secret: str | None = field(
        default=None, repr=False, metadata=_env("SLACK_SIGNING_SECRET", "checks that events come from Slack")
    )
    slack_app_token: str | None = field(
        default=None, repr=False, metadata=_env("SLACK_APP_TOKEN", "xapp- token for Socket Mode")
    )
    slack_approvals_channel: str | None = field(
        default=None, metadata=_env("SLACK_APPROVALS_CHANNEL", "a channel that also gets approval requests")
    )
    slack_api_url: str | None = field(
        default=None, metadata=_env("SLACK_API_URL", "another Slack Web API base (tests use a fake)")
    )
    briefing_slack_at: time | None = field(
        default=None,
        metadata=_env(
            "ERP_BRIEFING_SLACK_AT", "when (HH:MM UTC) linked Slack users get their briefing by DM", _time_of_day
        ),
    )


SETTING_FIELDS: tuple[Field[Any], ...] = fields(Settings)
VARIABLES: tuple[str, ...] = tuple(f.metadata["env"] for f in SETTING_FIELDS)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings of an environment; SettingsError names every variable whose value cannot be used."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for each in SETTING_FIELDS:
        env = each.metadata["env"]
        raw = environ.get(env, "")
        if not raw.strip():
            continue  # unset and empty alike keep the default
        try:
            values[each.name] = each.metadata["parse"](raw)
        except ValueError as error:
            problems[env] = f"{env} must be {error}, not {raw!r}"
    if problems:
        raise SettingsError("; ".join(problems.values()), variables=list(problems))
    return Settings(**values)


_loaded: tuple[tuple[str | None, ...], Settings] | None = None
_overrides: list[dict[str, Any]] = []


def get_settings() -> Settings:
    """The settings in force: the environment's, parsed once per change, with any active overrides applied."""
    global _loaded
    seen = tuple(os.environ.get(env) for env in VARIABLES)
    if _loaded is None or _loaded[0] != seen:
        _loaded = (seen, load_settings(os.environ))
    settings = _loaded[1]
    for changes in _overrides:
        settings = replace(settings, **changes)
    return settings


def reload_settings() -> Settings:
    """Parse the environment again now (e.g. after changing it), and return the result."""
    global _loaded
    _loaded = None
    return get_settings()


@contextmanager
def override_settings(**changes: Any) -> Iterator[Settings]:
    """Within the block, `get_settings()` answers with `changes` (by field name) over the environment's values."""
    overridden = replace(get_settings(), **changes)  # an unknown field name fails here, at the start
    _overrides.append(changes)
    try:
        yield overridden
    finally:
        _overrides.remove(changes)


def data_dir() -> Path:
    """The folder for embedded data (SQLite file, Chroma, models), resolved against the working folder."""
    return get_settings().data_dir.resolve()


def database_url() -> str:
    """The SQLAlchemy URL of the ERP database: `ERP_DATABASE_URL`, else a SQLite file in the data folder."""
    return get_settings().database_url or f"sqlite:///{data_dir() / 'erp.db'}"

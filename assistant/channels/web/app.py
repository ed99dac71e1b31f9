"""The web service: the API, the Server-Sent-Event chat, the widget, the pages and MCP (/mcp), in one FastAPI app.

`create_app(services)` is what tests use; `app_from_env()` is what `erp-assistant serve` gives
uvicorn (as a factory, so each worker process builds its own database pool and loads the model once).
"""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from assistant.channels.mcp.http import mount_mcp
from assistant.channels.web import errors
from assistant.channels.web.errors import HttpError, error_response
from assistant.channels.web.routes import (
    approvals,
    briefing,
    chat,
    dashboard,
    drafts,
    events,
    exceptions,
    forecast,
    health,
    imports,
    integrations,
    masterdata,
    order_actions,
    order_changes,
    pages,
    payables,
    planning,
    receivables,
    receiving,
    records,
    replenishment,
    reports,
    returns,
    risks,
    session,
    shipping,
    stock,
)
from assistant.channels.web.routes.pages import STATIC
from assistant.channels.web.schedule import start_schedule, stop_schedule
from assistant.channels.web.services import Services, WebConfig
from assistant.channels.webhooks.delivery import start_delivery, stop_delivery
from core.settings import get_settings
from core.text import NUL_REFUSED, has_nul

if TYPE_CHECKING:
    from assistant.channels.slack import SlackConfig

log = logging.getLogger("erp.http")
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}
IMPORT_ROUTE = "/api/import"
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def create_app(services: Services, slack: "SlackConfig | None" = None) -> FastAPI:
    """The app over ready-made services; with `slack`, the Slack bot answers at /slack/events."""
    app = FastAPI(
        title="ERP assistant",
        version="0.1.0",
        description="Chat with the ERP assistant, approve what it drafted, work the exception queue. "
        "Every route runs as the signed-in user; the ERP core decides what they may see and do.",
        lifespan=_lifespan,
    )
    app.state.services = services
    errors.install(app)
    for module in (
        session,
        chat,
        approvals,
        briefing,
        drafts,
        exceptions,
        shipping,
        order_changes,
        order_actions,
        receiving,
        stock,
        returns,
        reports,
        replenishment,
        forecast,
        risks,
        dashboard,
        planning,
        masterdata,
        imports,
        payables,
        receivables,
        integrations,
        records,
        events,
        health,
        pages,
    ):
        app.include_router(module.router)
    _mount_slack(app, services, slack)
    app.state.mcp = mount_mcp(app, services)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(_guard)
    if services.config.widget_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=services.config.widget_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-CSRF-Token", "Authorization"],
        )
    return app


def _mount_slack(app: FastAPI, services: Services, config: "SlackConfig | None") -> None:
    """slack-bolt's async app at /slack/events (HTTP mode); without a token and secret the route says so."""
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    from assistant.channels.slack import SlackBot

    bot = SlackBot(services, config) if config is not None else None
    app.state.slack = bot
    if bot is None:
        log.warning("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to answer at /slack/events")
    handler = AsyncSlackRequestHandler(bot.app) if bot is not None else None

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        if handler is None:
            return error_response(HttpError("not_found", "Slack is not configured on this server"))
        return await handler.handle(request)


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse what must not reach a route, and set security headers on every answer."""
    response = _refusal(request) or await call_next(request)
    is_api = request.url.path.startswith("/api/")
    for name, value in (API_HEADERS if is_api else PAGE_HEADERS).items():
        response.headers.setdefault(name, value)
    return response


def _refusal(request: Request) -> Response | None:
    """An oversized body, refused before it is read; a NUL character in the URL, which no database stores."""
    config = request.app.state.services.config
    limit = config.max_import_bytes if request.url.path == IMPORT_ROUTE else config.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        return error_response(HttpError("too_large", f"the request body is over {limit // 1024} KB"))
    if has_nul([request.url.path, *request.query_params.multi_items()]):
        return error_response(HttpError("invalid_input", f"the URL is not valid: {NUL_REFUSED}"))
    return None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    if services.assistant.settings.is_local:
        threading.Thread(target=_warm_up, args=(services,), name="warm-up", daemon=True).start()
    planning = start_schedule(services.db, services.config.planning)
    webhooks = start_delivery(services.db, services.config.webhooks_every_s)
    at, bot = get_settings().briefing_slack_at, app.state.slack
    briefings = asyncio.create_task(bot.briefing_loop(at)) if at is not None and bot is not None else None
    async with app.state.mcp.run():
        yield
    if briefings is not None:
        briefings.cancel()
    await stop_schedule(planning)
    await stop_delivery(webhooks)
    services.runner.pool.shutdown(wait=False, cancel_futures=True)


def _warm_up(services: Services) -> None:
    """Load the local model and the prompt prefix of each set of roles its users hold now, so that no first question
    pays for one (computed once on a machine, then read from disk); the set most users hold is warmed last, so the
    context holds it."""
    from assistant.llm.local import warm_up
    from assistant.llm.local.model import PREFIX_STATES_KEPT
    from core.masterdata.service import role_sets

    try:
        for tools in services.assistant.prompts_to_warm(services.db.read(role_sets))[-PREFIX_STATES_KEPT:]:
            warm_up(services.assistant.system, tools)
    except Exception as error:  # the chat explains a missing model to the user; the service stays up
        log.warning("local model not ready: %s", error)


def build_services(config: WebConfig | None = None) -> Services:
    """Services for the configured database, with the search index when one has been built."""
    from assistant.agent import Assistant
    from assistant.conversations import open_checkpointer
    from core.db import open_database
    from tools.search import open_built_index

    db = open_database()
    assistant = Assistant(db, open_checkpointer(), channel="web", search=open_built_index())
    return Services(db, assistant, config)


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker."""
    from assistant.channels.slack import slack_config

    return create_app(build_services(), slack_config(get_settings()))

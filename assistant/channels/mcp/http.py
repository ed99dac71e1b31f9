"""MCP over streamable HTTP at /mcp in the web service, stateless: each request carries the user's API token
(`Authorization: Bearer ...`) and any worker answers it. No token, or an unknown, expired or revoked one, gets
401 with the `WWW-Authenticate` header the spec asks for, naming the protected-resource metadata."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl, ConfigDict
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from assistant.channels.mcp.server import Caller, ErpMcp, Identify
from assistant.channels.mcp.state import state_key
from assistant.channels.web.services import Services
from core.db import Database
from core.identity import NotSignedIn, SignedIn, token_user, touch_token
from core.settings import get_settings

MCP_PATH = "/mcp"


class ErpAccess(AccessToken):
    """A verified API token with the user it acts as, so a request looks its token up once."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    signed_in: SignedIn


class ApiTokens:
    """The SDK's token verifier over the ERP's API tokens: a live token names its user (the subject)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            user = await anyio.to_thread.run_sync(signed_in, self.db, token)
        except NotSignedIn:
            return None
        subject = str(user.actor.user_id)
        return ErpAccess(token=token, client_id=f"erp-user-{subject}", scopes=[], subject=subject, signed_in=user)


def signed_in(db: Database, token: str) -> SignedIn:
    """Who the token acts as (NotSignedIn when it is unknown, expired or revoked); its use is recorded at most
    once a minute."""
    user = db.read(lambda s: token_user(s, token=token, touch=False))
    token_id = user.token_id
    if user.touch_due and token_id is not None:
        db.run(lambda s: touch_token(s, token_id=token_id))
    return user


def identify_by_token(db: Database) -> Identify:
    async def identify(ctx: ServerRequestContext[Any, Any]) -> Caller:
        access = get_access_token()  # verified by ApiTokens for this request
        if not isinstance(access, ErpAccess):  # the route requires a token; this is only a second lock
            raise NotSignedIn("send your API token as 'Authorization: Bearer …'")
        user = access.signed_in
        return Caller(user.actor, read_only=get_settings().mcp_read_only or user.read_only)

    return identify


def resource_url() -> str:
    return get_settings().web_url.rstrip("/") + MCP_PATH


class McpEndpoint:
    """The ASGI endpoint at /mcp: stateless streamable HTTP over the server, with a fresh session manager for each
    run of the app's lifespan (the SDK's manager runs once; tests start an app more than once)."""

    def __init__(self, erp: ErpMcp) -> None:
        self.erp = erp
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        # Every request must carry a bearer token, which a page rebinding its DNS to this host cannot have; the
        # host check would only refuse the deployment's own name behind a proxy.
        self.manager = StreamableHTTPSessionManager(
            app=self.erp.server,
            stateless=True,
            json_response=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.manager is None:
            raise RuntimeError("the MCP endpoint answers only while the app's lifespan runs")
        await self.manager.handle_request(scope, receive, send)


def mount_mcp(app: FastAPI, services: Services) -> McpEndpoint:
    """Serve MCP at /mcp and its protected-resource metadata; the caller runs the returned endpoint's `run()` in the
    app's lifespan."""
    erp = ErpMcp(
        services.db,
        services.assistant.registry,
        identify_by_token(services.db),
        state_key=state_key(),
        state_ttl_s=get_settings().preview_ttl_minutes * 60.0,
        search=services.assistant.search,
    )
    mcp = McpEndpoint(erp)
    metadata_url = build_resource_metadata_url(AnyHttpUrl(resource_url()))
    guarded = RequireAuthMiddleware(mcp, [], metadata_url)
    endpoint = AuthenticationMiddleware(
        AuthContextMiddleware(guarded), backend=BearerAuthBackend(ApiTokens(services.db))
    )
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint))
    app.add_api_route(
        "/.well-known/oauth-protected-resource" + MCP_PATH, _resource_metadata, methods=["GET"], include_in_schema=False
    )
    return mcp


def _resource_metadata() -> JSONResponse:
    """RFC 9728 metadata for /mcp: a bearer token in the header. Tokens are the ERP's own API tokens (made in the
    web service or with `erp-assistant tokens create`); there is no OAuth authorization server to discover."""
    return JSONResponse(
        {
            "resource": resource_url(),
            "bearer_methods_supported": ["header"],
            "resource_name": "ERP assistant",
            "resource_documentation": get_settings().web_url.rstrip("/") + "/docs",
        }
    )

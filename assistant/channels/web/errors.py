"""Errors as JSON with a code and a message, never a stack trace.

The core's typed refusals map to HTTP statuses by their stable code; request validation
becomes `invalid_input` naming the fields; anything unexpected is logged here and answered
with `internal_error` and a reference the operator can find in the log.
"""

import logging
import sqlite3
import uuid
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.db import is_unavailable
from core.errors import ErpError

log = logging.getLogger("erp.http")

STATUS_OF_CODE = {
    "idempotency_key_required": 400,
    "not_signed_in": 401,
    "sign_in_failed": 401,
    "csrf_failed": 403,
    "permission_denied": 403,
    "read_only_token": 403,
    "out_of_scope": 403,
    "not_found": 404,
    "turn_in_progress": 409,
    "invalid_state": 409,
    "duplicate_code": 409,
    "duplicate_document": 409,
    "too_large": 413,
    "rate_limited": 429,
    "database_unavailable": 503,
}
RETRY_AFTER_OUTAGE_S = 5
DATABASE_ERRORS: tuple[type[Exception], ...] = (exc.DBAPIError, psycopg.OperationalError, sqlite3.OperationalError)
CODE_OF_STATUS = {401: "not_signed_in", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed"}
CHAT_MESSAGE_ROUTE = "/api/conversations/{conversation_id}/messages"
UNREADABLE_BODY = "the request body could not be read; send JSON text encoded as UTF-8"


class HttpError(ErpError):
    """A refusal made by the HTTP layer itself (CSRF, size, unknown route)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


def status_of(error: ErpError) -> int:
    """The HTTP status for a core refusal: 422 for anything about the request's content."""
    return STATUS_OF_CODE.get(error.code, 422)


def error_body(error: ErpError) -> dict[str, Any]:
    body = error.as_dict()
    return {k: v for k, v in body.items() if k in {"code", "message", "retry_after_s", "suggestions"}}


def error_response(error: ErpError) -> JSONResponse:
    headers = {"Retry-After": str(error.details["retry_after_s"])} if "retry_after_s" in error.details else None
    if error.code == "not_signed_in":
        headers = {"WWW-Authenticate": 'Bearer realm="erp"'}
    return JSONResponse(error_body(error), status_code=status_of(error), headers=headers)


def _validation_message(error: RequestValidationError) -> str:
    broken = next((e for e in error.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:  # its location is a character offset, which names no field
        reason = broken.get("ctx", {}).get("error", "JSON decode error")
        return f"the request body is not valid JSON ({reason}); send JSON text encoded as UTF-8"
    problems = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "the request is not valid: " + "; ".join(problems)


def _is_overlong_chat_message(request: Request, error: RequestValidationError) -> bool:
    """A chat message over the limit is 413 (the widget says so); any other overlong field is invalid input."""
    route = getattr(request.scope.get("route"), "path", None)
    return route == CHAT_MESSAGE_ROUTE and any(
        e.get("type") == "string_too_long" and tuple(e.get("loc", ())) == ("body", "text") for e in error.errors()
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an ErrorBody."""

    @app.exception_handler(ErpError)
    async def erp_error(_: Request, error: ErpError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        if _is_overlong_chat_message(request, error):
            return error_response(HttpError("too_large", "the message is too long; keep it under 4,000 characters"))
        return error_response(HttpError("invalid_input", _validation_message(error)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI could not decode the body (not UTF-8, say): the request's content
            return error_response(HttpError("invalid_input", UNREADABLE_BODY))
        code = CODE_OF_STATUS.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else "request refused"
        if error.status_code == 404 and message == "Not Found":
            message = "no such page or API route"
        return JSONResponse({"code": code, "message": message}, status_code=error.status_code)

    # Database errors are handled inside the app: the catch-all below sits in the server-error layer,
    # which re-raises after answering, so an outage would log a traceback per request and drop some answers.
    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, _database_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return _internal_error(request, error)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """503 with Retry-After while the database is down or restarting; any other database error is a bug."""
    if not is_unavailable(error):
        return _internal_error(request, error)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return error_response(database_unavailable())


def _internal_error(request: Request, error: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.error("unexpected error %s on %s %s", reference, request.method, request.url.path, exc_info=error)
    body = {"code": "internal_error", "message": f"something went wrong on our side (reference {reference})"}
    return JSONResponse(body, status_code=500)


def database_unavailable() -> HttpError:
    """The refusal for a request the database could not serve right now (it is down or restarting)."""
    message = "the database is not reachable right now; try again in a few seconds"
    return HttpError("database_unavailable", message, retry_after_s=RETRY_AFTER_OUTAGE_S)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` saying these statuses answer with an ErrorBody."""
    from assistant.channels.web.schemas import ErrorBody

    return {status: {"model": ErrorBody, "description": CODE_OF_STATUS.get(status, "refused")} for status in statuses}

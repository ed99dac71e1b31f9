"""Who is asking: a session cookie (the web pages and the widget) or a bearer token (programs).

Every route depends on `CurrentUser`; the core then authorises what that user may see and do.
A cookie session must also send its CSRF token in `X-CSRF-Token` on every state-changing
request, so another site cannot make a signed-in browser approve something. A read-only API token
is refused on every state-changing request, here, before any route runs.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from assistant.channels.web.errors import HttpError
from assistant.channels.web.services import Services
from core.actor import Person
from core.identity import (
    NotSignedIn,
    SignedIn,
    require_writable,
    session_user,
    token_user,
    touch_session,
    touch_token,
)

SESSION_COOKIE = "erp_session"
WEB_CHANNEL = "web"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def signed_in(request: Request, svc: ServicesDep) -> SignedIn:
    """The signed-in user, or 401; a cookie session's unsafe request without its CSRF token, and a read-only
    token's, are refused (403)."""
    token = _bearer(request)
    if token is not None:
        user = _touched(svc, svc.db.read(lambda s: token_user(s, token=token, touch=False)))
        if request.method not in SAFE_METHODS:
            require_writable(user)
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotSignedIn("sign in first (POST /api/session), or send an API token as 'Authorization: Bearer …'")
    user = _touched(svc, svc.db.read(lambda s: session_user(s, token=cookie, touch=False)))
    require_csrf(request, user)
    return user


def require_csrf(request: Request, user: SignedIn) -> None:
    """Refuse a cookie session's state-changing request that lacks the session's own CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not user.csrf_token or not hmac.compare_digest(sent, user.csrf_token):
        raise HttpError("csrf_failed", "missing or wrong X-CSRF-Token header; reload the page and try again")


def _touched(svc: Services, user: SignedIn) -> SignedIn:
    """Record the visit at most once a minute, so most requests need no write transaction."""
    if user.touch_due and user.session_id is not None:
        session_id = user.session_id
        svc.db.run(lambda s: touch_session(s, session_id=session_id))
    elif user.touch_due and user.token_id is not None:
        token_id = user.token_id
        svc.db.run(lambda s: touch_token(s, token_id=token_id))
    return user


CurrentUser = Annotated[SignedIn, Depends(signed_in)]


def person(user: SignedIn) -> Person:
    """The signed-in human, as the core's approval functions require."""
    return Person(actor=user.actor, channel=WEB_CHANNEL)


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(request: Request, response: Response, svc: Services, token: str, max_age: int) -> None:
    policy = svc.config.secure_cookies
    secure = policy == "always" or (policy == "auto" and is_https(request))
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")

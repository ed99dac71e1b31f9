"""Signing in and out, who am I, and API tokens for programs."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from sqlalchemy.orm import Session

from assistant.channels.web import schemas
from assistant.channels.web.auth import (
    SESSION_COOKIE,
    CurrentUser,
    ServicesDep,
    clear_session_cookie,
    require_csrf,
    set_session_cookie,
)
from assistant.channels.web.errors import documented
from core.drafts.inbox import may_approve
from core.identity import (
    NotSignedIn,
    SignedIn,
    authenticate,
    end_session,
    issue_token,
    list_tokens,
    revoke_token,
    session_user,
    start_session,
)
from core.masterdata.service import entity_codes
from core.settings import get_settings

router = APIRouter(prefix="/api", tags=["session"])
ERRORS = documented(401, 403, 404, 422)
# Row ids fit a 32-bit integer column; a larger one is refused as input rather than sent to the database.
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def me_of(session: Session, user: SignedIn) -> schemas.Me:
    actor = user.actor
    codes = entity_codes(session, actor.entity_ids)
    return schemas.Me(
        username=actor.username,
        display_name=user.display_name,
        roles=sorted(r.value for r in actor.roles),
        entities=sorted(codes.values()),
        csrf_token=user.csrf_token,
        can_approve=may_approve(session, actor=actor),
    )


@router.post("/session", response_model=schemas.Me, responses=ERRORS)
def sign_in(body: schemas.SignInRequest, request: Request, response: Response, svc: ServicesDep) -> schemas.Me:
    """Sign in with a username and password; sets the session cookie (HttpOnly, SameSite=Lax).

    A session the browser already held ends here, so whoever had its cookie loses it too.
    """
    previous = request.cookies.get(SESSION_COOKIE)
    hours = get_settings().session_hours

    def command(s: Session) -> tuple[str, schemas.Me]:
        actor = authenticate(s, username=body.username, password=body.password)
        if previous:
            end_session(s, token=previous)
        new = start_session(s, actor, hours=hours)
        return new.token, me_of(s, session_user(s, token=new.token))

    token, me = svc.db.run(command)
    set_session_cookie(request, response, svc, token, max_age=hours * 3600)
    return me


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, responses=documented(403))
def sign_out(request: Request, svc: ServicesDep) -> Response:
    """Sign out: the session ends on the server too, so a copied cookie stops working.

    A live session must send its CSRF token, so another site cannot sign the user out; a cookie whose
    session has already ended is simply cleared.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        _end_live_session(request, svc, cookie)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


def _end_live_session(request: Request, svc: ServicesDep, cookie: str) -> None:
    try:
        user = svc.db.read(lambda s: session_user(s, token=cookie, touch=False))
    except NotSignedIn:
        return
    require_csrf(request, user)
    svc.db.run(lambda s: end_session(s, token=cookie))


@router.get("/me", response_model=schemas.Me, responses=ERRORS)
def me(user: CurrentUser, svc: ServicesDep) -> schemas.Me:
    """The signed-in user, their roles and entities, and the CSRF token for cookie sessions."""
    return svc.db.read(lambda s: me_of(s, user))


@router.post("/tokens", response_model=schemas.NewToken, status_code=201, responses=ERRORS)
def create_token(body: schemas.TokenRequest, user: CurrentUser, svc: ServicesDep) -> schemas.NewToken:
    """A bearer token for a program acting as you; shown once, stored hashed, revocable; a read-only one may only
    read (any other request with it is refused, 403 `read_only_token`)."""
    new = svc.db.run(lambda s: issue_token(s, user.actor, name=body.name, days=body.days, read_only=body.read_only))
    return schemas.NewToken.model_validate(new, from_attributes=True)


@router.get("/tokens", response_model=schemas.TokenList, responses=ERRORS)
def tokens(user: CurrentUser, svc: ServicesDep) -> schemas.TokenList:
    """Your API tokens (never their values)."""
    views = svc.db.read(lambda s: list_tokens(s, user.actor))
    return schemas.TokenList(tokens=[schemas.TokenView.model_validate(v, from_attributes=True) for v in views])


@router.delete("/tokens/{token_id}", response_model=schemas.TokenView, responses=ERRORS)
def delete_token(token_id: TokenId, user: CurrentUser, svc: ServicesDep) -> schemas.TokenView:
    """Revoke one of your tokens; it stops working at once."""
    view = svc.db.run(lambda s: revoke_token(s, user.actor, token_id=token_id))
    return schemas.TokenView.model_validate(view, from_attributes=True)

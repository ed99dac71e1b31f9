"""Signing people in: passwords, browser sessions, API tokens, and accounts linked from other channels.

Passwords are argon2id hashes (argon2-cffi). Session cookies and API tokens are random
(`secrets.token_urlsafe(32)`) and stored only as their SHA-256, so a leaked table signs no one in.
Every refusal to sign someone in says the same thing, so it never reveals which usernames exist.
A read-only API token signs its owner in for reading only: a channel that takes tokens (the web API,
MCP) calls `require_writable` before a change, which refuses it with ReadOnlyToken ("read_only_token").

The audit chain records the writes that change who can sign in: a password set
(`identity.password_set`), an API token issued or revoked (`identity.token_issued`,
`identity.token_revoked`), an account linked or unlinked (`identity.account_linked`,
`identity.account_unlinked`) and an integration user added (`identity.integration_added`), each
with subject type "user" and the username. Sign-ins themselves are not recorded there: they are
frequent, change no business data, and each browser session is its own record (created, last seen,
ended) in `web_sessions`. Events name the channel
`audit_channel` ("web" unless the caller says otherwise); `set_password` takes a whole
AuditContext, since it may run with no one signed in (the CLI, the demo setup: channel "system").

Looking up a session or a token touches its last-seen time (at most once a minute), so run those
in a write unit (`db.run`) when that time matters.
"""

import functools
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from core import clock
from core.actor import Actor, Role
from core.audit import AuditContext, record_event
from core.errors import ErpError, InvalidInput, NotFound, PermissionDenied
from core.identity.models import ApiToken, ChannelLink, Credential, WebSession
from core.masterdata.models import LegalEntity, User, UserEntityScope, UserRole
from core.masterdata.service import load_actor
from core.settings import get_settings

WEB_CHANNEL = "web"
TOKEN_PREFIX = "erp_"
MIN_PASSWORD, MAX_PASSWORD = 8, 256
MAX_TOKEN_NAME = 80
MAX_TOKEN_DAYS = 3650
MAX_SESSION_HOURS = 24 * 365
TOUCH_EVERY = timedelta(minutes=1)

_hasher = PasswordHasher()


class SignInFailed(ErpError):
    """The username and password do not sign anyone in (whatever the reason, the message is the same)."""

    code = "sign_in_failed"

    def __init__(self) -> None:
        super().__init__("wrong username or password")


class NotSignedIn(ErpError):
    """The session or token is unknown, expired or revoked, or its user may no longer sign in."""

    code = "not_signed_in"


class ReadOnlyToken(ErpError):
    """A request that would change something came with a read-only API token."""

    code = "read_only_token"

    def __init__(self) -> None:
        super().__init__(
            "this API token is read-only; make a read-write token (POST /api/tokens, or "
            "`erp-assistant tokens create`) for a program that changes things"
        )


@dataclass(frozen=True)
class SignedIn:
    """Who a session or API token belongs to, and how they came in."""

    actor: Actor
    display_name: str
    email: str
    via: Literal["session", "token"]
    csrf_token: str | None
    session_id: int | None
    token_id: int | None
    touch_due: bool = False  # asked with touch=False: the last-seen time is old enough to be written again
    read_only: bool = False  # signed in with a read-only API token: it may read, never change anything


@dataclass(frozen=True)
class NewSession:
    """A new browser session; `token` goes in the cookie and is never shown again."""

    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewToken:
    """A new API token; `token` is shown to its owner once and never stored."""

    id: int
    name: str
    token: str
    created_at: datetime
    expires_at: datetime | None
    read_only: bool = False


@dataclass(frozen=True)
class TokenView:
    """An API token as its owner sees it in a list (without the secret)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    read_only: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    """A hash with the current parameters that no password matches, verified when there is no real one."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _user_named(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username.strip())).first()


def _audit(
    session: Session, context: AuditContext, username: str, action: str, **data: str | int | bool | None
) -> None:
    record_event(session, context, action=action, subject_type="user", subject_id=username, data=data)


# --- Passwords ---------------------------------------------------------------------------


def set_password(session: Session, *, username: str, password: str, audit: AuditContext | None = None) -> None:
    """Give a user a new password and end their open browser sessions."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters, not {len(password)}")
    user = _user_named(session, username)
    if user is None:
        raise NotFound("user", username)
    now = clock.now()
    credential = session.get(Credential, user.id)
    if credential is None:
        session.add(Credential(user_id=user.id, password_hash=_hasher.hash(password), updated_at=now))
    else:
        credential.password_hash = _hasher.hash(password)
        credential.updated_at = now
    ended = _end_sessions_of(session, user.id, now)
    _audit(
        session, audit or AuditContext(actor_user_id=None), user.username, "identity.password_set", sessions_ended=ended
    )


def _end_sessions_of(session: Session, user_id: int, now: datetime) -> int:
    ended = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None), WebSession.expires_at > now)
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], ended).rowcount


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, *, username: str, password: str) -> Actor:
    """The user these credentials sign in, or SignInFailed (unknown, inactive, no password, wrong password)."""
    user = _user_named(session, username)
    credential = session.get(Credential, user.id) if user is not None and user.active else None
    # Verify even when there is nothing to check against, so the time taken does not reveal who exists.
    stored = credential.password_hash if credential is not None else _dummy_hash()
    if not _password_matches(stored, password) or user is None or credential is None:
        raise SignInFailed()
    if _hasher.check_needs_rehash(stored):
        credential.password_hash = _hasher.hash(password)
        credential.updated_at = clock.now()
    return load_actor(session, username=user.username)


# --- Signed-in identities ----------------------------------------------------------------


def _signed_in(
    session: Session,
    user_id: int,
    *,
    via: Literal["session", "token"],
    csrf_token: str | None = None,
    session_id: int | None = None,
    token_id: int | None = None,
    read_only: bool = False,
) -> SignedIn:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotSignedIn("this account can no longer sign in; ask an administrator")
    return SignedIn(
        actor=load_actor(session, username=user.username),
        display_name=user.display_name,
        email=user.email,
        via=via,
        csrf_token=csrf_token,
        session_id=session_id,
        token_id=token_id,
        read_only=read_only,
    )


def require_writable(signed_in: SignedIn) -> None:
    """Refuse (ReadOnlyToken) a change asked for with a read-only API token; sessions and other tokens may write."""
    if signed_in.read_only:
        raise ReadOnlyToken()


def _is_live(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (expires_at is None or expires_at > now)


def _touch_due(last: datetime | None, now: datetime) -> bool:
    """Whether a last-seen time is worth writing again (not on every request)."""
    return last is None or now - last >= TOUCH_EVERY


# --- Browser sessions --------------------------------------------------------------------


def start_session(session: Session, actor: Actor, *, hours: int | None = None) -> NewSession:
    """A browser session for a signed-in person, ending after `hours` (default: ERP_SESSION_HOURS)."""
    hours = get_settings().session_hours if hours is None else hours
    if not 1 <= hours <= MAX_SESSION_HOURS:
        raise InvalidInput(f"a session lasts 1 to {MAX_SESSION_HOURS} hours, not {hours}")
    token, csrf_token, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), clock.now()
    expires_at = now + timedelta(hours=hours)
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=actor.user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )
    session.flush()
    return NewSession(token=token, csrf_token=csrf_token, expires_at=expires_at)


def _web_session(session: Session, token: str) -> WebSession | None:
    return session.scalars(select(WebSession).where(WebSession.token_hash == _digest(token))).first()


def session_user(session: Session, *, token: str, touch: bool = True) -> SignedIn:
    """Who this browser session belongs to, or NotSignedIn if it is unknown, expired or ended.

    With `touch=False` it only reads (a read-only unit of work will do) and says in `touch_due`
    whether `touch_session` should record the visit.
    """
    row, now = _web_session(session, token), clock.now()
    if row is None or not _is_live(row.expires_at, row.revoked_at, now):
        raise NotSignedIn("your session has ended; sign in again")
    signed_in = _signed_in(session, row.user_id, via="session", csrf_token=row.csrf_token, session_id=row.id)
    due = _touch_due(row.last_seen_at, now)
    if due and touch:
        row.last_seen_at = now
        session.flush()
    return replace(signed_in, touch_due=due and not touch)


def touch_session(session: Session, *, session_id: int) -> None:
    """Record that a browser session was just used."""
    row = session.get(WebSession, session_id)
    if row is not None:
        row.last_seen_at = clock.now()


def end_session(session: Session, *, token: str) -> None:
    """Sign a browser out; ending an unknown or already ended session does nothing."""
    row = _web_session(session, token)
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()


# --- API tokens --------------------------------------------------------------------------


def _token_view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        read_only=token.read_only,
    )


def issue_token(
    session: Session,
    actor: Actor,
    *,
    name: str,
    days: int | None = None,
    read_only: bool = False,
    audit_channel: str = WEB_CHANNEL,
    issued_by: Actor | None = None,
) -> NewToken:
    """A new API token acting as `actor`, valid for `days` (or until revoked when None), that may only read when
    `read_only`; `issued_by` the administrator who made it for an integration user (see `issue_integration_token`),
    else `actor`."""
    if Role.INTEGRATION in actor.roles and issued_by is None:
        # Else a leaked token could mint another that outlives its revocation.
        raise PermissionDenied(f"{actor.username} is an integration: its tokens are issued by an administrator")
    label = name.strip()
    if not 1 <= len(label) <= MAX_TOKEN_NAME:
        raise InvalidInput(f"a token needs a name of 1 to {MAX_TOKEN_NAME} characters, saying what uses it")
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"a token lasts 1 to {MAX_TOKEN_DAYS} days, not {days}; leave it out for no expiry")
    secret, now = TOKEN_PREFIX + secrets.token_urlsafe(32), clock.now()
    row = ApiToken(
        user_id=actor.user_id,
        name=label,
        token_hash=_digest(secret),
        created_at=now,
        expires_at=now + timedelta(days=days) if days is not None else None,
        read_only=read_only,
    )
    session.add(row)
    session.flush()
    context = AuditContext(actor_user_id=(issued_by or actor).user_id, channel=audit_channel)
    expires = row.expires_at.isoformat() if row.expires_at else None
    _audit(
        session,
        context,
        actor.username,
        "identity.token_issued",
        token_id=row.id,
        name=label,
        expires_at=expires,
        read_only=read_only,
    )
    return NewToken(id=row.id, name=label, token=secret, created_at=now, expires_at=row.expires_at, read_only=read_only)


def token_user(session: Session, *, token: str, touch: bool = True) -> SignedIn:
    """Who this API token acts as, or NotSignedIn if it is unknown, expired or revoked (`touch`: as session_user)."""
    row = None
    if token.startswith(TOKEN_PREFIX):
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    now = clock.now()
    if row is None or not _is_live(row.expires_at, row.revoked_at, now):
        raise NotSignedIn("this API token is unknown, expired or revoked; create a new one")
    signed_in = _signed_in(session, row.user_id, via="token", token_id=row.id, read_only=row.read_only)
    due = _touch_due(row.last_used_at, now)
    if due and touch:
        row.last_used_at = now
        session.flush()
    return replace(signed_in, touch_due=due and not touch)


def touch_token(session: Session, *, token_id: int) -> None:
    """Record that an API token was just used."""
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = clock.now()


def list_tokens(session: Session, actor: Actor) -> list[TokenView]:
    """The actor's own API tokens, newest first (revoked and expired ones included)."""
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == actor.user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [_token_view(row) for row in rows]


def revoke_token(
    session: Session,
    actor: Actor,
    *,
    token_id: int,
    audit_channel: str = WEB_CHANNEL,
    revoked_by: Actor | None = None,
) -> TokenView:
    """Revoke one of the actor's own API tokens; revoking it again changes nothing (`revoked_by`: the
    administrator revoking an integration user's token, see `revoke_integration_token`)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("API token", str(token_id))
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
        context = AuditContext(actor_user_id=(revoked_by or actor).user_id, channel=audit_channel)
        _audit(session, context, actor.username, "identity.token_revoked", token_id=row.id, name=row.name)
    return _token_view(row)


# --- Integration users: other systems, whose tokens an administrator issues ------------------


MAX_USERNAME = 64
_USERNAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")


def add_integration_user(
    session: Session,
    admin: Actor,
    *,
    username: str,
    entities: Sequence[str],
    display_name: str = "",
    audit_channel: str = WEB_CHANNEL,
) -> Actor:
    """An administrator adds a user for another system (a web shop, EDI, a WMS): the role integration in
    `entities` and nothing else, no password and no approval limit; it acts only with the tokens issued to it."""
    _require_admin(admin, "add integration users")
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidInput("a username is 1 to 64 characters: lower-case letters, digits, '.', '_' or '-'")
    if _user_named(session, name) is not None:
        raise InvalidInput(f"the username {name} is taken; choose another")
    codes = sorted({code.strip().upper() for code in entities})
    found = {e.code: e.id for e in session.scalars(select(LegalEntity).where(LegalEntity.code.in_(codes)))}
    missing = [code for code in codes if code not in found] if codes else ["(none given)"]
    if missing:
        raise InvalidInput(f"name the legal entities it sends documents for; unknown: {', '.join(missing)}")
    for code in codes:
        admin.require_entity(found[code], f"entity {code}")
    user = User(username=name, display_name=display_name.strip()[:120] or name, email=f"{name}@integration.invalid")
    session.add(user)
    session.flush()
    session.add(UserRole(user_id=user.id, role=Role.INTEGRATION.value))
    session.add_all(UserEntityScope(user_id=user.id, entity_id=found[code], approval_limit=0) for code in codes)
    session.flush()
    context = AuditContext(actor_user_id=admin.user_id, channel=audit_channel)
    _audit(session, context, name, "identity.integration_added", entities=",".join(codes))
    return load_actor(session, username=name)


def _integration_user(session: Session, admin: Actor, username: str, what: str) -> Actor:
    """The integration user an administrator manages tokens for (a person makes their own tokens)."""
    _require_admin(admin, what)
    target = load_actor(session, username=username.strip())
    if Role.INTEGRATION not in target.roles:
        raise InvalidInput(
            f"{target.username} is not an integration user; people make and revoke their own tokens "
            "(POST /api/tokens when signed in)"
        )
    return target


def issue_integration_token(
    session: Session,
    admin: Actor,
    *,
    username: str,
    name: str,
    days: int | None = None,
    audit_channel: str = WEB_CHANNEL,
) -> NewToken:
    """An administrator's new API token for an integration user, which has no password to sign in with."""
    target = _integration_user(session, admin, username, "issue tokens for integrations")
    return issue_token(session, target, name=name, days=days, audit_channel=audit_channel, issued_by=admin)


def integration_tokens(session: Session, admin: Actor, *, username: str) -> list[TokenView]:
    """An integration user's API tokens, newest first, as its administrator sees them."""
    return list_tokens(session, _integration_user(session, admin, username, "see integrations' tokens"))


def revoke_integration_token(
    session: Session, admin: Actor, *, username: str, token_id: int, audit_channel: str = WEB_CHANNEL
) -> TokenView:
    """An administrator revokes an integration user's API token; requests with it are refused from now on."""
    target = _integration_user(session, admin, username, "revoke integrations' tokens")
    return revoke_token(session, target, token_id=token_id, audit_channel=audit_channel, revoked_by=admin)


# --- Accounts on other channels ----------------------------------------------------------


def _require_admin(actor: Actor, what: str) -> None:
    if Role.ADMIN not in actor.roles:
        raise PermissionDenied(f"{actor.username} may not {what}: needs the role admin")


def _link_key(channel: str, external_id: str) -> tuple[str, str]:
    """The channel (lower case) and account id, checked to fit."""
    name, account = channel.strip().lower(), external_id.strip()
    if not 1 <= len(name) <= 16:
        raise InvalidInput("a channel name needs 1 to 16 characters, e.g. 'slack'")
    if not 1 <= len(account) <= 64:
        raise InvalidInput("an external account id needs 1 to 64 characters, e.g. a Slack user id")
    return name, account


def _link(session: Session, channel: str, external_id: str) -> ChannelLink | None:
    return session.scalars(
        select(ChannelLink).where(ChannelLink.channel == channel, ChannelLink.external_id == external_id)
    ).first()


def link_account(
    session: Session,
    actor: Actor,
    *,
    channel: str,
    external_id: str,
    username: str,
    email_hint: str | None = None,
    audit_channel: str = WEB_CHANNEL,
) -> None:
    """Let an account on another channel speak for a user (admins only); replaces that account's old link."""
    _require_admin(actor, "link accounts")
    name, account = _link_key(channel, external_id)
    if email_hint is not None and len(email_hint) > 160:
        raise InvalidInput("an email hint has at most 160 characters")
    target = load_actor(session, username=username)
    link, now = _link(session, name, account), clock.now()
    previous = None
    if link is None:
        link = ChannelLink(channel=name, external_id=account)
        session.add(link)
    else:
        before = session.get(User, link.user_id)
        previous = before.username if before is not None else None
    link.user_id, link.email_hint = target.user_id, email_hint
    link.created_at, link.created_by_user_id = now, actor.user_id
    session.flush()
    context = AuditContext(actor_user_id=actor.user_id, channel=audit_channel)
    _audit(
        session,
        context,
        target.username,
        "identity.account_linked",
        channel=name,
        external_id=account,
        replaced=previous,
    )


def linked_user(session: Session, *, channel: str, external_id: str) -> Actor | None:
    """The user an account on another channel speaks for; None if unlinked or that user is inactive."""
    link = _link(session, channel.strip().lower(), external_id.strip())
    user = session.get(User, link.user_id) if link is not None else None
    if user is None or not user.active:
        return None
    return load_actor(session, username=user.username)


def linked_accounts(session: Session, *, channel: str) -> list[tuple[str, Actor]]:
    """Every account of a channel that speaks for an active user, with that user (e.g. to notify approvers)."""
    rows = session.execute(
        select(ChannelLink.external_id, User.username)
        .join(User, User.id == ChannelLink.user_id)
        .where(ChannelLink.channel == channel.strip().lower(), User.active.is_(True))
        .order_by(ChannelLink.id)
    ).all()
    return [(row.external_id, load_actor(session, username=row.username)) for row in rows]


def account_of(session: Session, *, channel: str, user_id: int) -> str | None:
    """The account on a channel that speaks for a user, if any (the newest link)."""
    return session.scalars(
        select(ChannelLink.external_id)
        .where(ChannelLink.channel == channel.strip().lower(), ChannelLink.user_id == user_id)
        .order_by(ChannelLink.id.desc())
    ).first()


def username_for_email(session: Session, *, email: str) -> str | None:
    """The active user with this email, to suggest whom an unlinked account might be."""
    return session.scalars(
        select(User.username).where(func.lower(User.email) == email.strip().lower(), User.active.is_(True))
    ).first()


def unlink_account(
    session: Session, actor: Actor, *, channel: str, external_id: str, audit_channel: str = WEB_CHANNEL
) -> None:
    """Stop an account on another channel speaking for anyone (admins only)."""
    _require_admin(actor, "unlink accounts")
    name, account = _link_key(channel, external_id)
    link = _link(session, name, account)
    if link is None:
        raise NotFound("linked account", f"{name}:{account}")
    user = session.get(User, link.user_id)
    session.delete(link)
    session.flush()
    context = AuditContext(actor_user_id=actor.user_id, channel=audit_channel)
    subject = user.username if user is not None else str(link.user_id)
    _audit(session, context, subject, "identity.account_unlinked", channel=name, external_id=account)

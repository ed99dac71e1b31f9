"""Signing in on the small world: passwords, browser sessions, API tokens and linked accounts."""

import hashlib
import stat
from functools import partial
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import events_for, verify_chain
from core.db import Database
from core.demo import assign_demo_passwords, read_demo_logins, write_demo_logins
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.identity import (
    TOKEN_PREFIX,
    ApiToken,
    Credential,
    NotSignedIn,
    ReadOnlyToken,
    SignedIn,
    SignInFailed,
    WebSession,
    authenticate,
    end_session,
    issue_token,
    link_account,
    linked_user,
    list_tokens,
    require_writable,
    revoke_token,
    session_user,
    set_password,
    start_session,
    token_user,
    touch_session,
    unlink_account,
)
from core.masterdata.models import User
from tests.fake_clock import FakeClock
from tests.test_cli_shipping import _cli
from tests.world import World

PASSWORD = "correct horse battery"


def _set_password(world: World, username: str, password: str = PASSWORD) -> None:
    world.run(lambda s: set_password(s, username=username, password=password))


def _sign_in(world: World, username: str, password: str = PASSWORD, hours: int | None = None) -> str:
    """A new session token for the user, through the password."""
    return world.run(
        lambda s: start_session(s, authenticate(s, username=username, password=password), hours=hours).token
    )


def _deactivate(world: World, username: str) -> None:
    def command(s: Session) -> None:
        user = s.scalars(select(User).where(User.username == username)).one()
        user.active = False

    world.run(command)


def _stored(world: World, model: type[ApiToken] | type[WebSession], user: str) -> list[str]:
    actor = world.actor(user)
    return world.read(lambda s: list(s.scalars(select(model.token_hash).where(model.user_id == actor.user_id))))


# --- Passwords ---------------------------------------------------------------------------


def test_the_right_password_signs_in_as_that_user(world: World) -> None:
    _set_password(world, "sam")
    actor = world.run(lambda s: authenticate(s, username="sam", password=PASSWORD))
    assert actor == world.actor("sam")


def test_wrong_password_unknown_user_inactive_user_and_no_password_all_fail_alike(world: World) -> None:
    _set_password(world, "sam")
    _set_password(world, "wes")
    _deactivate(world, "wes")
    attempts = [("sam", "wrong password!"), ("nobody", PASSWORD), ("wes", PASSWORD), ("bea", PASSWORD)]
    messages = set()
    for username, password in attempts:
        with pytest.raises(SignInFailed) as refused:
            world.run(partial(authenticate, username=username, password=password))
        messages.add((refused.value.code, refused.value.message))
    assert messages == {("sign_in_failed", "wrong username or password")}


def test_the_stored_password_is_an_argon2id_hash_not_the_password(world: World) -> None:
    _set_password(world, "sam")
    stored = world.read(lambda s: s.get(Credential, world.actor("sam").user_id))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash


def test_a_hash_made_with_weaker_settings_is_upgraded_at_sign_in(world: World) -> None:
    _set_password(world, "sam")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    sam = world.actor("sam")

    def weaken(s: Session) -> None:
        credential = s.get(Credential, sam.user_id)
        assert credential is not None
        credential.password_hash = weak

    world.run(weaken)
    world.run(lambda s: authenticate(s, username="sam", password=PASSWORD))
    upgraded = world.read(lambda s: s.get(Credential, sam.user_id))
    assert upgraded is not None and upgraded.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(upgraded.password_hash)


@pytest.mark.parametrize("password", ["short", "x" * 257])
def test_a_password_needs_8_to_256_characters(world: World, password: str) -> None:
    with pytest.raises(InvalidInput, match="8 to 256 characters"):
        _set_password(world, "sam", password)


def test_a_password_for_an_unknown_user_is_refused(world: World) -> None:
    with pytest.raises(NotFound, match="unknown user 'nobody'"):
        _set_password(world, "nobody")


# --- Browser sessions --------------------------------------------------------------------


def test_a_session_signs_its_user_in_until_it_expires(world: World, fake_clock: FakeClock) -> None:
    _set_password(world, "sam")
    token = _sign_in(world, "sam", hours=2)
    signed_in = world.run(lambda s: session_user(s, token=token))
    assert (signed_in.actor, signed_in.via, signed_in.email) == (world.actor("sam"), "session", "sam@example.test")
    assert signed_in.csrf_token and signed_in.session_id is not None and signed_in.token_id is None
    fake_clock.advance(hours=2)
    with pytest.raises(NotSignedIn, match="sign in again"):
        world.run(lambda s: session_user(s, token=token))


def test_an_ended_session_is_refused_and_ending_it_again_is_harmless(world: World) -> None:
    _set_password(world, "sam")
    token = _sign_in(world, "sam")
    world.run(lambda s: end_session(s, token=token))
    world.run(lambda s: end_session(s, token=token))
    world.run(lambda s: end_session(s, token="never-issued"))
    with pytest.raises(NotSignedIn):
        world.run(lambda s: session_user(s, token=token))


def test_a_new_password_ends_the_users_open_sessions_only(world: World) -> None:
    _set_password(world, "sam")
    _set_password(world, "wes")
    sams, wess = _sign_in(world, "sam"), _sign_in(world, "wes")
    _set_password(world, "sam", "another good password")
    with pytest.raises(NotSignedIn):
        world.run(lambda s: session_user(s, token=sams))
    assert world.run(lambda s: session_user(s, token=wess)).actor.username == "wes"
    assert world.run(lambda s: session_user(s, token=_sign_in(world, "sam", "another good password"))).actor


def test_a_deactivated_users_session_and_token_are_refused(world: World) -> None:
    _set_password(world, "sam")
    token = _sign_in(world, "sam")
    api = world.run(lambda s: issue_token(s, world.actor("sam"), name="script"))
    _deactivate(world, "sam")
    with pytest.raises(NotSignedIn):
        world.run(lambda s: session_user(s, token=token))
    with pytest.raises(NotSignedIn):
        world.run(lambda s: token_user(s, token=api.token))


def test_last_seen_is_written_at_most_once_a_minute(world: World, fake_clock: FakeClock) -> None:
    _set_password(world, "sam")
    token = _sign_in(world, "sam")
    started = fake_clock.current

    def last_seen() -> object:
        return world.read(lambda s: s.scalars(select(WebSession.last_seen_at)).one())

    fake_clock.advance(seconds=30)
    world.run(lambda s: session_user(s, token=token))
    assert last_seen() == started
    later = fake_clock.advance(seconds=31)
    world.run(lambda s: session_user(s, token=token))
    assert last_seen() == later


def test_a_read_only_check_says_when_the_visit_is_due_and_touching_records_it(
    world: World, fake_clock: FakeClock
) -> None:
    _set_password(world, "sam")
    token = _sign_in(world, "sam")
    fake_clock.advance(seconds=30)
    assert world.read(lambda s: session_user(s, token=token, touch=False)).touch_due is False
    later = fake_clock.advance(seconds=31)
    checked = world.read(lambda s: session_user(s, token=token, touch=False))
    assert checked.touch_due is True and checked.actor.username == "sam"
    assert world.read(lambda s: s.scalars(select(WebSession.last_seen_at)).one()) < later
    world.run(lambda s: touch_session(s, session_id=checked.session_id or 0))
    assert world.read(lambda s: s.scalars(select(WebSession.last_seen_at)).one()) == later


def test_only_hashes_of_session_and_api_tokens_are_stored(world: World) -> None:
    _set_password(world, "sam")
    session_token = _sign_in(world, "sam")
    api = world.run(lambda s: issue_token(s, world.actor("sam"), name="nightly report"))
    assert api.token.startswith("erp_")
    sha = [hashlib.sha256(t.encode()).hexdigest() for t in (session_token, api.token)]
    assert _stored(world, WebSession, "sam") == [sha[0]]
    assert _stored(world, ApiToken, "sam") == [sha[1]]
    assert session_token not in sha and api.token not in sha


# --- API tokens --------------------------------------------------------------------------


def test_an_api_token_acts_as_its_owner_until_revoked(world: World) -> None:
    sam = world.actor("sam")
    api = world.run(lambda s: issue_token(s, sam, name="spreadsheet", days=30))
    signed_in = world.run(lambda s: token_user(s, token=api.token))
    assert (signed_in.actor, signed_in.via, signed_in.token_id, signed_in.csrf_token) == (sam, "token", api.id, None)
    revoked = world.run(lambda s: revoke_token(s, sam, token_id=api.id))
    again = world.run(lambda s: revoke_token(s, sam, token_id=api.id))
    assert revoked.revoked_at is not None and again.revoked_at == revoked.revoked_at
    with pytest.raises(NotSignedIn, match="unknown, expired or revoked"):
        world.run(lambda s: token_user(s, token=api.token))


def test_an_expired_or_made_up_api_token_is_refused(world: World, fake_clock: FakeClock) -> None:
    api = world.run(lambda s: issue_token(s, world.actor("sam"), name="trial", days=1))
    world.run(lambda s: token_user(s, token=api.token))
    fake_clock.advance(days=1)
    for token in (api.token, "erp_made-up", "no-prefix"):
        with pytest.raises(NotSignedIn):
            world.run(partial(token_user, token=token))


def test_nobody_can_revoke_someone_elses_token(world: World) -> None:
    api = world.run(lambda s: issue_token(s, world.actor("sam"), name="mine"))
    with pytest.raises(NotFound, match=f"unknown API token '{api.id}'"):
        world.run(lambda s: revoke_token(s, world.actor("root"), token_id=api.id))
    assert world.run(lambda s: token_user(s, token=api.token)).actor.username == "sam"


def test_a_user_lists_only_their_own_tokens_newest_first(world: World, fake_clock: FakeClock) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    first = world.run(lambda s: issue_token(s, sam, name="first"))
    fake_clock.advance(seconds=1)
    world.run(lambda s: issue_token(s, wes, name="wes's"))
    second = world.run(lambda s: issue_token(s, sam, name="second"))
    listed = world.read(lambda s: list_tokens(s, sam))
    assert [(t.id, t.name) for t in listed] == [(second.id, "second"), (first.id, "first")]


def test_a_read_only_token_signs_in_for_reading_and_is_refused_a_change(world: World) -> None:
    sam = world.actor("sam")
    reader = world.run(lambda s: issue_token(s, sam, name="dashboard", read_only=True))
    writer = world.run(lambda s: issue_token(s, sam, name="order bot"))
    assert (reader.read_only, writer.read_only) == (True, False)
    listed = world.read(lambda s: list_tokens(s, sam))
    assert [(t.name, t.read_only) for t in listed] == [("order bot", False), ("dashboard", True)]
    signed_in = world.run(lambda s: token_user(s, token=reader.token))
    assert (signed_in.actor, signed_in.read_only) == (sam, True)
    with pytest.raises(ReadOnlyToken, match="read-only; make a read-write token"):
        require_writable(signed_in)
    _set_password(world, "sam")
    for may_write in (world.run(lambda s: token_user(s, token=writer.token)), _session_of(world, "sam")):
        assert may_write.read_only is False
        require_writable(may_write)
    issued = world.read(lambda s: events_for(s, subject_type="user", subject_id="sam"))
    assert [e.data["read_only"] for e in issued if e.action == "identity.token_issued"] == [True, False]


def _session_of(world: World, username: str) -> SignedIn:
    token = _sign_in(world, username)
    return world.run(lambda s: session_user(s, token=token))


def test_a_person_creates_lists_and_revokes_their_own_tokens_from_the_terminal(
    demo: Database, wide_console: None
) -> None:
    url = demo.engine.url.render_as_string(hide_password=False)
    created = _cli(url, "tokens", "create", "--user", "sam", "--name", "dashboard", "--days", "30", "--read-only")
    assert created.exit_code == 0, created.output
    assert "read-only" in created.output and "it is not shown again" in created.output
    token = next(word for word in created.output.split() if word.startswith(TOKEN_PREFIX))
    signed_in = demo.run(lambda s: token_user(s, token=token))
    assert (signed_in.actor.username, signed_in.read_only) == ("sam", True)
    listed = _cli(url, "tokens", "list", "--user", "sam")
    assert listed.exit_code == 0 and token not in listed.output, listed.output
    row = next(line for line in listed.output.splitlines() if "dashboard" in line)
    assert f"{signed_in.token_id}" in row and "yes" in row and "never" not in row
    assert _cli(url, "tokens", "revoke", str(signed_in.token_id), "--user", "uma").exit_code == 1  # not hers
    revoked = _cli(url, "tokens", "revoke", str(signed_in.token_id), "--user", "sam")
    assert revoked.exit_code == 0 and "revoked" in revoked.output, revoked.output
    with pytest.raises(NotSignedIn):
        demo.run(lambda s: token_user(s, token=token))


@pytest.mark.parametrize(("name", "days"), [("  ", None), ("x" * 81, None), ("ok", 0), ("ok", 3651)])
def test_a_token_needs_a_name_and_a_lifetime_of_1_to_3650_days(world: World, name: str, days: int | None) -> None:
    with pytest.raises(InvalidInput):
        world.run(lambda s: issue_token(s, world.actor("sam"), name=name, days=days))


# --- Linked accounts and the audit trail -------------------------------------------------


def test_only_an_admin_may_link_or_unlink_an_account(world: World) -> None:
    mia = world.actor("mia")
    with pytest.raises(PermissionDenied, match="needs the role admin"):
        world.run(lambda s: link_account(s, mia, channel="slack", external_id="U1", username="sam"))
    world.run(lambda s: link_account(s, world.actor("root"), channel="slack", external_id="U1", username="sam"))
    with pytest.raises(PermissionDenied):
        world.run(lambda s: unlink_account(s, mia, channel="slack", external_id="U1"))


def test_a_linked_account_speaks_for_its_user_until_relinked_or_unlinked(world: World) -> None:
    root = world.actor("root")

    def linked() -> str | None:
        actor = world.read(lambda s: linked_user(s, channel="Slack", external_id="U042"))
        return actor.username if actor else None

    assert linked() is None
    world.run(lambda s: link_account(s, root, channel="slack", external_id="U042", username="sam"))
    assert linked() == "sam"
    world.run(lambda s: link_account(s, root, channel="slack", external_id="U042", username="wes", email_hint="w@x"))
    assert linked() == "wes"
    _deactivate(world, "wes")
    assert linked() is None
    world.run(lambda s: unlink_account(s, root, channel="slack", external_id="U042"))
    with pytest.raises(NotFound):
        world.run(lambda s: unlink_account(s, root, channel="slack", external_id="U042"))


def test_identity_changes_are_on_the_audit_chain(world: World) -> None:
    sam, root = world.actor("sam"), world.actor("root")
    _set_password(world, "sam")
    api = world.run(lambda s: issue_token(s, sam, name="robot"))
    world.run(lambda s: revoke_token(s, sam, token_id=api.id))
    world.run(lambda s: link_account(s, root, channel="slack", external_id="U7", username="sam"))
    world.run(lambda s: unlink_account(s, root, channel="slack", external_id="U7"))
    _sign_in(world, "sam")
    events = world.read(lambda s: events_for(s, subject_type="user", subject_id="sam"))
    assert [e.action for e in events] == [
        "identity.password_set",
        "identity.token_issued",
        "identity.token_revoked",
        "identity.account_linked",
        "identity.account_unlinked",
    ]
    assert [e.channel for e in events] == ["system", "web", "web", "web", "web"]
    assert world.read(verify_chain).ok


# --- Demo sign-ins -----------------------------------------------------------------------


def test_every_demo_user_signs_in_with_the_password_in_the_private_file(sqlite_demo: Database, tmp_path: Path) -> None:
    logins = assign_demo_passwords(sqlite_demo)
    path = tmp_path / "private" / "demo-logins.txt"
    write_demo_logins(path, logins, sqlite_demo)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Grace Okafor" in path.read_text() and read_demo_logins(path) == logins
    assert "admin" in logins and len(set(logins.values())) == len(logins)
    for username, password in logins.items():
        actor = sqlite_demo.run(partial(authenticate, username=username, password=password))
        assert actor.username == username

"""Sign-ins for the demo users: a fresh random password each, and a private file that lists them.

Not part of `load_demo`: hashing a password costs tens of milliseconds on purpose, and tests load
the demo many times. `erp-assistant init` calls `assign_demo_passwords` once.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditContext
from core.db import Database
from core.demo.directory import USERS
from core.identity.service import set_password
from core.masterdata.models import LegalEntity, User, UserEntityScope, UserRole

COLUMNS = ("username", "display name", "roles", "entities", "password")
HEADER = "# Demo sign-ins for the ERP assistant. Keep this file private; a password changed later is not updated here."


@dataclass(frozen=True)
class DemoLogin:
    """One demo user as the login table shows them."""

    username: str
    display_name: str
    roles: str
    entities: str
    password: str

    def cells(self) -> tuple[str, str, str, str, str]:
        return (self.username, self.display_name, self.roles, self.entities, self.password)


def assign_demo_passwords(db: Database) -> dict[str, str]:
    """Give every demo user a new random password (one transaction); returns {username: password}."""
    logins = {user.username: secrets.token_urlsafe(9) for user in USERS}
    setup = AuditContext(actor_user_id=None, channel="system")

    def command(session: Session) -> None:
        for username, password in logins.items():
            set_password(session, username=username, password=password, audit=setup)

    db.run(command)
    return logins


def demo_logins(db: Database, logins: dict[str, str]) -> list[DemoLogin]:
    """The users of `logins` with their display names, roles and entities, in the order given."""

    def query(session: Session) -> list[DemoLogin]:
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(list(logins))))}
        roles: dict[int, list[str]] = {}
        for user_id, role in session.execute(select(UserRole.user_id, UserRole.role).order_by(UserRole.role)):
            roles.setdefault(user_id, []).append(role)
        entities: dict[int, list[str]] = {}
        scopes = select(UserEntityScope.user_id, LegalEntity.code).join(
            LegalEntity, LegalEntity.id == UserEntityScope.entity_id
        )
        for user_id, code in session.execute(scopes.order_by(LegalEntity.id)):
            entities.setdefault(user_id, []).append(code)
        return [
            DemoLogin(
                username=name,
                display_name=users[name].display_name,
                roles=",".join(roles.get(users[name].id, [])),
                entities=",".join(entities.get(users[name].id, [])),
                password=password,
            )
            for name, password in logins.items()
            if name in users
        ]

    return db.read(query)


def write_demo_logins(path: Path, logins: dict[str, str], db: Database) -> None:
    """Write the demo sign-ins as a small text table that only the file's owner can read."""
    rows = [COLUMNS, *(login.cells() for login in demo_logins(db, logins))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join([HEADER, *lines]) + "\n")


def read_demo_logins(path: Path) -> dict[str, str]:
    """{username: password} from a file `write_demo_logins` wrote."""
    logins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and not line.startswith("#") and words[0] != COLUMNS[0]:
            logins[words[0]] = words[-1]
    return logins

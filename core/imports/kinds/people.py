"""People: users with their roles, and the entities each may act in with an approval limit there.

Roles are a list column of `users` ("sales;manager"); scopes are their own kind, `user_scopes`, one row per user
and entity, because each carries its own approval limit. An imported user signs in once an admin sets their
password (`erp-assistant password USERNAME`).
"""

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.actor import PERSON_ROLES, Role
from core.bulk import Row, insert_rows
from core.imports.kinds.common import amount, entries, present
from core.imports.plan import Checking, Entry
from core.imports.spec import Column, Kind, SourceRow
from core.masterdata.models import User, UserEntityScope, UserRole
from core.money import round_money

# People only: an integration user (a system) is made by `erp-assistant integrations add`, with no password.
ROLES = tuple(r.value for r in Role if r in PERSON_ROLES)

USER_COLUMNS = (
    Column("username", "text", True, "maria", "What they sign in with.", 64),
    Column("display_name", "text", True, "Maria Lopez", "Their name as people read it.", 120),
    Column("email", "text", True, "maria@example.com", "Their email address (unique).", 160),
    Column("roles", "list", True, "sales;manager", f"Their roles, separated by ';': {', '.join(ROLES)}."),
    Column("active", "bool", False, "yes", "No to stop them signing in (yes if left out)."),
)


def check_users(checking: Checking, rows: list[SourceRow]) -> None:
    wanted_roles: dict[str, frozenset[str]] = {}

    def build(row: SourceRow) -> tuple[str, Row] | None:
        username: str = row["username"]
        roles = frozenset(r.lower() for r in row["roles"] or ())
        unknown = sorted(roles - set(ROLES))
        if unknown or not roles:
            checking.problem(row, "roles", f"unknown roles {', '.join(unknown) or '(none)'}: use {', '.join(ROLES)}")
            return None
        if "@" not in row["email"]:
            checking.problem(row, "email", f"'{row['email']}' is not an email address")
            return None
        wanted_roles[username] = roles
        return username, present(row, {"username": username}, {
            "display_name": "display_name", "email": "email", "active": "active"
        })  # fmt: skip

    built = entries(rows, build)
    ids = checking.upsert(USERS, User, built, key=("username",), code="username", defaults={"active": True})
    _plan_roles(checking, built, {u: i for (u,), i in ids.items() if i is not None}, wanted_roles)


def _plan_roles(
    checking: Checking, built: Sequence[Entry], ids: dict[str, int], wanted: dict[str, frozenset[str]]
) -> None:
    """Each imported user's roles become exactly the listed ones; a user whose roles alone change counts as
    updated."""
    held: dict[int, set[str]] = {}
    for user_id, role in checking.session.execute(select(UserRole.user_id, UserRole.role)):
        held.setdefault(user_id, set()).add(role)
    changed = {ids[e.key]: wanted[e.key] for e in built if held.get(ids[e.key], set()) != wanted[e.key]}
    plan = checking.plans[-1]  # the users' own plan, just made
    written = {r["id"] for r in plan.inserts} | {r["id"] for r in plan.updates}
    checking.mark_updated(USERS.name, sum(1 for u in changed if u not in written))

    def write(session: Session) -> None:
        session.execute(delete(UserRole).where(UserRole.user_id.in_(list(changed))))
        rows = ({"user_id": u, "role": r} for u, roles in changed.items() for r in sorted(roles))
        insert_rows(session, UserRole, rows)

    if changed:
        checking.after.append(write)


USERS = Kind(
    "users",
    "Users",
    USER_COLUMNS,
    ("username",),
    (),
    check_users,
    "The people who sign in, with their roles (the listed roles replace the ones they had).",
)

SCOPE_COLUMNS = (
    Column("username", "text", True, "maria", "The user (users.csv or the database)."),
    Column("entity", "code", True, "NA", "A legal entity they may see and act in."),
    Column(
        "approval_limit", "decimal", False, "50000", "What they may approve there, in its currency (0 if left out)."
    ),
)


def check_scopes(checking: Checking, rows: list[SourceRow]) -> None:
    def build(row: SourceRow) -> tuple[str, Row] | None:
        user = checking.resolve(row, "username", "users", "user", "users.csv")
        entity = checking.resolve(row, "entity", "entities", "entity", "entities.csv")
        if not amount(checking, row, "approval_limit") or user is None or entity is None:
            return None
        record: Row = {"user_id": user, "entity_id": entity}
        record |= {"approval_limit": round_money(row["approval_limit"])} if row["approval_limit"] is not None else {}
        return f"{row['username']} in {row['entity']}", record

    checking.upsert(
        USER_SCOPES,
        UserEntityScope,
        entries(rows, build),
        key=("user_id", "entity_id"),
        defaults={"approval_limit": Decimal(0)},
    )


USER_SCOPES = Kind(
    "user_scopes",
    "User scopes",
    SCOPE_COLUMNS,
    ("username", "entity"),
    ("users", "entities"),
    check_scopes,
    "The legal entities each user may see and act in, one row per user and entity, with their approval limit "
    "there. Rows are added or changed, never removed by an import.",
)

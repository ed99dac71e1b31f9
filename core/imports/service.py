"""Importing master data from files: who may, and the one transaction it runs in.

An import is a setup act, not a draft: it does not pass the write gate's policy, so only an admin may run it, as
themselves (or, in a database with no users yet, as the setup actor the first import creates them with). It is
all or nothing: a file set with any problem changes nothing, and `dry_run` reports what would be created, updated
and refused without writing. A clean import writes every kind in load order in one transaction, with one audit
event that counts what changed; exception detection then runs on the new state in its own unit of work.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from core.actor import Actor, Role
from core.audit.service import AuditContext, record_event
from core.bulk import reset_sequences
from core.clock import now
from core.db import Database
from core.errors import InvalidInput, PermissionDenied
from core.exceptions.detection import detect_exceptions
from core.imports.kinds import CODE_LOADERS, KINDS
from core.imports.plan import Checking, Progress, StepFailed, apply_plans, no_progress
from core.imports.reading import SourceTable, parse_rows, read_bytes, read_path
from core.imports.spec import ImportReport, Problems, SourceRow
from core.masterdata.models import User, UserRole
from core.masterdata.service import load_actor

SETUP_USERNAME = "setup"
IMPORT_LOCK_KEY = 0x494D_504F_5254  # "IMPORT"


def setup_actor() -> Actor:
    """The admin the first import into a database without users runs as (its audit event names no user)."""
    return Actor(user_id=0, username=SETUP_USERNAME, roles=frozenset({Role.ADMIN}), entity_ids=frozenset())


def importing_actor(session: Session, *, username: str | None) -> Actor:
    """Who an import from the terminal runs as: the named user; else the setup actor while no user exists; else
    the database's only active admin. With several admins (or none active) it refuses, naming them."""
    if username is not None:
        return load_actor(session, username=username)
    if not session.scalar(select(exists().where(User.id.is_not(None)))):
        return setup_actor()
    admins = active_admins(session)
    if len(admins) == 1:
        return load_actor(session, username=admins[0])
    if not admins:
        raise PermissionDenied("no active user has the admin role; name an admin with --as USERNAME")
    raise InvalidInput(
        f"the database has {len(admins)} active admins ({', '.join(admins)}); name the one to import as with "
        "--as USERNAME"
    )


def active_admins(session: Session) -> list[str]:
    """The usernames of the active users with the admin role, in name order."""
    return list(
        session.scalars(
            select(User.username)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.ADMIN.value, User.active.is_(True))
            .order_by(User.username)
        )
    )


def require_admin(actor: Actor) -> None:
    """Refuse anyone but an admin: an import writes master data without a draft or an approval."""
    if Role.ADMIN not in actor.roles:
        raise PermissionDenied(
            f"{actor.username} may not import master data: importing is a setup act for a user with the admin role"
        )


def read_files(paths: Iterable[Path], problems: Problems) -> list[SourceTable]:
    """The tables of files and folders on disk."""
    return [t for p in paths for t in read_path(p, problems)]


def read_uploads(uploads: Iterable[tuple[str, bytes]], problems: Problems) -> list[SourceTable]:
    """The tables of uploaded files, given as (file name, bytes)."""
    return [t for name, data in uploads for t in read_bytes(name, data, problems)]


def import_tables(
    session: Session,
    actor: Actor,
    tables: Sequence[SourceTable],
    problems: Problems,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    channel: str = "cli",
) -> ImportReport:
    """Check every row of every table in load order, then (with no problem, and not a dry run) write them all and
    record one audit event. `problems` may already hold what reading found: any problem means nothing is written."""
    require_admin(actor)
    _one_import_at_a_time(session)
    checking = Checking(session, progress, actor)
    checking.problems = problems
    for name, loader in CODE_LOADERS.items():
        checking.codes_of(name, loader)
    rows = _rows_by_kind(tables, problems, progress)
    for kind in KINDS:
        if kind.name in rows:
            kind.check(checking, rows[kind.name])
    applied = False
    if not problems and (checking.after or not dry_run):
        applied = _apply(session, checking, keep=not dry_run)
    report = ImportReport(
        kinds=[checking.reports[k.name] for k in KINDS if k.name in checking.reports],
        problems=list(problems.kept),
        problem_count=problems.count,
        dry_run=dry_run,
        applied=applied,
    )
    if applied:
        record_event(
            session,
            AuditContext(actor_user_id=actor.user_id or None, channel=channel),
            action="master_data_imported",
            subject_type="import",
            subject_id=now().isoformat(timespec="seconds"),
            data={"files": sorted({t.file for t in tables}), "kinds": report.counts()},
        )
    return report


def _apply(session: Session, checking: Checking, *, keep: bool) -> bool:
    """Write the plans and run the steps after them (the opening balances' loaders) in a savepoint, kept unless a
    step refuses or this is a dry run: a dry run of opening balances runs the core's commands and rolls them back,
    so it reports what they would create, leave unchanged or refuse."""
    savepoint = session.begin_nested()
    try:
        apply_plans(session, checking)
        reset_sequences(session)
    except StepFailed as failed:
        savepoint.rollback()
        p = failed.problem
        checking.problems.add(p.file, p.row, p.column, p.message)
        return False
    if not keep:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _one_import_at_a_time(session: Session) -> None:
    """New records take explicit ids from each table's max: on PostgreSQL a second import waits for the first
    (SQLite's write unit already holds the single write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({IMPORT_LOCK_KEY})"))


def _rows_by_kind(tables: Sequence[SourceTable], problems: Problems, progress: Progress) -> dict[str, list[SourceRow]]:
    rows: dict[str, list[SourceRow]] = {}
    for done, table in enumerate(tables, start=1):
        rows.setdefault(table.kind.name, []).extend(parse_rows(table, problems))
        progress("parse rows", done, len(tables))
    return rows


def import_master_data(
    db: Database,
    actor: Actor,
    tables: Sequence[SourceTable],
    problems: Problems,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    channel: str = "cli",
) -> ImportReport:
    """Import in one unit of work; when it changed something, run exception detection on the new state."""
    report = db.run(
        lambda s: import_tables(s, actor, tables, _fresh(problems), dry_run=dry_run, progress=progress, channel=channel)
    )
    progress("commit", 1, 1)
    if report.applied and report.changed:
        db.run(lambda s: detect_exceptions(s))
        progress("detect exceptions", 1, 1)
    return report


def _fresh(problems: Problems) -> Problems:
    """A copy of the reading problems for one attempt (a retried unit of work starts again from them)."""
    copy = Problems(problems.cap)
    copy.kept, copy.count = list(problems.kept), problems.count
    return copy

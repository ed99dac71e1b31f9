"""The import's engine: rows checked into per-table plans, compared with the database set-based, applied in bulk.

One query loads each table's existing rows into a dict by business key; the comparison runs in Python; new rows
go in with `core.bulk.insert_rows` (explicit ids, so later kinds can refer to them before anything is written)
and changed rows with one executemany per table. No ORM object is made per row, so 100,000 items take seconds.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from core.actor import Actor
from core.bulk import Row, insert_rows, table
from core.db import Base
from core.imports.spec import Kind, KindReport, Problem, Problems, Refusal, SourceRow

Progress = Callable[[str, int, int], None]


def no_progress(phase: str, done: int, total: int) -> None:
    """The progress callback when nobody watches."""


@dataclass(frozen=True)
class Frozen:
    """A field that history fixes once its record is used: `used` returns the ids of the records that are."""

    column: str  # the table's column
    label: str  # the file's column, as the refusal names it
    reason: str  # "it has sales orders"
    used: Callable[[Session], set[int]]


@dataclass
class TablePlan:
    """What one kind will write to one table: rows to insert, whole rows to update."""

    model: type[Base]
    pk: tuple[str, ...]
    inserts: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    """One checked row: where it came from, its business key as people read it, and its table values."""

    source: SourceRow
    key: str
    record: Row


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, Decimal | float) or isinstance(after, Decimal | float):
        if before is None or after is None:
            return before is after
        return Decimal(str(before)) == Decimal(str(after))
    return bool(before == after)


class StepFailed(Exception):
    """A step applied after the plans (an opening balance's loader) refused: the problem says where and why, and
    the import writes nothing."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.line())
        self.problem = problem


class Checking:
    """The state of one import while its kinds are checked in load order: problems, plans, and the ids of every
    record a later kind may name, from the files and from the database."""

    def __init__(self, session: Session, progress: Progress = no_progress, actor: Actor | None = None) -> None:
        self.session = session
        self.actor = actor if actor is not None else Actor(0, "setup", frozenset(), frozenset())
        self.progress = progress
        self.problems = Problems()
        self.plans: list[TablePlan] = []
        self.reports: dict[str, KindReport] = {}
        self.after: list[Callable[[Session], None]] = []
        self._ids: dict[str, dict[str, int]] = {}
        self._loaders: dict[str, Callable[[Session], dict[str, int]]] = {}

    # --- references ---------------------------------------------------------------------------------

    def codes_of(self, kind: str, loader: Callable[[Session], dict[str, int]]) -> None:
        """How to read `kind`'s codes from the database when its file is not among the imported ones."""
        self._loaders[kind] = loader

    def ids(self, kind: str) -> dict[str, int]:
        """Code → id of every `kind` record in the database and in the files checked so far."""
        if kind not in self._ids:
            self._ids[kind] = self._loaders[kind](self.session)
        return self._ids[kind]

    def resolve(self, row: SourceRow, column: str, kind: str, what: str, file_hint: str) -> int | None:
        """The id of the `kind` record the cell names, or None with a problem saying where it may come from."""
        code = row[column]
        if code is None:
            return None
        found = self.ids(kind).get(code)
        if found is None:
            self.problems.add(
                row.file,
                row.row,
                column,
                f"unknown {what} '{code}': it is neither in {file_hint} nor in the database; "
                "add it there or fix the code",
            )
        return found

    def problem(self, row: SourceRow, column: str, message: str) -> None:
        self.problems.add(row.file, row.row, column, message)

    # --- upsert -------------------------------------------------------------------------------------

    def upsert(
        self,
        kind: Kind,
        model: type[Base],
        entries: Sequence[Entry],
        *,
        key: tuple[str, ...],
        code: str | None = None,
        defaults: Row | None = None,
        frozen: Sequence[Frozen] = (),
    ) -> dict[tuple[Any, ...], int | None]:
        """Plan `entries` against `model`'s rows by the table columns `key`: new ones inserted (with `defaults`
        for columns their file left out), changed ones updated except frozen fields of used records, which are
        reported as refused. Registers code → id for later kinds; returns key → id (None for composite keys)."""
        tbl = table(model)
        pk = tuple(c.name for c in tbl.primary_key)
        has_id = pk == ("id",)
        existing = {tuple(r[k] for k in key): dict(r) for r in self.session.execute(select(tbl)).mappings()}
        report = self.reports.setdefault(kind.name, KindReport(kind.name))
        plan = TablePlan(model, pk)
        next_id = (self.session.scalar(select(func.max(tbl.c.id))) or 0) + 1 if has_id else 0
        ids: dict[tuple[Any, ...], int | None] = {k: r.get("id") for k, r in existing.items()}
        used_by = _UsedCache(self.session, frozen)
        seen: dict[tuple[Any, ...], SourceRow] = {}
        for done, entry in enumerate(entries, start=1):
            if done % 10_000 == 0:
                self.progress(f"check {kind.name}", done, len(entries))
            wanted = tuple(entry.record[k] for k in key)
            if wanted in seen:
                first = seen[wanted]
                self.problem(
                    entry.source,
                    kind.key[0],
                    f"duplicate {kind.title.rstrip('s').lower()} {entry.key}: "
                    f"also in {first.file} row {first.row}; keep one row",
                )
                continue
            seen[wanted] = entry.source
            before = existing.get(wanted)
            if before is None:
                row = {**(defaults or {}), **entry.record}
                if has_id:
                    row["id"] = next_id
                    next_id += 1
                plan.inserts.append(row)
                report.created += 1
                ids[wanted] = row.get("id")
                continue
            changes = {c: v for c, v in entry.record.items() if c not in pk and not _same(before[c], v)}
            for rule in frozen:
                if rule.column in changes and before.get("id") in used_by.ids(rule):
                    report.refused.append(Refusal(entry.key, rule.label, f"{rule.label} stays: {rule.reason}"))
                    del changes[rule.column]
            if changes:
                plan.updates.append({**before, **changes})
                report.updated += 1
            else:
                report.unchanged += 1
        self.progress(f"check {kind.name}", len(entries), len(entries))
        self.plans.append(plan)
        if code is not None:
            self._ids[kind.name] = {k[key.index(code)]: i for k, i in ids.items() if i is not None}
        return ids

    def mark_updated(self, kind: str, count: int) -> None:
        """Records whose own row is unchanged but whose linked rows (a user's roles) change."""
        report = self.reports[kind]
        report.unchanged -= count
        report.updated += count


class _UsedCache:
    """Each frozen rule's "used" query runs once, and only if some row tries to change that field."""

    def __init__(self, session: Session, rules: Iterable[Frozen]) -> None:
        self.session = session
        self.cache: dict[str, set[int]] = {}

    def ids(self, rule: Frozen) -> set[int]:
        if rule.column not in self.cache:
            self.cache[rule.column] = rule.used(self.session)
        return self.cache[rule.column]


def apply_plans(session: Session, checking: Checking) -> None:
    """Write every plan in load order: inserts in chunks, updates in one executemany per table."""
    for plan in checking.plans:
        name = plan.model.__tablename__
        total = len(plan.inserts) + len(plan.updates)
        written = 0

        def tick(count: int, name: str = name, total: int = total) -> None:
            nonlocal written
            written += count
            checking.progress(f"write {name}", written, total)

        insert_rows(session, plan.model, plan.inserts, written=tick)
        if plan.updates:
            _update_rows(session, plan)
            tick(len(plan.updates))
    for step in checking.after:
        step(session)


def _update_rows(session: Session, plan: TablePlan) -> None:
    tbl = table(plan.model)
    statement = update(tbl).where(*(tbl.c[p] == bindparam(f"pk_{p}") for p in plan.pk))
    rows = [
        {**{k: v for k, v in r.items() if k not in plan.pk}, **{f"pk_{p}": r[p] for p in plan.pk}} for r in plan.updates
    ]
    session.execute(statement, rows)

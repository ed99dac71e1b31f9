"""What the kinds share: turning rows into entries, and the checks on amounts, currencies and ranges."""

import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.bulk import Row
from core.imports.plan import Checking, Entry
from core.imports.spec import SourceRow

ISO_CURRENCY = re.compile(r"[A-Z]{3}")


def entries(rows: Sequence[SourceRow], build: Callable[[SourceRow], tuple[str, Row] | None]) -> list[Entry]:
    """The rows that `build` turns into (key, record); it reports what it refuses as problems."""
    out = []
    for row in rows:
        built = build(row)
        if built is not None:
            out.append(Entry(row, built[0], built[1]))
    return out


def present(row: SourceRow, record: Row, mapping: dict[str, str]) -> Row:
    """`record` plus the filled cells of `mapping` (file column → table column): a column left out of the file,
    or an empty cell, keeps an existing record's value (and gives a new one its default)."""
    return record | {target: row[source] for source, target in mapping.items() if row[source] is not None}


def text_or_empty(row: SourceRow, record: Row, mapping: dict[str, str]) -> Row:
    """Like `present`, for text columns that are never NULL: an empty cell is an empty text."""
    return record | {t: row[s] or "" for s, t in mapping.items() if s in row.values}


def amount(checking: Checking, row: SourceRow, column: str, *, positive: bool = False) -> bool:
    """Whether the amount in `column` is allowed (0 or more; above 0 when `positive`); a problem if not."""
    value: Decimal | None = row[column]
    if value is None:
        return True
    if value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        checking.problem(row, column, f"{value} is not allowed: {column} must be {bound}")
        return False
    return True


def within(checking: Checking, row: SourceRow, column: str, low: int, high: int) -> bool:
    """Whether the whole number in `column` lies between `low` and `high`; a problem if not."""
    value: int | None = row[column]
    if value is None or low <= value <= high:
        return True
    checking.problem(row, column, f"{value} is out of range: {column} must be between {low} and {high}")
    return False


def currency(checking: Checking, row: SourceRow, column: str) -> str | None:
    """A currency cell as an ISO 4217 code (upper case), or None with a problem."""
    value: str | None = row[column]
    if value is None:
        return None
    code = value.strip().upper()
    if not ISO_CURRENCY.fullmatch(code):
        checking.problem(row, column, f"'{value}' is not a currency: write its three-letter ISO code, e.g. USD, EUR")
        return None
    return code


def code_ids(code: InstrumentedAttribute[str], id_: InstrumentedAttribute[int]) -> Callable[[Session], dict[str, int]]:
    """A loader of code → id for a table, one query."""

    def load(session: Session) -> dict[str, int]:
        return {c: i for c, i in session.execute(select(code, id_))}

    return load


def used_ids(column: InstrumentedAttribute[Any]) -> Callable[[Session], set[int]]:
    """The distinct values of a referencing column: the ids of the records some row already uses."""

    def used(session: Session) -> set[int]:
        return set(session.scalars(select(column).distinct()))

    return used


def used_by_any(*columns: InstrumentedAttribute[Any]) -> Callable[[Session], set[int]]:
    """The ids used by any of several referencing columns."""

    def used(session: Session) -> set[int]:
        return set().union(*(used_ids(c)(session) for c in columns))

    return used

"""Bulk loading, for the demo generator and the import: many rows per statement with explicit ids, then id
sequences moved past them."""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Integer, Table, insert, text
from sqlalchemy.orm import Session

from core.models import Base

Row = dict[str, Any]
CHUNK = 5_000


def table(model: type[Base]) -> Table:
    """The Core table behind a mapped class."""
    return Base.metadata.tables[model.__tablename__]


def chunks(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def insert_rows(
    session: Session, model: type[Base], rows: Iterable[Row], written: Callable[[int], None] | None = None
) -> int:
    """Insert `rows` (dicts of column values) in chunks of executemany; returns how many."""
    statement = insert(table(model))
    count = 0
    for chunk in chunks(rows):
        session.execute(statement, chunk)
        count += len(chunk)
        if written is not None:
            written(len(chunk))
    return count


def reset_sequences(session: Session) -> None:
    """On PostgreSQL, move each serial id sequence past the explicit ids loaded into its table."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name, tbl in Base.metadata.tables.items():
        # Only integer ids have a sequence (conversation ids are uuid hex).
        if "id" in tbl.c and tbl.c.id.primary_key and isinstance(tbl.c.id.type, Integer):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name}"))

"""The import's vocabulary: columns and how their cells parse, kinds of file, problems, and the report.

Every cell of every file is parsed here, by its column's type, so that "12,50", "yes" or "2026-13-01" get
the same answer and the same fix whichever kind of file they are in.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from core.imports.plan import Checking

ColumnType = Literal["text", "code", "decimal", "integer", "date", "bool", "list"]
CODE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
TRUE = frozenset({"true", "yes", "y", "1", "x"})
FALSE = frozenset({"false", "no", "n", "0"})
LIST_SEPARATORS = re.compile(r"[;,|]")
MAX_PROBLEMS = 200
TYPE_DOCS: dict[ColumnType, str] = {
    "text": "text",
    "code": "a code: letters, digits, '.', '_' or '-' (read in upper case)",
    "decimal": "a number with '.' for decimals, e.g. 12.50",
    "integer": "a whole number",
    "date": "a date as YYYY-MM-DD",
    "bool": "yes or no (true/false, 1/0)",
    "list": "values separated by ';', e.g. sales;manager",
}


class CellError(ValueError):
    """A cell that does not parse as its column's type; the message says what to write instead."""


@dataclass(frozen=True)
class Column:
    """One column of an import file: its name in the header, its type, and what people are told about it."""

    name: str
    type: ColumnType = "text"
    required: bool = False
    example: str = ""
    doc: str = ""
    max_length: int | None = None

    def parse(self, raw: str) -> Any:
        """The cell's value (None when empty), or a CellError saying what to fix."""
        text = raw.strip()
        if not text:
            return None
        value = PARSERS[self.type](text)
        if self.max_length is not None and isinstance(value, str) and len(value) > self.max_length:
            raise CellError(f"is {len(value)} characters long; at most {self.max_length} fit")
        return value


def _text(text: str) -> str:
    if "\x00" in text:
        raise CellError("holds a NUL character; remove it")
    return text


def _code(text: str) -> str:
    code = text.upper()
    if not CODE.fullmatch(code):
        raise CellError(
            f"'{text}' is not a code: use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return code


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(" ", ""))
    except InvalidOperation:
        raise CellError(
            f"'{text}' is not a number; write it like 12.50 (a '.' for decimals, no currency sign)"
        ) from None
    if not value.is_finite():
        raise CellError(f"'{text}' is not a number; write it like 12.50")
    return value


def _integer(text: str) -> int:
    cleaned = text[:-2] if text.endswith(".0") else text  # spreadsheets write whole numbers as 30.0
    try:
        return int(cleaned)
    except ValueError:
        raise CellError(f"'{text}' is not a whole number; write it like 30") from None


def _date(text: str) -> date:
    try:
        return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        raise CellError(f"'{text}' is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31") from None


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise CellError(f"'{text}' is not yes or no; write yes or no")


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in LIST_SEPARATORS.split(text) if part.strip())


PARSERS: dict[ColumnType, Callable[[str], Any]] = {
    "text": _text,
    "code": _code,
    "decimal": _decimal,
    "integer": _integer,
    "date": _date,
    "bool": _bool,
    "list": _list,
}


@dataclass(frozen=True)
class Problem:
    """What is wrong where: the file, the row as a spreadsheet numbers it (the header is row 1; 0 for the file
    itself), the column (empty for a whole row or file) and what to fix."""

    file: str
    row: int
    column: str
    message: str

    def line(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.row or None, self.column or None) if p)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Refusal:
    """A changed value that history forbids (a warehouse's entity once it holds stock): kept as it was."""

    key: str
    column: str
    reason: str


@dataclass
class KindReport:
    """What an import did, or would do, to one kind of record."""

    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome of an import: per kind, in load order; the problems (the first MAX_PROBLEMS of
    `problem_count`); whether it was a dry run and whether anything was written."""

    kinds: list[KindReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    dry_run: bool = False
    applied: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def changed(self) -> int:
        return sum(k.created + k.updated for k in self.kinds)

    def counts(self) -> dict[str, dict[str, int]]:
        """Created, updated, unchanged and refused per kind, as plain numbers (the audit event's data)."""
        return {
            k.kind: {"created": k.created, "updated": k.updated, "unchanged": k.unchanged, "refused": len(k.refused)}
            for k in self.kinds
        }


class Problems:
    """Collects problems up to a cap and counts the rest, so one bad column of 100,000 rows reads as a list."""

    def __init__(self, cap: int = MAX_PROBLEMS) -> None:
        self.cap = cap
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, file: str, row: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.kept) < self.cap:
            self.kept.append(Problem(file, row, column, message))

    def __bool__(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class SourceRow:
    """One data row of a file, parsed: its place, and its values by column name (None where empty)."""

    file: str
    row: int
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)


Check = Callable[["Checking", list[SourceRow]], None]


@dataclass(frozen=True)
class Kind:
    """A kind of record a file can hold: its columns, its business key, the kinds it refers to, and the function
    that checks its rows into a plan (the engine in `core.imports.plan` applies plans set-based)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    depends: tuple[str, ...]
    check: Check
    doc: str = ""
    frozen_doc: tuple[str, ...] = ()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

"""Reading import files: CSV (UTF-8 with or without a BOM, ',' or ';' between cells) and XLSX, from a file, a
directory, or uploaded bytes. A file's kind is its name (`items.csv`); an XLSX's sheets are named after kinds,
unless the workbook itself is `<kind>.xlsx`. Whatever cannot be read becomes a problem, never a traceback."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.imports.kinds import kind_named, kind_names
from core.imports.spec import CellError, Kind, Problems, SourceRow

SUFFIXES = (".csv", ".xlsx")


@dataclass
class SourceTable:
    """One file (or sheet) of one kind, its cells as text, numbered as a spreadsheet numbers them."""

    file: str
    kind: Kind
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def read_path(path: Path, problems: Problems) -> list[SourceTable]:
    """The tables in a file, or in every CSV and XLSX file of a directory (name order)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith("~$"))
        if not files:
            problems.add(path.name, 0, "", "the folder holds no .csv or .xlsx file; put one file per kind in it")
        return [t for f in files for t in read_bytes(f.name, f.read_bytes(), problems)]
    if not path.is_file():
        problems.add(str(path), 0, "", "no such file or folder")
        return []
    return read_bytes(path.name, path.read_bytes(), problems)


def read_bytes(name: str, data: bytes, problems: Problems) -> list[SourceTable]:
    """The tables in one file's bytes (an upload or a file on disk)."""
    suffix = Path(name).suffix.lower()
    stem = Path(name).stem.lower()
    if suffix == ".xlsx":
        return _read_xlsx(name, stem, data, problems)
    if suffix != ".csv":
        problems.add(name, 0, "", "not a .csv or .xlsx file; save it as CSV UTF-8 or as an Excel workbook")
        return []
    kind = _kind_of(name, stem, problems)
    if kind is None:
        return []
    grid = _csv_grid(name, data, problems)
    return [] if grid is None else _table(name, kind, grid, problems)


def _kind_of(name: str, stem: str, problems: Problems) -> Kind | None:
    kind = kind_named(stem)
    if kind is None:
        problems.add(
            name, 0, "", f"'{stem}' is not a kind of import file; name the file after one of: {', '.join(kind_names())}"
        )
    return kind


def _csv_grid(name: str, data: bytes, problems: Problems) -> list[list[str]] | None:
    if b"\x00" in data:
        problems.add(name, 0, "", "this is not a text file (it holds binary data); save it as CSV UTF-8")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.add(name, 0, "", f"not UTF-8 text (byte {error.start}); save it as 'CSV UTF-8'")
        return None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        problems.add(name, 0, "", f"not readable as CSV ({error}); check its quotes")
        return None


def _read_xlsx(name: str, stem: str, data: bytes, problems: Problems) -> list[SourceTable]:
    try:
        import openpyxl  # imported here: only XLSX imports need it
    except ImportError:
        problems.add(name, 0, "", "reading .xlsx needs the openpyxl package; install it, or save the sheets as CSV")
        return []
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds (zip, XML, key errors) for a damaged workbook
        problems.add(name, 0, "", f"not a readable Excel workbook ({type(error).__name__}); save it again as .xlsx")
        return []
    tables = []
    whole_book = kind_named(stem)
    for sheet in book.worksheets:
        kind = whole_book if whole_book is not None and len(book.worksheets) == 1 else kind_named(sheet.title.lower())
        where = f"{name}[{sheet.title}]"
        if kind is None:
            problems.add(
                where, 0, "", f"sheet '{sheet.title}' is not a kind; name it after one of: {', '.join(kind_names())}"
            )
            continue
        grid = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        tables += _table(where, kind, grid, problems)
    book.close()
    return tables


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table(name: str, kind: Kind, grid: list[list[str]], problems: Problems) -> list[SourceTable]:
    """The header checked against the kind's columns; blank rows dropped; rows numbered from 2."""
    if not grid or not any(c.strip() for c in grid[0]):
        problems.add(
            name,
            0,
            "",
            f"the file is empty; its first row must be the header: {', '.join(c.name for c in kind.columns)}",
        )
        return []
    header = [c.strip().lower() for c in grid[0]]
    if not _header_ok(name, kind, header, problems):
        return []
    rows = [(n, cells) for n, cells in enumerate(grid[1:], start=2) if any(c.strip() for c in cells)]
    return [SourceTable(name, kind, header, rows)]


def _header_ok(name: str, kind: Kind, header: list[str], problems: Problems) -> bool:
    ok = True
    known = {c.name for c in kind.columns}
    for position, column in enumerate(header, start=1):
        if not column:
            continue
        if column not in known:
            problems.add(
                name,
                1,
                column,
                f"unknown column '{column}' for {kind.name}; the columns are {', '.join(c.name for c in kind.columns)}",
            )
            ok = False
        elif header.index(column) != position - 1:
            problems.add(name, 1, column, f"column '{column}' appears twice; keep one")
            ok = False
    for required in kind.required:
        if required not in header:
            problems.add(name, 1, required, f"required column '{required}' is missing; add it to the header")
            ok = False
    return ok


def parse_rows(table: SourceTable, problems: Problems) -> list[SourceRow]:
    """Each row's cells parsed by their columns' types; a bad or missing required cell is a problem."""
    columns = [(i, table.kind.column(name)) for i, name in enumerate(table.header) if name]
    out = []
    for number, cells in table.rows:
        values: dict[str, Any] = {}
        good = True
        for index, column in columns:
            assert column is not None
            raw = cells[index] if index < len(cells) else ""
            try:
                values[column.name] = column.parse(raw)
            except CellError as error:
                problems.add(table.file, number, column.name, f"{column.name} {error}")
                good = False
                continue
            if column.required and values[column.name] is None:
                problems.add(table.file, number, column.name, f"{column.name} is required; fill it in")
                good = False
        if len(cells) > len(table.header) and any(c.strip() for c in cells[len(table.header) :]):
            problems.add(
                table.file, number, "", "the row has more cells than the header has columns; check its delimiters"
            )
            good = False
        if good:
            out.append(SourceRow(table.file, number, values))
    return out

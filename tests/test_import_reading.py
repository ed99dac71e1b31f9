"""Reading import files: CSV dialects, XLSX sheets, and every malformed file becoming a problem, not a traceback.
No database: reading and cell parsing are pure."""

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.imports.reading import parse_rows, read_bytes, read_path
from core.imports.spec import CellError, Column, Problems


def _read(name: str, data: bytes) -> tuple[list[dict[str, object]], Problems]:
    problems = Problems()
    rows = [r.values for t in read_bytes(name, data, problems) for r in parse_rows(t, problems)]
    return rows, problems


def _where(problems: Problems) -> list[tuple[str, int, str]]:
    return [(p.file, p.row, p.column) for p in problems.kept]


def test_a_semicolon_csv_with_a_bom_reads_like_a_plain_one() -> None:
    plain, _ = _read("items.csv", b"sku,name,category,standard_cost,list_price\nV-1,Valve,valves,1.5,2\n")
    excel = "\ufeffsku;name;category;standard_cost;list_price\r\nV-1;Valve;valves;1.5;2\r\n".encode()
    semicolons, problems = _read("items.csv", excel)
    assert not problems and semicolons == plain
    assert plain[0]["standard_cost"] == Decimal("1.5")


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("items.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("items.csv", "sku,name\nV-1,Ventil f\u00fcr K\u00fchler\n".encode("latin-1"), "not UTF-8"),
        ("items.csv", b"", "empty"),
        ("items.csv", b"\n\n", "empty"),
        ("stuff.csv", b"a,b\n1,2\n", "not a kind"),
        ("items.txt", b"sku\n", "not a .csv or .xlsx"),
        ("items.xlsx", b"PK\x03\x04 not really a zip", "workbook"),
    ],
)
def test_a_malformed_file_is_a_problem_of_the_file(name: str, data: bytes, says: str) -> None:
    rows, problems = _read(name, data)
    assert rows == [] and problems.count == 1 and problems.kept[0].row in (0, 1), problems.kept
    assert says in problems.kept[0].message or (says == "workbook" and "openpyxl" in problems.kept[0].message)


def test_unknown_repeated_and_missing_columns_are_named_in_the_header() -> None:
    _, problems = _read("items.csv", b"sku,name,colour,name,standard_cost\nV-1,Valve,red,Valve,1\n")
    assert set(_where(problems)) == {
        ("items.csv", 1, "colour"),
        ("items.csv", 1, "name"),
        ("items.csv", 1, "category"),
        ("items.csv", 1, "list_price"),
    }


def test_bad_cells_are_named_by_row_and_column_and_blank_rows_are_skipped() -> None:
    data = (
        b"sku,name,category,standard_cost,list_price,active\nV-1,Valve,valves,1,2,yes\n,,,,,\nV-2,,valves,x,2,maybe\n"
    )
    rows, problems = _read("items.csv", data)
    assert len(rows) == 1
    assert _where(problems) == [("items.csv", 4, "name"), ("items.csv", 4, "standard_cost"), ("items.csv", 4, "active")]
    assert "name is required" in problems.kept[0].message and "yes or no" in problems.kept[2].message


def test_problems_stop_being_listed_at_the_cap_but_are_counted() -> None:
    body = "".join(f"V-{n},Valve,valves,not-a-number,2\n" for n in range(250))
    _, problems = _read("items.csv", ("sku,name,category,standard_cost,list_price\n" + body).encode())
    assert (problems.count, len(problems.kept)) == (250, 200)


def test_cells_parse_by_their_column_type() -> None:
    assert Column("d", "date").parse(" 2026-03-01 ") == date(2026, 3, 1)
    assert Column("d", "date").parse("2026-03-01 00:00:00") == date(2026, 3, 1)
    assert Column("r", "list").parse("sales; manager") == ("sales", "manager")
    assert Column("n", "integer").parse("30.0") == 30
    assert Column("c", "code").parse("na-1") == "NA-1"
    assert Column("t", "text").parse("   ") is None
    for column, bad in (
        (Column("d", "date"), "31/01/2026"),
        (Column("c", "code"), "N A"),
        (Column("n", "integer"), "3.5"),
    ):
        with pytest.raises(CellError):
            column.parse(bad)
    with pytest.raises(CellError, match="at most 3"):
        Column("x", "text", max_length=3).parse("EURO")


def test_a_folder_reads_its_csv_files_and_an_empty_folder_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("sku,name,category,standard_cost,list_price\nV-1,Valve,valves,1,2\n")
    (tmp_path / "notes.md").write_text("ignored")
    problems = Problems()
    assert [t.kind.name for t in read_path(tmp_path, problems)] == ["items"] and not problems
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_path(empty, problems) == [] and "no .csv or .xlsx" in problems.kept[0].message


def test_an_xlsx_workbook_reads_a_sheet_per_kind() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    items = book.active
    items.title = "items"
    items.append(["sku", "name", "category", "standard_cost", "list_price", "active"])
    items.append(["V-1", "Valve", "valves", 1.5, 2, True])
    rates = book.create_sheet("currency_rates")
    rates.append(["from_currency", "to_currency", "rate", "valid_from"])
    rates.append(["EUR", "USD", 1.08, date(2026, 1, 1)])
    book.create_sheet("Notes").append(["anything"])
    buffer = io.BytesIO()
    book.save(buffer)
    problems = Problems()
    tables = read_bytes("company.xlsx", buffer.getvalue(), problems)
    assert [t.kind.name for t in tables] == ["items", "currency_rates"]
    assert _where(problems) == [("company.xlsx[Notes]", 0, "")]
    item = parse_rows(tables[0], problems)[0].values
    assert (item["standard_cost"], item["active"]) == (Decimal("1.5"), True)
    assert parse_rows(tables[1], problems)[0].values["valid_from"] == date(2026, 1, 1)


def test_kinds_load_after_the_kinds_they_refer_to_and_their_keys_are_columns() -> None:
    from core.imports.kinds import KINDS

    names = [k.name for k in KINDS]
    for position, kind in enumerate(KINDS):
        assert all(names.index(d) < position for d in kind.depends), kind.name
        assert all(kind.column(k) is not None and kind.column(k).required for k in kind.key), kind.name  # type: ignore[union-attr]

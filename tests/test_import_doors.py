"""The import's doors: the terminal (`erp-assistant import run | template | kinds`) on a SQLite file, and
`POST /api/import` / `GET /api/import/kinds` over the web; plus the generated reference that cannot drift."""

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import Result

from core.db import Database
from core.imports.kinds import KINDS
from core.imports.templates import REFERENCE_PATH, reference_markdown
from core.masterdata.models import Item
from tests import web
from tests.imports import COMPANY, write_company
from tests.test_cli_shipping import _cli

ROOT = Path(__file__).resolve().parents[1]


def _said(result: Result) -> str:
    return " ".join(result.output.split())


def test_the_committed_reference_is_the_rendering_of_the_specs() -> None:
    assert (ROOT / REFERENCE_PATH).read_text(encoding="utf-8") == reference_markdown(), (
        "run `erp-assistant import reference --out docs/import.md`"
    )


def test_cli_imports_a_company_into_an_empty_database_then_reruns_unchanged(tmp_path: Path, wide_console: None) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    folder = write_company(tmp_path / "co")
    first = _cli(url, "import", "run", str(folder), "--no-index")
    assert first.exit_code == 0, first.output
    assert "no problems" in _said(first) and "records created or updated" in _said(first)
    again = _cli(url, "import", "run", str(folder), "--no-index", "--user", "root")
    assert again.exit_code == 0 and "0 records created or updated" in _said(again), again.output
    clerk = _cli(url, "import", "run", str(folder), "--no-index", "--user", "karl")
    assert clerk.exit_code == 1 and "permission_denied" in _said(clerk), clerk.output


def test_cli_shows_problems_with_file_row_column_and_exits_1(tmp_path: Path, wide_console: None) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    folder = write_company(tmp_path / "co", warehouses=COMPANY["warehouses"] + "NYC,New York,XX,New York\n")
    (folder / "stuff.csv").write_text("a,b\n1,2\n")
    result = _cli(url, "import", "run", str(folder), "--dry-run")
    assert result.exit_code == 1, result.output
    said = _said(result)
    assert "nothing was written" in said and "warehouses.csv" in said and "unknown entity 'XX'" in said
    assert "'stuff' is not a kind of import file" in said


def test_cli_writes_templates_and_lists_kinds(tmp_path: Path, wide_console: None) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    one = _cli(url, "import", "template", "items", "--out", str(tmp_path / "t"))
    assert one.exit_code == 0 and "standard_cost" in one.output and "required" in one.output, one.output
    assert (tmp_path / "t" / "items.csv").read_text().startswith("sku,name,category,standard_cost,list_price")
    every = _cli(url, "import", "template", "all", "--out", str(tmp_path / "all"))
    assert every.exit_code == 0 and sorted(p.stem for p in (tmp_path / "all").iterdir()) == sorted(
        k.name for k in KINDS
    )
    unknown = _cli(url, "import", "template", "itemz")
    assert unknown.exit_code == 1 and "did you mean" in _said(unknown)
    listed = _cli(url, "import", "kinds")
    assert listed.exit_code == 0 and "user_scopes" in listed.output


def test_rest_import_is_for_admins_and_returns_the_typed_report(client: TestClient, demo: Database) -> None:
    web.set_passwords(demo, "admin")
    files = [("files", ("items.csv", b"sku,name,category,standard_cost,list_price\nIMP-1,Imported,misc,1,2\n"))]
    maria = web.sign_in(client, "maria")
    denied = client.post("/api/import", files=files, data={"dry_run": "true"}, headers=maria)
    assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied"), denied.text
    client.cookies.clear()
    admin = web.sign_in(client, "admin")
    dry = client.post("/api/import", files=files, data={"dry_run": "true"}, headers=admin)
    assert dry.status_code == 200, dry.text
    assert dry.json()["applied"] is False and dry.json()["kinds"][0] == {
        "kind": "items", "created": 1, "updated": 0, "unchanged": 0, "refused": []
    }  # fmt: skip
    done = client.post("/api/import", files=files, headers=admin)
    assert done.json()["applied"] is True and done.json()["ok"] is True, done.text
    bad = [("files", ("items.csv", b"sku,name,category,standard_cost,list_price\nIMP-2,Bad,misc,x,2\n"))]
    refused = client.post("/api/import", files=bad, headers=admin).json()
    assert refused["ok"] is False and refused["problems"][0] == {
        "file": "items.csv", "row": 2, "column": "standard_cost",
        "message": "standard_cost 'x' is not a number; write it like 12.50 (a '.' for decimals, no currency sign)",
    }  # fmt: skip
    kinds = client.get("/api/import/kinds").json()
    assert [k["name"] for k in kinds] == [k.name for k in KINDS]
    assert kinds[0]["columns"][0] == {
        "name": "code", "type": "code", "required": True, "example": "NA",
        "doc": "The legal entity's code, used by every other file to name it.",
    }  # fmt: skip


class RecordingIndex:
    """Stands in for the web assistant's search index: records what it was asked to sync."""

    def __init__(self) -> None:
        self.skus: list[list[str]] = []

    def sync_items(self, db: Database) -> str:
        self.skus.append(db.read(lambda s: sorted(s.scalars(select(Item.sku).where(Item.sku.like("IMP-%"))))))
        return "synced"


def test_a_rest_import_that_changes_items_updates_the_assistants_search_index(
    client: TestClient, demo: Database
) -> None:
    web.set_passwords(demo, "admin")
    recording = RecordingIndex()
    client.app.state.services.assistant.search = recording  # type: ignore[attr-defined]
    admin = web.sign_in(client, "admin")
    files = [("files", ("items.csv", b"sku,name,category,standard_cost,list_price\nIMP-7,Imported,misc,1,2\n"))]
    client.post("/api/import", files=files, data={"dry_run": "true"}, headers=admin)
    assert recording.skus == []  # a dry run changes nothing, so nothing to embed
    client.post("/api/import", files=files, headers=admin)
    assert recording.skus == [["IMP-7"]]  # after the answer, with the new item committed
    client.post("/api/import", files=files, headers=admin)
    assert recording.skus == [["IMP-7"]]  # the same file again changed nothing

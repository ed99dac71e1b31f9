"""Importing master data from CSV files into an empty database, on both databases: every kind, re-runs,
updates, refusals by history, dry runs and all-or-nothing."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.actor import Actor, Role
from core.audit.models import AuditEvent
from core.db import Database
from core.errors import PermissionDenied
from core.imports import ImportReport, Problems, import_master_data, read_files
from core.masterdata.models import (
    ContractPrice,
    Customer,
    Item,
    ItemSubstitute,
    LegalEntity,
    PriceListItem,
    User,
    UserEntityScope,
    UserRole,
    Warehouse,
)
from core.models import Base
from core.sales.service import LineRequest
from tests.imports import ADMIN, COMPANY, write_company
from tests.world import World


def run(db: Database, folder: Path, *, dry_run: bool = False, actor: Actor = ADMIN) -> ImportReport:
    problems = Problems()
    tables = read_files([folder], problems)
    return import_master_data(db, actor, tables, problems, dry_run=dry_run)


def counts(db: Database) -> dict[str, int]:
    def read(s: object) -> dict[str, int]:
        return {
            name: s.scalar(select(func.count()).select_from(table))  # type: ignore[attr-defined]
            for name, table in Base.metadata.tables.items()
            if name != "audit_events"
        }

    return db.read(read)


def by_kind(report: ImportReport) -> dict[str, tuple[int, int, int]]:
    return {k.kind: (k.created, k.updated, k.unchanged) for k in report.kinds}


def test_every_kind_imports_and_a_rerun_changes_nothing(db: Database, tmp_path: Path) -> None:
    report = run(db, write_company(tmp_path / "co"))
    assert report.ok and report.applied, report.problems
    assert set(by_kind(report)) == set(COMPANY)
    assert by_kind(report)["items"] == (3, 0, 0) and by_kind(report)["user_scopes"] == (3, 0, 0)
    with db.session() as s:
        item = s.scalars(select(Item).where(Item.sku == "PX-1")).one()
        assert (item.sku_key, item.uom, item.active) == ("PX1", "EA", True)
        assert s.scalar(select(func.count()).select_from(ItemSubstitute)) == 1
        assert s.scalar(select(func.count()).select_from(PriceListItem)) == 2
        assert s.scalar(select(func.count()).select_from(ContractPrice)) == 1
        karl = s.scalars(select(User).where(User.username == "karl")).one()
        assert set(s.scalars(select(UserRole.role).where(UserRole.user_id == karl.id))) == {"sales", "manager"}
        assert s.scalar(select(UserEntityScope.approval_limit).where(UserEntityScope.user_id == karl.id)) == 20000
        warehouse = s.scalars(select(Warehouse).where(Warehouse.code == "CHI")).one()
        assert warehouse.entity.code == "US"
    before = counts(db)
    again = run(db, tmp_path / "co")
    assert again.ok and again.changed == 0, by_kind(again)
    assert all(created == updated == 0 for created, updated, _ in by_kind(again).values())
    assert counts(db) == before


def test_a_changed_row_updates_its_record_and_roles_follow(db: Database, tmp_path: Path) -> None:
    run(db, write_company(tmp_path / "co"))
    items = COMPANY["items"].replace("PX-2,Pump 2 kW,pumps,150.00", "PX-2,Pump 2 kW,pumps,155.50")
    users = COMPANY["users"].replace("sales;manager", "sales")
    report = run(db, write_company(tmp_path / "co2", items=items, users=users))
    assert report.ok, report.problems
    assert by_kind(report)["items"] == (0, 1, 2) and by_kind(report)["users"] == (0, 1, 1)
    with db.session() as s:
        assert s.scalar(select(Item.standard_cost).where(Item.sku == "PX-2")) == pytest.approx(155.5)
        karl = s.scalars(select(User.id).where(User.username == "karl")).one()
        assert list(s.scalars(select(UserRole.role).where(UserRole.user_id == karl))) == ["sales"]


def test_new_files_may_name_records_already_in_the_database(db: Database, tmp_path: Path) -> None:
    run(db, write_company(tmp_path / "co"))
    later = tmp_path / "later"
    later.mkdir()
    (later / "items.csv").write_text("sku,name,category,standard_cost,list_price\nNEW-1,New thing,misc,1,2\n")
    (later / "price_list_items.csv").write_text("price_list,sku,unit_price\nEU-TRADE,NEW-1,1.80\n")
    report = run(db, later)
    assert report.ok and by_kind(report)["price_list_items"] == (1, 0, 0), report.problems


def test_a_frozen_field_of_a_used_record_is_refused_and_the_rest_updates(db: Database, tmp_path: Path) -> None:
    run(db, write_company(tmp_path / "co"))
    with db.session(write=True) as s:  # the price list is in use once a customer has it (BAUHAUS does)
        s.commit()
    lists = COMPANY["price_lists"].replace("Trade (EU),EU,EUR", "Trade Europe,EU,USD")
    report = run(db, write_company(tmp_path / "co2", price_lists=lists))
    assert report.ok and report.applied, report.problems
    kind = next(k for k in report.kinds if k.kind == "price_lists")
    assert (kind.updated, [(r.key, r.column) for r in kind.refused]) == (1, [("EU-TRADE", "currency")])
    assert "customers use the price list" in kind.refused[0].reason
    with db.session() as s:
        from core.masterdata.models import PriceList

        row = s.scalars(select(PriceList)).one()
        assert (row.name, row.currency) == ("Trade Europe", "EUR")


def test_dry_run_reports_counts_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    before = counts(db)
    report = run(db, write_company(tmp_path / "co"), dry_run=True)
    assert report.ok and report.dry_run and not report.applied
    assert by_kind(report)["customers"] == (2, 0, 0)
    assert counts(db) == before


def test_a_file_set_with_errors_changes_nothing_and_names_every_problem(db: Database, tmp_path: Path) -> None:
    run(db, write_company(tmp_path / "co"))
    before = counts(db)
    bad = write_company(
        tmp_path / "bad",
        warehouses=COMPANY["warehouses"] + "NYC,New York,XX,New York\n",
        items=COMPANY["items"]
        + "PX-1,Again,pumps,1,2,EA,,yes\nQQ-1,Cheap,misc,abc,2,EA,,yes\nQQ-2,Neg,misc,-1,2,EA,,yes\n"
        "px 1,Spelled,pumps,1,2,EA,,yes\n",
        suppliers=COMPANY["suppliers"] + "BAD,Bad,EU,EURO,5,30,\n",
        customers=COMPANY["customers"] + "NOWHERE,No entity,ZZ,A,1,30,\nOTHER,Other list,US,B,1,30,EU-TRADE\n",
    )
    report = run(db, bad)
    assert not report.ok and not report.applied
    found = {(p.file, p.row, p.column) for p in report.problems}
    assert ("warehouses.csv", 4, "entity") in found  # an unknown entity
    assert ("items.csv", 5, "sku") in found  # a duplicate SKU
    assert ("items.csv", 6, "standard_cost") in found  # not a number
    assert ("items.csv", 7, "standard_cost") in found  # negative
    assert ("items.csv", 8, "sku") in found  # the same SKU spelled differently
    assert ("suppliers.csv", 4, "currency") in found  # not three letters
    assert ("customers.csv", 4, "entity") in found  # an entity neither in the files nor the database
    assert ("customers.csv", 5, "price_list") in found  # another entity's price list
    messages = " ".join(p.message for p in report.problems)
    assert "unknown entity 'XX'" in messages and "not a number" in messages and "duplicate" in messages
    assert counts(db) == before


def test_only_an_admin_imports(db: Database, tmp_path: Path) -> None:
    clerk = Actor(user_id=1, username="sam", roles=frozenset({Role.SALES}), entity_ids=frozenset({1}))
    with pytest.raises(PermissionDenied, match="admin"):
        run(db, write_company(tmp_path / "co"), actor=clerk)
    assert db.read(lambda s: s.scalar(select(func.count()).select_from(LegalEntity))) == 0
    assert db.read(lambda s: s.scalar(select(func.count()).select_from(Customer))) == 0


def _refusals(report: ImportReport) -> dict[str, list[tuple[str, str]]]:
    return {k.kind: [(r.key, r.column) for r in k.refused] for k in report.kinds if k.refused}


def test_what_history_fixes_is_refused_on_a_company_with_stock_and_orders(world: World, tmp_path: Path) -> None:
    world.place_order("ACME", LineRequest(sku="V-200", quantity=2))
    root = world.actor("root")
    changes = {
        "entities": "code,name,base_currency,country\nNA,Northwind America,EUR,US\n",
        "warehouses": "code,name,entity,city\nDAL,Dallas Main DC,UK,Dallas\n",
        "items": "sku,name,category,standard_cost,list_price,uom\nV-200,Valve 200,valves,11.67,19.90,BOX\n",
        "customers": "code,name,entity\nACME,Acme Renamed,UK\nBOLT,Bolt Brothers,UK\n",
    }
    files = write_company(tmp_path / "changes", **(dict.fromkeys(COMPANY, "") | changes))
    report = run(world.db, files, actor=root)
    assert report.ok and report.applied, report.problems
    assert _refusals(report) == {
        "entities": [("NA", "base_currency")],
        "warehouses": [("DAL", "entity")],
        "items": [("V-200", "uom")],
        "customers": [("ACME", "entity")],
    }
    with world.db.session() as s:
        acme = s.scalars(select(Customer).where(Customer.code == "ACME")).one()
        bolt = s.scalars(select(Customer).where(Customer.code == "BOLT")).one()
        dallas = s.scalars(select(Warehouse).where(Warehouse.code == "DAL")).one()
        assert (acme.name, acme.entity.code) == ("Acme Renamed", "NA")  # the name changes, the entity stays
        assert bolt.entity.code == "UK"  # no orders yet: it may move
        assert (dallas.name, dallas.entity.code) == ("Dallas Main DC", "NA")
        assert s.scalar(select(Item.uom).where(Item.sku == "V-200")) == "EA"


def test_an_import_is_audited_once_with_its_counts(db: Database, tmp_path: Path) -> None:
    run(db, write_company(tmp_path / "co"))
    with db.session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "master_data_imported")))
    assert len(events) == 1 and events[0].actor_user_id is None and events[0].entity_id is None
    assert events[0].data["kinds"]["items"] == {"created": 3, "updated": 0, "unchanged": 0, "refused": 0}


def test_a_workbook_with_a_sheet_per_kind_imports_like_the_csv_files(db: Database, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for kind, text in COMPANY.items():
        sheet = book.create_sheet(kind)
        for line in text.strip().splitlines():
            sheet.append(line.split(","))
    folder = tmp_path / "xlsx"
    folder.mkdir()
    book.save(folder / "company.xlsx")
    from_workbook = run(db, folder)
    assert from_workbook.ok and from_workbook.applied, from_workbook.problems
    assert by_kind(from_workbook)["customers"] == (2, 0, 0)
    from_csv = run(db, write_company(tmp_path / "co"))
    assert from_csv.ok and from_csv.changed == 0, by_kind(from_csv)


def test_an_integration_role_is_not_imported_with_the_people(db: Database, tmp_path: Path) -> None:
    """A system sending documents is made by `erp-assistant integrations add`, never as a person who signs in."""
    users = COMPANY["users"] + "shop,Web shop,shop@nordwind.example,integration,yes\n"
    report = run(db, write_company(tmp_path / "co", users=users))
    assert not report.ok and not report.applied
    (problem,) = [p for p in report.problems if p.file == "users.csv"]
    assert (problem.row, problem.column) == (4, "roles") and "integration" in problem.message

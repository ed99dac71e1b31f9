"""The sample company (examples/sample-company: Harbor & Fjord Supply) imports with its opening balances into an
empty database in one run, a re-run changes nothing, the ledger agrees with the balances, and the terminal
imports as the database's only admin unless told otherwise."""

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from assistant.cli import app
from core import schema
from core.db import Database
from core.errors import InvalidInput, OutOfScope
from core.finance.models import Invoice
from core.finance.service import get_invoice
from core.imports import ImportReport, Problems, import_master_data, importing_actor, read_files
from core.masterdata.models import Customer, Item, User, UserRole, Warehouse
from core.masterdata.service import load_actor
from core.sales.models import SalesOrder
from core.sales.service import get_order
from core.stock.models import StockBalance
from core.stock.reconciliation import stock_disagreements
from tests.imports import ADMIN

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample-company"


def _import(db: Database, folder: Path = SAMPLE) -> ImportReport:
    problems = Problems()
    tables = read_files([folder], problems)
    actor = db.read(lambda s: importing_actor(s, username=None))
    return import_master_data(db, actor, tables, problems)


def test_the_sample_company_imports_cleanly_and_a_rerun_changes_nothing(db: Database) -> None:
    first = _import(db)
    assert first.ok and first.applied, [p.line() for p in first.problems]
    created = {k.kind: k.created for k in first.kinds}
    assert created["opening_stock"] > 80 and created["open_purchase_orders"] == 3
    assert created["open_sales_orders"] == 5 and created["open_receivables"] == 7
    again = _import(db)  # now as ines, the only active admin
    assert again.ok and again.changed == 0
    assert all(k.refused == [] and k.created == k.updated == 0 for k in again.kinds)
    assert db.read(stock_disagreements) == []


def test_the_sample_company_has_a_backorder_a_held_order_and_an_item_with_no_stock(db: Database) -> None:
    assert _import(db).ok

    def facts(session: Session) -> tuple[str | None, int | None, int]:
        held = session.scalar(select(SalesOrder.status).where(SalesOrder.external_ref == "SO-50133"))
        backordered = session.scalar(
            select(StockBalance.backordered)
            .join(Item, Item.id == StockBalance.item_id)
            .join(Warehouse, Warehouse.id == StockBalance.warehouse_id)
            .where(Item.sku == "HF-P300", Warehouse.code == "GOT")
        )
        unstocked = session.scalar(
            select(StockBalance.on_hand).join(Item, Item.id == StockBalance.item_id).where(Item.sku == "HF-B09")
        )
        return held, backordered, unstocked or 0

    assert db.read(facts) == ("on_hold", 4, 0)


def test_a_problem_in_an_opening_file_writes_nothing_at_all(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "co"
    folder.mkdir()
    for source in SAMPLE.iterdir():
        (folder / source.name).write_bytes(source.read_bytes())
    receivables = folder / "open_receivables.csv"
    receivables.write_text(receivables.read_text() + "NOBODY,INV-X,2026-10-01,2026-10-31,10.00,EUR\n")
    report = import_master_data(db, ADMIN, read_files([folder], Problems()), Problems())
    assert not report.applied
    assert [(p.file, p.row, p.column) for p in report.problems] == [("open_receivables.csv", 9, "customer")]
    assert db.read(lambda s: s.scalar(select(User.id))) is None  # the master data was not written either


def test_a_dry_run_of_opening_balances_reports_them_and_writes_nothing(db: Database) -> None:
    problems = Problems()
    tables = read_files([SAMPLE], problems)
    report = import_master_data(db, ADMIN, tables, problems, dry_run=True)
    assert report.ok and not report.applied
    assert {k.kind: k.created for k in report.kinds}["open_sales_orders"] == 5
    assert db.read(lambda s: s.scalar(select(Item.id))) is None


def test_the_terminal_imports_as_the_only_admin_and_refuses_to_guess_among_several(db: Database) -> None:
    assert _import(db).ok
    assert db.read(lambda s: importing_actor(s, username=None)).username == "ines"

    def second_admin(s: Session) -> None:
        eva = s.scalar(select(User.id).where(User.username == "eva"))
        s.add(UserRole(user_id=eva, role="admin"))

    db.run(second_admin)
    with pytest.raises(InvalidInput, match=r"2 active admins \(eva, ines\).*--as USERNAME"):
        db.read(lambda s: importing_actor(s, username=None))
    assert db.read(lambda s: importing_actor(s, username="eva")).username == "eva"
    db.run(lambda s: s.execute(update(User).where(User.username == "eva").values(active=False)))
    assert db.read(lambda s: importing_actor(s, username=None)).username == "ines"


def _cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        app, ["import", "run", *args, "--no-index"], env={"ERP_DATABASE_URL": url, "COLUMNS": "200"}
    )


def test_import_run_from_the_terminal_names_the_admins_when_it_cannot_choose(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    database.dispose()
    first = _cli(url, str(SAMPLE))
    assert first.exit_code == 0, first.output
    assert "no problems" in first.output
    users = tmp_path / "users.csv"
    users.write_text("username,display_name,email,roles\nmarta,Marta Sol,marta@example.com,admin\n")
    added = _cli(url, str(users))  # one admin yet: imported as ines
    assert added.exit_code == 0, added.output
    again = _cli(url, str(users))
    assert again.exit_code == 1 and "2 active admins (ines, marta)" in again.output and "--as USERNAME" in again.output
    chosen = _cli(url, str(users), "--as", "marta")
    assert chosen.exit_code == 0, chosen.output


def test_an_export_from_the_terminal_imports_into_an_empty_database(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    for url in (source, target):
        database = Database.from_url(url)
        schema.upgrade(database.engine)
        database.dispose()
    assert _cli(source, str(SAMPLE)).exit_code == 0
    env = {"ERP_DATABASE_URL": source, "COLUMNS": "200"}
    refused = CliRunner().invoke(app, ["import", "export", str(tmp_path / "out"), "--as", "pieter"], env=env)
    assert refused.exit_code == 1 and "admin" in refused.output  # pieter sells; exporting is an admin's
    exported = CliRunner().invoke(app, ["import", "export", str(tmp_path / "out")], env=env)
    assert exported.exit_code == 0, exported.output
    assert "no passwords" in exported.output
    assert (tmp_path / "out" / "users.csv").read_text().splitlines()[0] == "username,display_name,email,roles,active"
    imported = _cli(target, str(tmp_path / "out"))
    assert imported.exit_code == 0 and "no problems" in imported.output, imported.output
    # The sample's own files find every record the export carried; only the opening stock's value differs (the
    # export values it at standard cost, the sample at its own unit costs), so its 90 figures are revalued.
    again = _cli(target, str(SAMPLE))
    assert again.exit_code == 0 and "no problems: 90 records created or updated" in again.output, again.output
    assert re.search(r"opening_stock\s*│\s*0\s*│\s*90\s*│", again.output), again.output


def _copy_sample(folder: Path) -> Path:
    folder.mkdir()
    for source in SAMPLE.glob("*.csv"):
        (folder / source.name).write_bytes(source.read_bytes())
    return folder


def test_a_refusal_of_the_cores_command_names_the_documents_row_and_writes_nothing(
    db: Database, tmp_path: Path
) -> None:
    folder = _copy_sample(tmp_path / "co")
    orders = folder / "open_sales_orders.csv"
    orders.write_text(orders.read_text() + "SO-50150,LEMAN,ZRH,2026-11-19,2026-12-03,HF-B09,2,,\n")  # discontinued
    report = _import(db, folder)
    assert not report.applied and report.problem_count == 1
    (problem,) = report.problems
    assert (problem.file, problem.row) == ("open_sales_orders.csv", 8) and "SO-50150" in problem.message
    assert db.read(lambda s: s.scalar(select(User.id))) is None


def test_a_changed_open_order_is_refused_and_reported_while_the_rest_is_unchanged(db: Database, tmp_path: Path) -> None:
    assert _import(db).ok
    folder = _copy_sample(tmp_path / "co")
    orders = folder / "open_sales_orders.csv"
    orders.write_text(
        orders.read_text().replace(
            "SO-50140,LEMAN,ZRH,2026-11-19,2026-12-03,HF-V20,8", "SO-50140,LEMAN,ZRH,2026-11-19,2026-12-03,HF-V20,9"
        )
    )
    report = _import(db, folder)
    assert report.ok and report.applied and report.changed == 0
    refused = {k.kind: k.refused for k in report.kinds}["open_sales_orders"]
    assert [(r.key, r.column) for r in refused] == [("SO-50140", "reference")]
    assert "change it with the product's own commands" in refused[0].reason


def test_people_find_an_imported_order_or_invoice_by_its_number_in_the_previous_system(db: Database) -> None:
    """SO-50130 is what the staff of Harbor & Fjord call ORUST's order; it was imported as an SO- of ours."""

    assert _import(db).ok

    def found(session: Session) -> tuple[str, str, str]:
        lars = load_actor(session, username="lars")  # sales, HFSE
        order = get_order(session, lars, order_number="so-50130")
        ours = get_order(session, lars, order_number=order.number)  # our own number still finds it
        invoice = get_invoice(session, load_actor(session, username="finn"), invoice_number="INV-NL-24811")
        assert isinstance(invoice, Invoice)
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        return customer.code, ours.number, invoice.number

    customer, number, invoice = db.read(found)
    assert customer == "ORUST" and number.startswith("SO-") and number != "SO-50130" and invoice.startswith("INV-")
    with pytest.raises(OutOfScope):  # pieter works for HFNL, not HFSE
        db.read(lambda s: get_order(s, load_actor(s, username="pieter"), order_number="SO-50130"))


def test_the_assistant_links_an_imported_order_named_by_its_previous_number(db: Database) -> None:
    """ "why is SO-50133 on hold?": the message names KOSTER's order by the number it had; the tools get ours."""
    from core.masterdata.mentions import MentionKind, link_mentions

    assert _import(db).ok

    def linked(username: str) -> list[tuple[str, ...]]:
        def read(session: Session) -> list[tuple[str, ...]]:
            actor = load_actor(session, username=username)
            found = link_mentions(session, actor, "why is SO-50133 on hold?", date(2026, 11, 20))
            return [m.ids for m in found.of(MentionKind.DOCUMENT)]

        return db.read(read)

    number = db.read(lambda s: s.scalar(select(SalesOrder.id).where(SalesOrder.external_ref == "SO-50133")))
    assert linked("lars") == [(f"SO-{number}",)]  # lars sells for HFSE, KOSTER's entity
    assert linked("pieter") == [()]  # HFNL's pieter: not in his scope, so not found

"""`erp-assistant shipping` end to end on a seeded SQLite file: ship through the gate, status, milestones."""

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.masterdata.models import LegalEntity
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.models import DemandSource, Reservation


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-shipping') / 'erp.db'}"
    result = _cli(url, "seed", "--items", "300", "--customers", "40", "--history-months", "2")
    assert result.exit_code == 0, result.output
    yield url


def _cli(url: str, *args: str) -> Result:
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    return CliRunner().invoke(app, list(args), env=env)


def _reserved_line(url: str) -> tuple[str, int]:
    def query(s: Session) -> tuple[str, int]:
        row = s.execute(
            select(SalesOrder.id, SalesOrderLine.line_no)
            .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
            .join(Reservation, Reservation.source_id == SalesOrderLine.id)
            .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
            .where(
                LegalEntity.code == "NA",
                SalesOrder.status == OrderStatus.CONFIRMED.value,
                Reservation.source_type == DemandSource.SALES_ORDER_LINE.value,
                Reservation.quantity >= 2,
            )
            .order_by(SalesOrder.id, SalesOrderLine.line_no)
            .limit(1)
        ).one()
        return f"SO-{row[0]}", row[1]

    db = Database.from_url(url)
    try:
        return db.read(query)
    finally:
        db.engine.dispose()


def test_the_warehouse_ships_a_line_follows_it_and_records_its_delivery(seeded: str) -> None:
    order, line = _reserved_line(seeded)
    shipped = _cli(
        seeded, "shipping", "ship", order, "--line", f"{line}=1", "--carrier", "UPS", "--tracking", "1ZCLI",
        "--user", "wes", "--yes",
    )  # fmt: skip
    assert shipped.exit_code == 0, shipped.output
    assert "executed" in shipped.output and "via UPS, tracking 1ZCLI" in shipped.output
    number = re.search(r"result: (SH-\d+)", shipped.output)
    assert number is not None
    status = _cli(seeded, "shipping", "status", order, "--user", "sam")
    assert status.exit_code == 0, status.output
    assert number.group(1) in status.output and "1ZCLI" in status.output and "shipped" in status.output
    delivered = _cli(seeded, "shipping", "milestone", number.group(1), "delivered", "--user", "wes")
    assert delivered.exit_code == 0, delivered.output
    assert "delivered" in _cli(seeded, "shipping", "status", order, "--user", "sam").output


def test_sales_cannot_ship_and_a_bad_line_is_refused_before_anything_is_drafted(seeded: str) -> None:
    order, line = _reserved_line(seeded)
    refused = _cli(seeded, "shipping", "ship", order, "--line", f"{line}=1", "--user", "sam", "--yes")
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    malformed = _cli(seeded, "shipping", "ship", order, "--line", "one=1", "--user", "wes", "--yes")
    assert malformed.exit_code == 1 and "LINE=UNITS" in malformed.output

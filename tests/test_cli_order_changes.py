"""`erp-assistant orders substitute | expedite` on a seeded SQLite file, through the gate, as sales staff use them."""

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.masterdata.models import Item, ItemSubstitute, LegalEntity
from core.sales.models import OrderStatus, SalesOrder, SalesOrderLine
from core.stock.reconciliation import stock_disagreements

T = TypeVar("T")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-order-changes') / 'erp.db'}"
    result = _cli(url, "seed", "--items", "300", "--customers", "40", "--history-months", "2")
    assert result.exit_code == 0, result.output
    yield url


def _cli(url: str, *args: str) -> Result:
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    return CliRunner().invoke(app, list(args), env=env)


def _line_with_substitute(url: str) -> tuple[str, int, str, str]:
    """An unshipped line of a confirmed NA order whose item has an approved substitute: (order, line, SKU, sub SKU)."""

    def query(s: Session) -> tuple[str, int, str, str]:
        row = s.execute(
            select(SalesOrder.id, SalesOrderLine.line_no, SalesOrderLine.item_id, Item.sku)
            .join(SalesOrderLine, SalesOrderLine.order_id == SalesOrder.id)
            .join(ItemSubstitute, ItemSubstitute.item_id == SalesOrderLine.item_id)
            .join(Item, Item.id == ItemSubstitute.substitute_id)
            .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
            .where(
                LegalEntity.code == "NA",
                SalesOrder.status == OrderStatus.CONFIRMED.value,
                SalesOrderLine.qty_shipped == 0,
            )
            .order_by(SalesOrder.id, SalesOrderLine.line_no)
            .limit(1)
        ).one()
        own = s.get(Item, row.item_id)
        assert own is not None
        return f"SO-{row.id}", row.line_no, own.sku, row.sku

    return _read(url, query)


def _read(url: str, query: Callable[[Session], T]) -> T:
    db = Database.from_url(url)
    try:
        return db.read(query)
    finally:
        db.engine.dispose()


def test_sales_substitutes_through_the_gate_and_a_non_substitute_is_refused(seeded: str) -> None:
    order, line, sku, sub = _line_with_substitute(seeded)
    wrong = _cli(seeded, "orders", "substitute", order, "--line", str(line), "--sku", sku, "--user", "sam", "--yes")
    assert wrong.exit_code == 1 and "invalid_input" in wrong.output and f"already carries {sku}" in wrong.output
    asked = ("orders", "substitute", order, "--line", str(line), "--sku", sub, "--backorder")
    done = _cli(seeded, *asked, "--user", "sam", "--yes")
    assert done.exit_code == 0, done.output
    assert f"Substitute {sub} for {sku} on {order} line {line}" in done.output and "substitution —" in done.output
    denied = _cli(seeded, "orders", "substitute", order, "--line", str(line), "--sku", sku, "--user", "wes", "--yes")
    assert denied.exit_code == 1 and "permission_denied" in denied.output
    assert _read(seeded, stock_disagreements) == []


def test_an_expedite_is_charged_through_the_gate_and_shows_on_the_order(seeded: str) -> None:
    order, *_ = _line_with_substitute(seeded)
    args = ("orders", "expedite", order, "--carrier", "FedEx", "--reason", "customer line down", "--user", "sam")
    bad = _cli(seeded, *args, "--amount", "lots", "--yes")
    assert bad.exit_code == 1 and "--amount is money" in bad.output
    negative = _cli(seeded, *args, "--amount", "-5", "--yes")
    assert negative.exit_code == 1 and "invalid_input" in negative.output
    done = _cli(seeded, *args, "--amount", "1.00", "--yes")
    assert done.exit_code == 0, done.output
    assert "expedite —" in done.output and f"Expedited freight on {order}: USD 1.00 via FedEx, absorbed" in done.output
    shown = _cli(seeded, "shipping", "status", order, "--user", "sam")
    assert shown.exit_code == 0 and "Charges" in shown.output and "absorbed" in shown.output, shown.output

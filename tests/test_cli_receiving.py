"""`erp-assistant receive` and `erp-assistant transfer ship|receive` on a generated company: drafts through the
gate, confirmed with --yes, refused plainly."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.models import PurchaseOrder, PurchaseOrderStatus
from core.purchasing.service import get_purchase_order
from core.stock.models import StockBalance
from core.stock.reconciliation import stock_disagreements
from core.transfers.service import TransferLineRequest, create_transfer, get_transfer


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'erp.db'}"
    result = _cli(url, "seed", "--items", "300", "--customers", "40", "--history-months", "2")
    assert result.exit_code == 0, result.output
    yield url


def _cli(url: str, *args: str) -> Result:
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    return CliRunner().invoke(app, list(args), env=env)


def _db(url: str) -> Database:
    return Database.from_url(url)


def _open_po(s: Session) -> tuple[str, str, int]:
    wes = load_actor(s, username="wes")
    for order in s.scalars(select(PurchaseOrder).where(PurchaseOrder.status == PurchaseOrderStatus.OPEN.value)):
        if wes.can_see(order.entity_id):
            po = get_purchase_order(s, wes, po_number=order.id)
            item = s.get(Item, po.lines[0].item_id)
            assert item is not None
            return po.number, item.sku, po.lines[0].open_quantity
    raise AssertionError("no open NA purchase order")


def test_receive_drafts_a_receipt_that_executes_and_refuses_the_wrong_role(seeded: str) -> None:
    db = _db(seeded)
    number, sku, open_units = db.read(_open_po)
    refused = _cli(seeded, "receive", number, "--line", f"{sku}=1", "--user", "sam", "--yes")
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    malformed = _cli(seeded, "receive", number, "--line", "1", "--user", "wes", "--yes")
    assert malformed.exit_code == 1 and "is not SKU=UNITS" in malformed.output
    done = _cli(seeded, "receive", number, "--line", f"{sku}=1", "--user", "wes", "--yes")
    assert done.exit_code == 0, done.output
    assert "po_receipt — executed" in done.output and f"result: {number}" in done.output
    left = db.read(lambda s: get_purchase_order(s, load_actor(s, username="wes"), po_number=number).lines[0])
    assert left.open_quantity == open_units - 1
    assert db.read(stock_disagreements) == []


def _free_sku(s: Session, warehouse: str, units: int) -> str:
    wh = s.scalars(select(Warehouse).where(Warehouse.code == warehouse)).one()
    free = StockBalance.on_hand - StockBalance.reserved - StockBalance.backordered
    row = s.scalars(
        select(StockBalance).where(StockBalance.warehouse_id == wh.id, free >= units).order_by(StockBalance.item_id)
    ).first()
    assert row is not None
    item = s.get(Item, row.item_id)
    assert item is not None
    return item.sku


def test_a_transfer_is_shipped_by_the_sender_and_received_short_by_the_receiver(seeded: str) -> None:
    db = _db(seeded)

    def make(s: Session) -> str:
        grace = load_actor(s, username="grace")
        lines = [TransferLineRequest(_free_sku(s, "DAL", 4), 4)]
        return create_transfer(s, grace, from_warehouse="DAL", to_warehouse="BHM", lines=lines).number

    number = db.run(make)
    assert "permission_denied" in _cli(seeded, "transfer", "ship", number, "--user", "sam", "--yes").output
    shipped = _cli(seeded, "transfer", "ship", number, "--user", "wes", "--yes")
    assert shipped.exit_code == 0 and "transfer_move — executed" in shipped.output, shipped.output
    received = _cli(seeded, "transfer", "receive", number, "--received", "3", "--user", "wyn", "--yes")
    assert received.exit_code == 0 and "transfer_move — executed" in received.output, received.output
    assert "1 short, 0 damaged" in received.output
    status = db.read(lambda s: get_transfer(s, load_actor(s, username="wyn"), transfer_number=number).status)
    assert status == "received"
    assert db.read(stock_disagreements) == []

"""An inactive item cannot be sold or bought (its substitutes are named); stock already held still moves."""

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import InvalidState
from core.masterdata.models import Item
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.sales.models import SalesOrder
from core.sales.service import LineRequest
from core.transfers.service import TransferLineRequest, create_transfer
from tests.world import World


def _deactivate(world: World, sku: str) -> None:
    world.run(lambda s: s.execute(update(Item).where(Item.sku == sku).values(active=False)))


def test_an_inactive_item_is_refused_on_a_new_order_naming_its_active_substitute(world: World) -> None:
    _deactivate(world, "V-200")
    with pytest.raises(InvalidState, match=r"cannot be sold: V-200 \(substitutes: V-220\)") as refused:
        world.place_order("ACME", LineRequest(sku="V-200", quantity=2, warehouse="DAL"))
    assert refused.value.details["suggestions"] == ["V-220"]
    assert world.read(lambda s: s.scalars(select(SalesOrder)).all()) == []
    assert world.place_order("ACME", LineRequest(sku="V-220", quantity=2, warehouse="DAL")).startswith("SO-")


def test_an_inactive_item_is_refused_on_a_purchase_order_but_its_stock_can_still_move(world: World) -> None:
    _deactivate(world, "P-100")
    bea, gus = world.actor("bea"), world.actor("gus")

    def buy(s: Session) -> None:
        create_purchase_order(
            s, bea, supplier="VALVECO", warehouse="DAL", lines=[PurchaseLineRequest(sku="P-100", quantity=5)]
        )

    with pytest.raises(InvalidState, match=r"cannot be bought: P-100$"):
        world.run(buy)
    world.run(
        lambda s: create_transfer(
            s, gus, from_warehouse="DAL", to_warehouse="ATL", lines=[TransferLineRequest("P-100", 5)]
        )
    )
    assert world.balance("P-100", "DAL").reserved == 5  # set aside for the transfer: the stock still moves

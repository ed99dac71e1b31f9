"""Transfers on the small world: within an entity, and intercompany at a transfer price."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.errors import InsufficientStock, InvalidInput, InvalidState, OutOfScope
from core.finance.models import IntercompanyPosting
from core.finance.service import intercompany_balance
from core.stock.models import LedgerEntry
from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from core.transfers.service import (
    TransferLineRequest,
    cancel_transfer,
    create_transfer,
    receive_transfer,
    ship_transfer,
)
from tests.world import World

TODAY = date(2026, 11, 20)


def _transfer(world: World, source: str, target: str, sku: str, quantity: int, user: str = "wes") -> str:
    actor = world.actor(user)
    return world.run(
        lambda s: (
            create_transfer(
                s, actor, from_warehouse=source, to_warehouse=target, lines=[TransferLineRequest(sku, quantity)]
            ).number
        )
    )


def test_transfer_of_40_from_dallas_to_atlanta_moves_through_transit(world: World) -> None:
    number = _transfer(world, "DAL", "ATL", "V-200", 40)
    sam = world.actor("sam")
    atp = world.read(lambda s: available_to_promise(s, sam, sku="V-200", on_date=TODAY + timedelta(days=2)))
    assert {w.warehouse: w.available_on_date for w in atp.warehouses} == {"DAL": 60, "ATL": 52}
    assert atp.warehouses[0].incoming[0].quantity == 40  # ATL's dated supply is the transfer

    wes = world.actor("wes")
    world.run(lambda s: ship_transfer(s, wes, transfer_number=number))
    dal, atl = world.balance("V-200", "DAL"), world.balance("V-200", "ATL")
    assert (dal.on_hand, dal.reserved, atl.on_hand, atl.in_transit, atl.incoming) == (60, 0, 12, 40, 40)

    world.run(lambda s: receive_transfer(s, wes, transfer_number=number))
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.in_transit, atl.incoming) == (52, 0, 0)
    movements = world.read(
        lambda s: sorted(
            (e.movement, e.bucket, e.quantity)
            for e in s.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == "transfer"))
        )
    )
    assert movements == [
        ("transfer_in", "on_hand", 40),
        ("transfer_in_transit", "in_transit", -40),
        ("transfer_in_transit", "in_transit", 40),
        ("transfer_out", "on_hand", -40),
    ]
    assert world.read(lambda s: s.scalars(select(IntercompanyPosting)).all()) == []
    assert world.read(stock_disagreements) == []


def test_intercompany_transfer_books_matching_due_from_and_due_to(world: World) -> None:
    number = _transfer(world, "DAL", "BHM", "V-200", 10, user="mia")
    mia = world.actor("mia")
    world.run(lambda s: ship_transfer(s, mia, transfer_number=number))
    postings = world.read(
        lambda s: {p.kind: (p.currency, Decimal(p.amount)) for p in s.scalars(select(IntercompanyPosting))}
    )
    # standard cost 10.00 USD + 10% markup = 11.00 USD a unit; 1 USD = 0.80 GBP
    assert postings == {"due_from": ("USD", Decimal("110.00")), "due_to": ("GBP", Decimal("88.00"))}
    assert world.read(lambda s: intercompany_balance(s, mia, entity="NA")) == {"UK": Decimal("110.00")}
    assert world.read(lambda s: intercompany_balance(s, mia, entity="UK")) == {"NA": Decimal("-88.00")}
    world.run(lambda s: receive_transfer(s, mia, transfer_number=number))
    assert world.balance("V-200", "BHM").on_hand == 10
    assert world.read(stock_disagreements) == []


def test_intercompany_needs_both_entities_in_scope(world: World) -> None:
    with pytest.raises(OutOfScope):
        _transfer(world, "DAL", "BHM", "V-200", 10, user="wes")
    assert world.balance("V-200", "DAL").reserved == 0


def test_transfer_refusals(world: World) -> None:
    with pytest.raises(InsufficientStock, match="need 13, available 12"):
        _transfer(world, "ATL", "DAL", "V-200", 13)
    with pytest.raises(InvalidInput, match="two different warehouses"):
        _transfer(world, "DAL", "Dallas", "V-200", 1)
    with pytest.raises(InvalidInput, match="at least 1"):
        _transfer(world, "DAL", "ATL", "V-200", -40)
    assert world.balance("V-200", "ATL").incoming == 0


def test_cancelled_transfer_gives_stock_back_and_cannot_ship(world: World) -> None:
    number = _transfer(world, "DAL", "ATL", "V-200", 40)
    wes = world.actor("wes")
    world.run(lambda s: cancel_transfer(s, wes, transfer_number=number))
    dal, atl = world.balance("V-200", "DAL"), world.balance("V-200", "ATL")
    assert (dal.reserved, atl.incoming) == (0, 0)
    with pytest.raises(InvalidState):
        world.run(lambda s: ship_transfer(s, wes, transfer_number=number))


def test_receiving_before_shipping_is_refused(world: World) -> None:
    number = _transfer(world, "DAL", "ATL", "V-200", 5)
    with pytest.raises(InvalidState, match="only a transfer in transit"):
        world.run(lambda s: receive_transfer(s, world.actor("wes"), transfer_number=number))

"""Returns racing each other on PostgreSQL: two returns of the same shipped line never take back more than
shipped, one return is never received twice, and the ledger still equals the balance."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.finance.models import CreditNote
from core.returns.models import ReturnLine
from core.returns.service import ReturnRequest, authorise_return, receive_return
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World


def _shipped(world: World, quantity: int) -> str:
    number = world.place_order("ACME", LineRequest("V-200", quantity, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=number))
    return number


@pytest.mark.postgres
def test_two_returns_racing_on_the_same_shipped_line_never_return_more_than_shipped(pg_world: World) -> None:
    number = _shipped(pg_world, 10)
    sam, gus = pg_world.actor("sam"), pg_world.actor("gus")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk: authorise_return(  # type: ignore[misc]
                s, clerk, order_number=number, lines=[ReturnRequest(7, line_no=1)], reason="damaged"
            )
            for clerk in (sam, gus)
        ],
    )
    assert outcomes == {"ok": 1, "invalid_input": 1}
    authorised = pg_world.read(lambda s: s.scalar(select(func.sum(ReturnLine.quantity))))
    assert authorised == 7


@pytest.mark.postgres
def test_one_return_received_by_two_clerks_at_once_is_restocked_and_credited_once(pg_world: World) -> None:
    number = _shipped(pg_world, 10)
    sam = pg_world.actor("sam")
    rma = pg_world.run(
        lambda s: authorise_return(s, sam, order_number=number, lines=[ReturnRequest(4, line_no=1)], reason="damaged")
    ).number
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk: receive_return(s, clerk, rma_number=rma)  # type: ignore[misc]
            for clerk in (pg_world.actor("wes"), pg_world.actor("root"))
        ],
    )
    assert outcomes == {"ok": 1, "invalid_state": 1}
    assert pg_world.balance("V-200", "DAL").on_hand == 94
    credits = pg_world.read(lambda s: [Decimal(c.amount) for c in s.scalars(select(CreditNote))])
    assert credits == [Decimal("72.00")]
    assert pg_world.read(stock_disagreements) == []

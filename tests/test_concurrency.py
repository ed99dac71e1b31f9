"""Many clients confirming orders for the same scarce stock at once never oversell, and no deadlock escapes."""

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.errors import InsufficientStock
from core.finance.models import Invoice
from core.finance.service import credit_status
from core.receivables.service import Allocation, record_payment
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ship_order
from core.stock.models import Reservation
from core.stock.reconciliation import stock_disagreements
from tests.concurrency import all_at_once
from tests.world import World

THREADS = 12
ORDERS_PER_THREAD = 4


def _race(world: World, lines_for: Callable[[int], list[LineRequest]]) -> tuple[Counter[str], int]:
    """Every thread creates and confirms orders in one command each; returns outcomes and units reserved."""
    sam = world.actor("sam")
    start = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    reserved_units = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        start.wait()
        for k in range(ORDERS_PER_THREAD):
            lines = lines_for(n * ORDERS_PER_THREAD + k)

            def command(s, lines=lines):  # type: ignore[no-untyped-def]
                order = create_order(s, sam, customer="ACME", lines=lines)
                return confirm_order(s, sam, order_number=order.id)

            try:
                world.run(command)
                with lock:
                    outcomes["confirmed"] += 1
                    reserved_units[0] += sum(line.quantity for line in lines)
            except InsufficientStock:
                with lock:
                    outcomes["refused"] += 1
            except Exception as error:  # anything else is a failure of the core
                with lock:
                    outcomes[f"error: {type(error).__name__}: {error}"] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return outcomes, reserved_units[0]


def _reserved_in_db(world: World) -> int:
    return int(world.read(lambda s: s.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)))))


@pytest.mark.postgres
def test_concurrent_confirmations_never_reserve_more_than_is_on_hand(pg_world: World) -> None:
    outcomes, reserved = _race(pg_world, lambda i: [LineRequest("V-200", 1 + i % 3, warehouse="ATL")])
    errors = [k for k in outcomes if k.startswith("error")]
    assert errors == []
    atl = pg_world.balance("V-200", "ATL")
    assert atl.reserved == reserved == _reserved_in_db(pg_world)
    assert atl.reserved <= atl.on_hand == 12
    assert atl.on_hand - atl.reserved < 3  # stock ran out: what is left fits no further order
    assert outcomes["confirmed"] > 0 and outcomes["refused"] > 0
    assert pg_world.read(stock_disagreements) == []


@pytest.mark.postgres
def test_orders_locking_the_same_items_in_opposite_order_do_not_deadlock(pg_world: World) -> None:
    def lines(i: int) -> list[LineRequest]:
        pair = [LineRequest("V-200", 2, warehouse="DAL"), LineRequest("V-220", 2, warehouse="DAL")]
        return pair if i % 2 else pair[::-1]

    outcomes, _ = _race(pg_world, lines)
    assert [k for k in outcomes if k.startswith("error")] == []
    v220 = pg_world.balance("V-220", "DAL")
    assert v220.reserved <= v220.on_hand == 30
    assert outcomes["confirmed"] == 15 and outcomes["refused"] == THREADS * ORDERS_PER_THREAD - 15  # V-220: 30 / 2
    assert pg_world.read(stock_disagreements) == []


def test_concurrent_confirmations_on_sqlite_wait_for_the_write_lock(sqlite_world: World) -> None:
    world = sqlite_world
    outcomes, reserved = _race(world, lambda i: [LineRequest("V-200", 1 + i % 3, warehouse="ATL")])
    assert [k for k in outcomes if k.startswith("error")] == []
    atl = world.balance("V-200", "ATL")
    assert atl.reserved == reserved <= atl.on_hand == 12
    assert world.read(stock_disagreements) == []


@pytest.mark.postgres
def test_two_clerks_shipping_the_same_order_at_once_ship_it_once(pg_world: World) -> None:
    sam, wes = pg_world.actor("sam"), pg_world.actor("wes")
    number = pg_world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 30, warehouse="DAL")]).id
    )
    pg_world.run(lambda s: confirm_order(s, sam, order_number=number))
    outcomes = all_at_once(pg_world, [lambda s: ship_order(s, wes, order_number=number) for _ in range(6)])
    assert outcomes == Counter({"ok": 1, "invalid_state": 5})
    dal = pg_world.balance("V-200", "DAL")
    assert (dal.on_hand, dal.reserved) == (70, 0)
    assert pg_world.read(lambda s: s.scalar(select(func.count()).select_from(Invoice))) == 1
    assert pg_world.read(stock_disagreements) == []


@pytest.mark.postgres
def test_concurrent_payments_never_pay_an_invoice_twice(pg_world: World) -> None:
    sam, wes, fin = pg_world.actor("sam"), pg_world.actor("wes"), pg_world.actor("fin")
    number = pg_world.run(
        lambda s: create_order(s, sam, customer="ACME", lines=[LineRequest("V-200", 10, warehouse="DAL")]).id
    )
    pg_world.run(lambda s: confirm_order(s, sam, order_number=number))
    invoice = pg_world.run(lambda s: ship_order(s, wes, order_number=number)[0].id)  # invoice 180.00
    outcomes = all_at_once(
        pg_world,
        [
            lambda s: record_payment(
                s,
                fin,
                customer="ACME",
                amount=Decimal("100.00"),
                bank_reference="B1",
                allocations=[Allocation(invoice, Decimal("100.00"))],
            )
            for _ in range(4)
        ],
    )
    assert outcomes == Counter({"ok": 1, "invalid_input": 3})
    assert pg_world.read(lambda s: credit_status(s, fin, customer="ACME")).open_receivables == Decimal("80.00")

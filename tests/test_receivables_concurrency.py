"""Payments racing each other on PostgreSQL: two clerks applying the same cash on account apply it once (the payment
row is locked), and two payments settling the same invoice never pay it beyond what it owes (the invoice is locked)."""

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.finance.models import Invoice
from core.finance.service import invoice_open_amount
from core.receivables.models import PaymentApplication
from core.receivables.service import Allocation, apply_payment, record_payment
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from tests.concurrency import all_at_once
from tests.world import World


def _invoice(world: World, units: int) -> int:
    number = world.place_order("ACME", LineRequest("V-200", units, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    return world.run(lambda s: ship_order(s, wes, order_number=number)[0].id)


def _on_account(world: World, amount: str) -> str:
    fin = world.actor("fin")
    return world.run(
        lambda s: record_payment(s, fin, customer="ACME", amount=Decimal(amount), bank_reference="B").number
    )


def _applied(world: World) -> Decimal:
    return world.read(lambda s: s.scalar(select(func.sum(PaymentApplication.amount)))) or Decimal(0)


@pytest.mark.postgres
def test_two_clerks_applying_the_same_cash_on_account_apply_it_once(pg_world: World) -> None:
    payment = _on_account(pg_world, "100.00")  # no invoice yet: all of it on account
    first, second = _invoice(pg_world, 10), _invoice(pg_world, 10)  # 180.00 each
    fin, root = pg_world.actor("fin"), pg_world.actor("root")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk: apply_payment(s, clerk, payment_number=payment)  # type: ignore[misc]
            for clerk in (fin, root, fin, root)
        ],
    )
    assert outcomes == Counter({"ok": 1, "invalid_state": 3})
    assert Decimal(_applied(pg_world)) == Decimal("100.00")

    def open_amounts(s: Session) -> list[Decimal]:
        return [invoice_open_amount(s, s.get_one(Invoice, i)) for i in (first, second)]

    assert pg_world.read(open_amounts) == [Decimal("80.00"), Decimal("180.00")]


@pytest.mark.postgres
def test_two_payments_settling_the_same_invoice_never_pay_it_twice(pg_world: World) -> None:
    payments = [_on_account(pg_world, "150.00") for _ in range(3)]
    invoice = _invoice(pg_world, 10)  # 180.00
    fin = pg_world.actor("fin")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, p=p: apply_payment(s, fin, payment_number=p, allocations=[Allocation(invoice)])  # type: ignore[misc]
            for p in payments
        ],
    )
    assert outcomes == Counter({"ok": 2, "invalid_state": 1})  # 150.00 + 30.00; the third finds it settled
    assert Decimal(_applied(pg_world)) == Decimal("180.00")

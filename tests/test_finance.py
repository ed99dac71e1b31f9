"""Invoices, payments, receivables, credit exposure and margin on the small world."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.actor import Actor
from core.errors import CurrencyMismatch, InvalidInput, OutOfScope
from core.finance.service import credit_status, margin_by_entity
from core.receivables.service import Allocation, record_payment
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ship_order
from tests.world import World


def _sold(world: World, customer: str, quantity: int, ship: int | None) -> str:
    sam, wes = world.actor("sam"), world.actor("wes")
    number = world.run(
        lambda s: (
            create_order(s, sam, customer=customer, lines=[LineRequest("V-200", quantity, warehouse="DAL")]).number
        )
    )
    world.run(lambda s: confirm_order(s, sam, order_number=number))
    if ship:
        return world.run(lambda s: f"INV-{ship_order(s, wes, order_number=number, quantities={1: ship})[0].id}")
    return number


def test_exposure_is_open_receivables_plus_confirmed_uninvoiced_orders(world: World) -> None:
    _sold(world, "ACME", 50, ship=20)  # 20 invoiced x 18 = 360; 30 open x 18 = 540
    status = world.read(lambda s: credit_status(s, world.actor("fin"), customer="ACME"))
    assert (status.open_receivables, status.open_orders, status.exposure) == (
        Decimal("360.00"),
        Decimal("540.00"),
        Decimal("900.00"),
    )
    assert status.available == Decimal("49100.00")
    assert status.currency == "USD"


def _pay(s: Session, fin: Actor, invoice: str, amount: Decimal) -> object:
    return record_payment(
        s, fin, customer="ACME", amount=amount, bank_reference="B1", allocations=[Allocation(invoice, amount)]
    )


def test_payments_reduce_receivables_and_cannot_exceed_the_invoice(world: World) -> None:
    _sold(world, "ACME", 20, ship=20)
    fin = world.actor("fin")
    invoice = "INV-1"
    world.run(lambda s: _pay(s, fin, invoice, Decimal("100.00")))
    assert world.read(lambda s: credit_status(s, fin, customer="ACME")).open_receivables == Decimal("260.00")
    with pytest.raises(InvalidInput, match=r"INV-1 has USD 260\.00 open"):
        world.run(lambda s: _pay(s, fin, invoice, Decimal("260.01")))
    with pytest.raises(InvalidInput, match="must be positive"):
        world.run(lambda s: _pay(s, fin, invoice, Decimal("-5")))
    assert world.read(lambda s: credit_status(s, fin, customer="ACME")).open_receivables == Decimal("260.00")


def test_margin_by_entity_comes_from_invoices(world: World) -> None:
    _sold(world, "ACME", 10, ship=10)  # revenue 180, cost 100
    rows = world.read(lambda s: margin_by_entity(s, world.actor("mia"), since=date(2026, 1, 1)))
    assert [(r.entity, r.revenue, r.cost, r.margin, r.margin_pct) for r in rows] == [
        ("NA", Decimal("180.00"), Decimal("100.00"), Decimal("80.00"), Decimal("44.4"))
    ]


def test_credit_of_another_entity_is_out_of_scope(world: World) -> None:
    with pytest.raises(OutOfScope):
        world.read(lambda s: credit_status(s, world.actor("sam"), customer="BRIT"))


def test_a_payment_in_another_currency_is_refused(world: World) -> None:
    _sold(world, "ACME", 5, ship=5)
    fin = world.actor("fin")
    with pytest.raises(CurrencyMismatch, match="ACME is invoiced in USD"):
        world.run(
            lambda s: record_payment(s, fin, customer="ACME", amount=Decimal(10), currency="GBP", bank_reference="B1")
        )
    assert world.read(lambda s: credit_status(s, fin, customer="ACME")).open_receivables == Decimal("90.00")

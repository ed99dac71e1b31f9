"""Property: whatever the sequence of invoices, payments (auto-applied, named, partly named), later applications of
cash on account, credit notes and reversals, every customer's balance is invoices - credit notes - applied payments,
every payment's amount is applied + unapplied (zero applied once reversed), no invoice is ever paid beyond what it
owes after credits at the time of the application, and money is neither created nor lost: the cash received equals
what is applied plus what waits on account plus what was reversed."""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ErpError
from core.finance.models import CreditNote, Invoice
from core.finance.service import credit_status, issue_credit_note
from core.masterdata.models import Customer
from core.money import round_money
from core.receivables.models import CustomerPayment, PaymentApplication, PaymentStatus
from core.receivables.service import Allocation, apply_payment, record_payment, reverse_payment, unapplied_amount
from core.receivables.sums import owed_by_customer
from core.sales.service import LineRequest, confirm_order, create_order
from core.shipping.service import ship_order
from tests.databases import Template
from tests.world import World

CUSTOMERS = st.sampled_from(["ACME", "BOLT"])
CENTS = st.integers(min_value=1, max_value=60_000).map(lambda c: Decimal(c).scaleb(-2))
REF = st.integers(min_value=0, max_value=7)

OPERATIONS = st.one_of(
    st.tuples(st.just("invoice"), CUSTOMERS, st.integers(min_value=1, max_value=8)),
    st.tuples(st.just("pay"), CUSTOMERS, CENTS),
    st.tuples(st.just("pay_named"), REF, CENTS, st.one_of(st.none(), CENTS)),
    st.tuples(st.just("apply"), REF, st.one_of(st.none(), REF)),
    st.tuples(st.just("credit"), REF, CENTS),
    st.tuples(st.just("reverse"), REF),
)


@dataclass
class Run:
    world: World
    invoices: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)

    def pick(self, refs: list[int], index: int) -> int | None:
        return refs[index % len(refs)] if refs else None

    def apply(self, op: tuple[Any, ...]) -> None:
        root = self.world.actor("root")
        kind = op[0]
        command: Callable[[Session], Any]
        if kind == "invoice":
            command = lambda s: self._invoice(s, root, op[1], op[2])  # noqa: E731
        elif kind == "pay":
            command = lambda s: self._pay(s, root, op[1], op[2], None)  # noqa: E731
        elif kind == "pay_named":
            invoice = self.pick(self.invoices, op[1])
            if invoice is None:
                return
            named_one = [Allocation(invoice, op[3])]
            command = lambda s: self._pay(s, root, None, op[2], named_one)  # noqa: E731
        elif kind == "apply":
            payment, invoice = (
                self.pick(self.payments, op[1]),
                None if op[2] is None else self.pick(self.invoices, op[2]),
            )
            if payment is None:
                return
            named = [Allocation(invoice)] if invoice is not None else None
            number: int = payment
            command = lambda s: apply_payment(s, root, payment_number=number, allocations=named)  # noqa: E731
        elif kind == "credit":
            invoice = self.pick(self.invoices, op[1])
            if invoice is None:
                return
            command = lambda s: issue_credit_note(  # noqa: E731
                s, root, invoice=s.get_one(Invoice, invoice), amount=op[2], source_id=0
            )
        else:
            payment = self.pick(self.payments, op[1])
            if payment is None:
                return
            command = lambda s: reverse_payment(s, root, payment_number=payment, reason="property")  # noqa: E731
        try:
            self.world.run(command)
        except ErpError:
            return

    def _invoice(self, s: Session, root: Any, customer: str, units: int) -> None:
        order = create_order(s, root, customer=customer, lines=[LineRequest("V-200", units, warehouse="DAL")])
        confirm_order(s, root, order_number=order.id)
        self.invoices.append(ship_order(s, root, order_number=order.id)[0].id)

    def _pay(
        self, s: Session, root: Any, customer: str | None, amount: Decimal, named: list[Allocation] | None
    ) -> None:
        if customer is None:  # the customer of the named invoice
            assert named is not None
            invoice = s.get_one(Invoice, named[0].invoice)
            customer = s.get_one(Customer, invoice.customer_id).code
        payment = record_payment(s, root, customer=customer, amount=amount, bank_reference="P", allocations=named)
        self.payments.append(payment.id)


def _check(session: Session) -> None:
    root_balances = owed_by_customer(session, select(Customer.id))
    for customer in session.scalars(select(Customer).where(Customer.entity_id == 1)):
        invoiced = round_money(
            session.scalar(select(func.sum(Invoice.amount)).where(Invoice.customer_id == customer.id))
        )
        credited = round_money(
            session.scalar(select(func.sum(CreditNote.amount)).where(CreditNote.customer_id == customer.id))
        )
        applied = round_money(
            session.scalar(
                select(func.sum(PaymentApplication.amount)).where(
                    PaymentApplication.customer_id == customer.id, PaymentApplication.reversed_on.is_(None)
                )
            )
        )
        assert root_balances.get(customer.id, Decimal("0.00")) == invoiced - credited - applied
    received = reversed_ = applied_total = on_account = Decimal("0.00")
    for payment in session.scalars(select(CustomerPayment)):
        counted = round_money(
            session.scalar(
                select(func.sum(PaymentApplication.amount)).where(
                    PaymentApplication.payment_id == payment.id, PaymentApplication.reversed_on.is_(None)
                )
            )
        )
        left = unapplied_amount(session, payment)
        received += round_money(payment.amount)
        if payment.status == PaymentStatus.REVERSED.value:
            assert (counted, left) == (Decimal("0.00"), Decimal("0.00"))
            reversed_ += round_money(payment.amount)
        else:
            assert counted + left == round_money(payment.amount) and left >= 0
            applied_total += counted
            on_account += left
    assert received == applied_total + on_account + reversed_  # no money created or lost
    for invoice in session.scalars(select(Invoice)):
        paid = round_money(
            session.scalar(
                select(func.sum(PaymentApplication.amount)).where(
                    PaymentApplication.invoice_id == invoice.id, PaymentApplication.reversed_on.is_(None)
                )
            )
        )
        assert paid <= round_money(invoice.amount)  # never paid beyond what was invoiced


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATIONS, min_size=5, max_size=25))
def test_any_sequence_keeps_balances_payments_and_cash_consistent(
    operations: list[tuple[Any, ...]], world_template: Template, tmp_path: Path
) -> None:
    with world_template.clone(tmp_path) as db:
        run = Run(World(db))
        for op in operations:
            run.apply(op)
            db.read(_check)
        status = db.read(lambda s: credit_status(s, run.world.actor("fin"), customer="ACME"))
        assert status.exposure == status.open_receivables + status.open_orders

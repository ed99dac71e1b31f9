"""Customer payments (PAY-) applied to invoices, cash on account, reversals through the gate, ageing, collections
and the overdue hold, on the small world (SQLite and PostgreSQL)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from core import clock, schema
from core.actor import Person, Role
from core.audit.models import AuditEvent
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import CurrencyMismatch, InvalidInput, InvalidState, OutOfScope, PermissionDenied, WrongCounterparty
from core.exceptions import DEFAULT_ROUTING_FILE, ExceptionCase, RoutingFileError, detect_exceptions, parse_routing
from core.finance.models import Invoice
from core.finance.service import credit_status, invoice_open_amount
from core.masterdata.models import Customer, LegalEntity, User, UserEntityScope, UserRole
from core.receivables.ageing import ageing, collections, overdue_invoices
from core.receivables.models import CustomerPayment, PaymentApplication
from core.receivables.service import (
    Allocation,
    apply_payment,
    list_payments,
    payment_view,
    record_payment,
    reverse_payment,
)
from core.returns.service import ReturnRequest, authorise_return, receive_return
from core.sales.service import LineRequest
from core.settings import override_settings
from core.shipping.service import ship_order
from tests.world import World


def _invoice(world: World, customer: str = "ACME", units: int = 10, days_ago: int = 0) -> str:
    """An order shipped whole `days_ago` days ago; its invoice's number (ACME: 18.00 a V-200)."""
    line = LineRequest("F-300", units, warehouse="BHM") if customer == "BRIT" else LineRequest("V-200", units, "DAL")
    seller, shipper = ("uma", "uma") if customer == "BRIT" else ("sam", "wes")
    number = world.place_order(customer, line, user=seller, confirm=True)
    actor = world.actor(shipper)
    day = clock.today() - timedelta(days=days_ago)
    return world.run(lambda s: f"INV-{ship_order(s, actor, order_number=number, shipped_on=day)[0].id}")


def _open(world: World, *invoices: str) -> list[Decimal]:
    def query(s: Session) -> list[Decimal]:
        return [invoice_open_amount(s, s.get_one(Invoice, int(n.split("-")[1]))) for n in invoices]

    return world.read(query)


def _pay(world: World, amount: str, *allocations: Allocation, user: str = "fin", customer: str = "ACME") -> str:
    actor = world.actor(user)
    return world.run(
        lambda s: (
            record_payment(
                s,
                actor,
                customer=customer,
                amount=Decimal(amount),
                bank_reference="BNK-1",
                allocations=list(allocations) or None,
            ).number
        )
    )


def _receivables(world: World, customer: str = "ACME") -> Decimal:
    return world.read(lambda s: credit_status(s, world.actor("gus"), customer=customer)).open_receivables


# --- Record and apply -------------------------------------------------------------------------------


def test_a_payment_settles_the_oldest_due_invoice_first_and_keeps_the_rest_on_account(world: World) -> None:
    newer = _invoice(world, units=10)  # 180.00, due in 30 days
    older = _invoice(world, units=5, days_ago=40)  # 90.00, 10 days past due
    payment = _pay(world, "200.00")
    view = world.read(lambda s: payment_view(s, world.actor("fin"), payment_number=payment))
    assert [(a.invoice, a.amount) for a in view.applications] == [(older, Decimal("90.00")), (newer, Decimal("110.00"))]
    assert (view.amount, view.applied, view.unapplied) == (Decimal("200.00"), Decimal("200.00"), Decimal("0.00"))
    assert _open(world, older, newer) == [Decimal("0.00"), Decimal("70.00")]
    assert _receivables(world) == Decimal("70.00")  # exposure reads the applications at once
    cash = _pay(world, "100.00")
    assert world.read(lambda s: payment_view(s, world.actor("fin"), payment_number=cash)).unapplied == Decimal("30.00")
    assert [p.number for p in world.read(lambda s: list_payments(s, world.actor("fin"), unapplied_only=True))] == [cash]


def test_named_invoices_take_what_is_asked_or_what_is_open_and_the_rest_waits_on_account(world: World) -> None:
    first, second = _invoice(world, units=10), _invoice(world, units=10)  # 180.00 each
    payment = _pay(world, "300.00", Allocation(second, Decimal("50.00")), Allocation(first))
    assert _open(world, first, second) == [Decimal("0.00"), Decimal("130.00")]
    view = world.read(lambda s: payment_view(s, world.actor("fin"), payment_number=payment))
    assert view.unapplied == Decimal("70.00")
    fin = world.actor("fin")
    world.run(lambda s: apply_payment(s, fin, payment_number=payment))  # later: the cash on account, oldest first
    assert _open(world, second) == [Decimal("60.00")]
    with pytest.raises(InvalidState, match="fully applied"):
        world.run(lambda s: apply_payment(s, fin, payment_number=payment))


def test_over_applying_an_invoice_or_the_payment_is_refused_and_changes_nothing(world: World) -> None:
    invoice = _invoice(world, units=10)  # 180.00
    with pytest.raises(InvalidInput, match=r"has USD 180\.00 open; applying USD 180\.01 would over-apply it"):
        _pay(world, "200.00", Allocation(invoice, Decimal("180.01")))
    other = _invoice(world, units=10)
    with pytest.raises(InvalidInput, match="left to apply"):
        _pay(world, "100.00", Allocation(invoice, Decimal("80.00")), Allocation(other, Decimal("30.00")))
    with pytest.raises(InvalidInput, match="must be positive"):
        _pay(world, "0")
    assert world.read(lambda s: s.scalars(select(CustomerPayment)).all()) == []
    assert _open(world, invoice, other) == [Decimal("180.00"), Decimal("180.00")]


def test_a_payment_never_settles_another_entitys_or_customers_invoice(world: World) -> None:
    uk_invoice = _invoice(world, customer="BRIT", units=2)
    bolt_invoice = _invoice(world, customer="BOLT", units=1)
    with pytest.raises(WrongCounterparty, match=r"is an invoice of UK; PAY-\d+ was received by NA"):
        _pay(world, "10.00", Allocation(uk_invoice), user="root")
    with pytest.raises(WrongCounterparty, match="is not ACME's invoice"):
        _pay(world, "10.00", Allocation(bolt_invoice), user="root")
    with pytest.raises(OutOfScope):  # fin works in NA only: the UK invoice is not even visible
        _pay(world, "10.00", Allocation(uk_invoice))
    assert world.read(lambda s: s.scalars(select(PaymentApplication)).all()) == []


def test_a_payment_in_another_currency_or_by_someone_without_the_role_is_refused(world: World) -> None:
    fin, sam = world.actor("fin"), world.actor("sam")
    with pytest.raises(CurrencyMismatch, match="record the payment in USD"):
        world.run(
            lambda s: record_payment(s, fin, customer="ACME", amount=Decimal(5), currency="GBP", bank_reference="X")
        )
    with pytest.raises(PermissionDenied, match="record payment"):
        world.run(lambda s: record_payment(s, sam, customer="ACME", amount=Decimal(5), bank_reference="X"))
    with pytest.raises(InvalidInput, match="bank reference"):
        world.run(lambda s: record_payment(s, fin, customer="ACME", amount=Decimal(5), bank_reference="  "))


def test_a_reversal_reopens_what_the_payment_settled_and_happens_once(world: World) -> None:
    invoice = _invoice(world, units=10)
    payment = _pay(world, "200.00")
    assert _open(world, invoice) == [Decimal("0.00")]
    fin = world.actor("fin")
    world.run(lambda s: reverse_payment(s, fin, payment_number=payment, reason="applied to the wrong customer"))
    assert _open(world, invoice) == [Decimal("180.00")]
    view = world.read(lambda s: payment_view(s, fin, payment_number=payment))
    assert (view.status, view.applied, view.unapplied) == ("reversed", Decimal("0.00"), Decimal("0.00"))
    assert [a.reversed for a in view.applications] == [True]
    with pytest.raises(InvalidState, match="already reversed"):
        world.run(lambda s: reverse_payment(s, fin, payment_number=payment, reason="again"))
    with pytest.raises(InvalidState, match="is reversed"):
        world.run(lambda s: apply_payment(s, fin, payment_number=payment))


# --- Through the gate -------------------------------------------------------------------------------


def _second_finance_person(world: World) -> None:
    """Fay: finance in NA, beside fin (the small world has one finance user)."""

    def command(s: Session) -> None:
        user = User(username="fay", display_name="Fay", email="fay@example.test")
        s.add(user)
        s.flush()
        na = s.scalars(select(LegalEntity).where(LegalEntity.code == "NA")).one()
        s.add_all(
            [
                UserRole(user_id=user.id, role=Role.FINANCE.value),
                UserEntityScope(user_id=user.id, entity_id=na.id, approval_limit=Decimal(1_000_000)),
            ]
        )

    world.run(command)


def _draft(world: World, user: str, kind: str, payload: dict[str, Any]) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=True))


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def test_finance_records_alone_and_anyone_else_asks_finance(world: World) -> None:
    invoice = _invoice(world, units=10)
    body = {"customer": "ACME", "amount": "100.00", "bank_reference": "BNK-7", "invoices": [{"invoice": invoice}]}
    done = _draft(world, "fin", "customer_payment", body)
    assert (done.status, _rules(done), (done.result_ref or "")[:4]) == ("executed", {"payments.finance"}, "PAY-")
    assert "applied to " + invoice in done.summary and _open(world, invoice) == [Decimal("80.00")]
    assert "exposure USD 180.00 → USD 80.00" in " ".join(done.diff)
    waiting = _draft(world, "gus", "customer_payment", {**body, "bank_reference": "BNK-8"})
    assert (waiting.status, _rules(waiting)) == ("pending_approval", {"payments.not_finance"})
    assert _open(world, invoice) == [Decimal("80.00")]


def test_a_reversal_needs_a_second_finance_person_never_its_requester(world: World) -> None:
    _second_finance_person(world)
    invoice = _invoice(world, units=10)
    payment = _pay(world, "180.00")
    draft = _draft(world, "fin", "payment_reversal", {"payment_number": payment, "reason": "bounced"})
    assert (draft.status, _rules(draft)) == ("pending_approval", {"payment_reversal.second_person"})
    assert _open(world, invoice) == [Decimal("0.00")]
    with pytest.raises(PermissionDenied):
        world.run(lambda s: approve(s, Person(world.actor("fin"), "web"), draft_number=draft.number))
    with pytest.raises(PermissionDenied):  # a manager is not finance
        world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    done = world.run(lambda s: approve(s, Person(world.actor("fay"), "web"), draft_number=draft.number).status)
    assert done == "executed"
    assert _open(world, invoice) == [Decimal("180.00")]


def test_apply_of_cash_on_account_goes_through_the_gate(world: World) -> None:
    payment = _pay(world, "50.00")  # nothing open yet: all on account
    invoice = _invoice(world, units=10)
    draft = _draft(world, "fin", "customer_payment", {"payment_number": payment})
    assert draft.status == "executed" and f"{invoice} USD 50.00" in draft.summary
    assert _open(world, invoice) == [Decimal("130.00")]


# --- Ageing, overdue, collections, the overdue hold -------------------------------------------------------


def test_ageing_buckets_by_days_past_due_net_of_credit_notes_and_payments(world: World) -> None:
    current = _invoice(world, units=10)  # due in 30 days
    late = _invoice(world, units=10, days_ago=45)  # 15 days past due
    old = _invoice(world, units=10, days_ago=100)  # 70 days past due
    very_old = _invoice(world, units=5, days_ago=130)  # 100 days past due
    _pay(world, "30.00", Allocation(late))
    order = world.read(lambda s: s.get_one(Invoice, int(old.split("-")[1])).order_id)
    assert order is not None
    rma = world.run(
        lambda s: authorise_return(s, world.actor("gus"), order_number=order, lines=[ReturnRequest(2, 1)], reason="bad")
    )
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma.number))  # credit 36.00 on `old`
    report = world.read(lambda s: ageing(s, world.actor("fin")))
    acme = next(ln for ln in report.customers if ln.code == "ACME")
    assert acme.buckets == {
        "current": Decimal("180.00"),
        "1-30": Decimal("150.00"),
        "31-60": Decimal("0.00"),
        "61-90": Decimal("144.00"),
        "90+": Decimal("90.00"),
    }
    assert (acme.total, acme.past_due, acme.oldest_days, acme.oldest_invoice) == (
        Decimal("564.00"),
        Decimal("384.00"),
        100,
        very_old,
    )
    assert acme.total == _receivables(world)
    na = next(e for e in report.entities if e.code == "NA")
    assert na.total == Decimal("564.00")
    dso = next(d for d in report.dso if d.entity == "NA")
    assert dso.credit_sales == Decimal("360.00")  # invoices of the last 90 days: current and late
    assert dso.formula == (
        "DSO = receivables / credit sales of the last 90 days x 90 = 564.00 / 360.00 x 90 = 141.0 days"
    )
    overdue = world.read(lambda s: overdue_invoices(s, world.actor("fin"), customer="ACME"))
    assert [(o.invoice, o.days_past_due, o.open) for o in overdue] == [
        (very_old, 100, Decimal("90.00")),
        (old, 70, Decimal("144.00")),
        (late, 15, Decimal("150.00")),
    ]
    assert current not in [o.invoice for o in overdue]


def test_collections_rank_who_to_chase_with_the_facts_behind(world: World) -> None:
    _invoice(world, units=10, days_ago=130)  # ACME: 180.00, 100 days past due
    _invoice(world, customer="BOLT", units=2, days_ago=45)  # BOLT: 15 days past due
    paid = _invoice(world, units=1, days_ago=50)
    world.run(
        lambda s: record_payment(
            s,
            world.actor("fin"),
            customer="ACME",
            amount=Decimal("18.00"),
            bank_reference="B",
            received_on=clock.today() - timedelta(days=15),  # 5 days after its due date
            allocations=[Allocation(paid)],
        )
    )
    ranked = world.read(lambda s: collections(s, world.actor("fin")))
    assert [t.customer for t in ranked] == ["ACME", "BOLT"]
    acme = ranked[0]
    assert (acme.rank, acme.past_due, acme.oldest_days, acme.avg_days_late, acme.paid_invoices) == (
        1,
        Decimal("180.00"),
        100,
        Decimal("5.0"),
        1,
    )
    assert acme.score == Decimal("720.00")  # 180.00 at 90+ days weighs x4


def test_the_overdue_rule_holds_the_customer_once_and_routes_a_case_to_finance(world: World, tmp_path: Path) -> None:
    _invoice(world, units=10, days_ago=130)  # ACME: 180.00, 100 days past due
    _invoice(world, customer="BOLT", units=2, days_ago=130)  # BOLT: 100 days past due, under the limit
    routing = tmp_path / "routing.yaml"
    routing.write_text(DEFAULT_ROUTING_FILE.read_text().replace("USD: 5000", "USD: 100"))
    with override_settings(routing_file=routing):
        raised = world.run(lambda s: [(c.type, c.owner_role, c.title) for c in detect_exceptions(s)])
        assert ("overdue_receivables", "finance", "ACME put on credit hold: USD 180.00 more than 90 days past due") in (
            raised
        )
        assert [r for r in raised if r[0] == "overdue_receivables"] == [raised[-1]]  # BOLT: 36.00, not over 100
        status = world.read(lambda s: credit_status(s, world.actor("fin"), customer="ACME"))
        assert status.on_hold and status.hold_reason is not None
        assert status.hold_reason.startswith("automatic hold: USD 180.00 more than 90 days past due on 1 invoice(s)")
        assert world.run(lambda s: [c.type for c in detect_exceptions(s)]) == []
    bolt = world.read(lambda s: s.scalars(select(Customer).where(Customer.code == "BOLT")).one())
    assert not bolt.on_credit_hold
    cases = world.read(lambda s: s.scalars(select(ExceptionCase.type)).all())
    assert cases.count("overdue_receivables") == 1
    held = world.read(lambda s: s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.credit_hold")).all())
    assert [(e.actor_user_id, e.data["rule"]) for e in held] == [(None, "overdue_hold")]  # the hold is audited once


def test_the_overdue_rule_is_data_in_the_routing_file() -> None:
    rule = parse_routing(DEFAULT_ROUTING_FILE.read_text()).overdue_hold
    assert rule is not None and (rule.days_past_due, rule.over["USD"], rule.over["GBP"]) == (
        90,
        Decimal(5000),
        Decimal(4000),
    )
    without = parse_routing("version: 1\nrules:\n  - {id: default, owner_role: manager, sla_hours: 4}\n")
    assert without.overdue_hold is None  # no rule, no automatic hold
    with pytest.raises(RoutingFileError, match="overdue_hold"):
        parse_routing(DEFAULT_ROUTING_FILE.read_text().replace("USD: 5000", "usd: 5000"))


# --- Migration 0013 ---------------------------------------------------------------------------------


def _alembic(engine: Engine, action: Literal["upgrade", "downgrade"], revision: str) -> None:
    schema.migrate(engine, action, revision)


def test_migration_moves_old_payments_into_payments_wholly_applied(world: World) -> None:
    first, second = _invoice(world, units=10), _invoice(world, units=5)
    _pay(world, "100.00", Allocation(first))
    _pay(world, "90.00", Allocation(second))
    before = _open(world, first, second)
    engine = world.db.engine
    _alembic(engine, "downgrade", "0012")  # back to one payment per invoice
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT invoice_id, amount FROM payments ORDER BY id")).all()
    assert [(i, Decimal(str(a))) for i, a in rows] == [(1, Decimal("100.00")), (2, Decimal("90.00"))]
    _alembic(engine, "upgrade", "head")
    assert _open(world, first, second) == before == [Decimal("80.00"), Decimal("0.00")]
    views = world.read(lambda s: list_payments(s, world.actor("fin")))
    assert sorted((v.number, v.bank_reference, v.applied, v.unapplied) for v in views) == [
        ("PAY-1", "migrated from payments", Decimal("100.00"), Decimal("0.00")),
        ("PAY-2", "migrated from payments", Decimal("90.00"), Decimal("0.00")),
    ]
    assert _pay(world, "1.00") == "PAY-3"  # the id sequence moved past the migrated rows

"""Accounts payable on the small world, on SQLite and PostgreSQL: supplier invoices booked against purchase orders
through the write gate, matched three ways (price against the PO, units against the receipts less earlier
invoices), held with a case for the buyer on a mismatch, matched again or released by someone other than the
booker; payables ageing and what falls due this week.

VALVECO supplies NA in USD (terms 30 days); bea buys for NA, wes receives, fin is NA finance, gus and nia manage
NA, ulf manages UK. Policy tolerances: a billed price up to 2% over the PO's, no units beyond those received.
"""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import clock
from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import CurrencyMismatch, DuplicateDocument, InvalidInput, InvalidState, OutOfScope, PermissionDenied
from core.exceptions.models import ExceptionCase
from core.finance.ageing import bucket_of
from core.payables.matching import case_key
from core.payables.service import (
    InvoiceLineRequest,
    book_supplier_invoice,
    list_supplier_invoices,
    match_supplier_invoice,
    payables_ageing,
    payables_due,
    release_supplier_invoice,
    supplier_invoice_status,
)
from core.policy import DEFAULT_POLICY_FILE, PolicyError, load_policy, parse_policy
from core.policy.rules import Tolerances
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from tests.fake_clock import FakeClock
from tests.world import World

TODAY = date(2026, 11, 20)
TOLERANCES = Tolerances()


def _po(world: World, *lines: tuple[str, int, str]) -> str:
    bea = world.actor("bea")
    requests = [PurchaseLineRequest(sku, qty, Decimal(price)) for sku, qty, price in lines]
    return world.run(
        lambda s: create_purchase_order(s, bea, supplier="VALVECO", warehouse="DAL", lines=requests).number
    )


def _receive(world: World, number: str, quantities: dict[str, int] | None = None) -> None:
    wes = world.actor("wes")
    world.run(lambda s: receive_purchase_order(s, wes, po_number=number, quantities=quantities))


def _book(world: World, po: str, ref: str, *lines: dict[str, Any], user: str = "fin", **extra: Any) -> DraftAction:
    payload = {"po_number": po, "supplier_ref": ref, "lines": list(lines), **extra}
    ctx = RequestContext(world.actor(user), "test")
    return world.run(lambda s: draft_action(s, ctx, kind="supplier_invoice", payload=payload, confirmed=True))


def _ref(draft: DraftAction) -> str:
    assert draft.result_ref is not None, draft.failure_reason
    return draft.result_ref


def _line(sku: str, quantity: int, price: str) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": price}


def _view(world: World, number: str | None, user: str = "fin") -> Any:
    assert number is not None
    return world.read(lambda s: supplier_invoice_status(s, world.actor(user), invoice_number=number))


def _case(world: World, number: str | None) -> ExceptionCase:
    assert number is not None
    return world.read(
        lambda s: s.scalars(
            select(ExceptionCase).where(ExceptionCase.dedup_key == case_key(int(number.removeprefix("SINV-"))))
        ).one()
    )


def test_a_matched_invoice_is_booked_approved_for_payment_with_its_due_date_from_the_terms(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"), ("P-100", 10, "50.00"))
    _receive(world, po)
    draft = _book(
        world, po, " inv-883 ", _line("V-200", 40, "41.50"), {"line_no": 2, "quantity": 10, "unit_price": "50"}
    )
    assert draft.status == "executed", draft.explanation
    assert "supplier_invoice.matched" in draft.explanation or draft.reasons[0]["rule_id"] == "supplier_invoice.matched"
    view = _view(world, draft.result_ref)
    assert (view.status, view.supplier, view.supplier_ref, view.po, view.currency) == (
        "approved",
        "VALVECO",
        "INV-883",
        po,
        "USD",
    )
    assert (view.total, view.open_amount) == (Decimal("2160.00"), Decimal("2160.00"))
    assert (view.invoice_date, view.due_date) == (TODAY, TODAY + timedelta(days=30))
    assert [(ln.sku, ln.received, ln.billed_before, ln.result) for ln in view.lines] == [
        ("V-200", 40, 0, "matched"),
        ("P-100", 10, 0, "matched"),
    ]
    assert view.case is None


def test_the_preview_shows_each_lines_match_and_changes_nothing(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po, {"V-200": 30})
    ctx = RequestContext(world.actor("fin"), "test")
    payload = {"po_number": po, "supplier_ref": "A1", "lines": [_line("V-200", 40, "41.50")]}
    draft = world.run(lambda s: draft_action(s, ctx, kind="supplier_invoice", payload=payload, confirmed=False))
    assert draft.status == "unconfirmed"
    assert any(
        "line 1 V-200: 40 billed at USD 41.50" in d and "received 30" in d and "BILLED MORE" in d for d in draft.diff
    )
    assert any("payment hold" in d for d in draft.diff)
    assert draft.facts["over_billed_units"] == 10 and draft.facts["mismatched_lines"] == 1
    assert world.read(lambda s: list_supplier_invoices(s, world.actor("fin"))) == []
    assert world.read(lambda s: s.scalars(select(ExceptionCase)).all()) == []


def test_a_price_over_tolerance_books_the_invoice_on_hold_with_a_case_for_the_buyer(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    within = _book(world, po, "W-1", _line("V-200", 10, "42.33"))  # +2.0%: within tolerance
    assert _view(world, within.result_ref).status == "approved"
    draft = _book(world, po, "W-2", _line("V-200", 10, "45.00"))  # +8.4%
    assert draft.status == "executed"  # booked: the invoice is a fact; its payment is what is held
    view = _view(world, draft.result_ref)
    assert view.status == "on_hold"
    assert [(ln.result, ln.price_variance_pct, ln.billed_before) for ln in view.lines] == [
        ("price_over", Decimal("8.4"), 10)
    ]
    case = _case(world, draft.result_ref)
    assert (case.type, case.owner_role, case.status) == ("invoice_mismatch", "buyer", "open")
    assert case.related == {"supplier_invoice": draft.result_ref, "purchase_order": po, "supplier": "VALVECO"}
    assert "USD 45.00 (PO USD 41.50, +8.4%)" in case.detail and "PRICE OVER TOLERANCE" in case.detail
    assert view.case == case.number


def test_billing_more_than_received_holds_the_invoice_and_counts_earlier_invoices(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po, {"V-200": 30})
    first = _book(world, po, "B-1", _line("V-200", 25, "41.50"))
    assert _view(world, first.result_ref).status == "approved"
    second = _book(world, po, "B-2", _line("V-200", 10, "41.50"))  # 30 received, 25 billed: 5 left
    view = _view(world, second.result_ref)
    assert view.status == "on_hold"
    assert [(ln.received, ln.billed_before, ln.result) for ln in view.lines] == [(30, 25, "over_billed")]
    assert second.facts["over_billed_units"] == 5
    assert "received 30, billed before 25: BILLED MORE THAN RECEIVED" in _case(world, second.result_ref).detail


def test_an_invoice_for_goods_not_received_yet_is_held(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"), ("P-100", 5, "50.00"))
    _receive(world, po, {"V-200": 40})
    draft = _book(world, po, "N-1", _line("V-200", 40, "41.50"), _line("P-100", 5, "50.00"))
    view = _view(world, draft.result_ref)
    assert view.status == "on_hold"
    assert [ln.result for ln in view.lines] == ["matched", "not_received"]
    assert draft.facts["mismatched_lines"] == 1


def test_a_held_invoice_matched_again_after_the_goods_arrive_is_approved_and_its_case_resolved(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po, {"V-200": 20})
    number = _ref(_book(world, po, "R-1", _line("V-200", 40, "41.50")))
    fin = world.actor("fin")
    still = world.run(lambda s: match_supplier_invoice(s, fin, invoice_number=number, tolerances=TOLERANCES).status)
    assert still == "on_hold"
    _receive(world, po)  # the other 20 arrive
    status = world.run(lambda s: match_supplier_invoice(s, fin, invoice_number=number, tolerances=TOLERANCES).status)
    assert status == "approved"
    assert _case(world, number).status == "resolved"
    with pytest.raises(InvalidState, match="already approved"):
        world.run(lambda s: match_supplier_invoice(s, fin, invoice_number=number, tolerances=TOLERANCES))


def test_the_receipt_an_invoice_waited_for_matches_it_again_in_the_preview_and_on_execution(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po, {"V-200": 20})
    number = _ref(_book(world, po, "W-1", _line("V-200", 40, "41.50")))
    assert _view(world, number).status == "on_hold"
    ctx = RequestContext(world.actor("wes"), "test")
    payload = {"po_number": po, "lines": [{"sku": "V-200", "quantity": 20}]}
    preview = world.run(lambda s: draft_action(s, ctx, kind="po_receipt", payload=payload, confirmed=False))
    assert f"{number}: matched again on this receipt, approved for payment" in preview.diff
    assert _view(world, number).status == "on_hold"  # the preview changed nothing
    done = world.run(lambda s: draft_action(s, ctx, kind="po_receipt", payload=payload, confirmed=True))
    assert done.status == "executed", done.explanation
    assert _view(world, number).status == "approved" and _case(world, number).status == "resolved"


def test_a_receipt_that_still_leaves_the_invoice_short_keeps_it_on_hold_with_the_new_figures(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    number = _ref(_book(world, po, "W-2", _line("V-200", 40, "41.50")))
    ctx = RequestContext(world.actor("wes"), "test")
    payload = {"po_number": po, "lines": [{"sku": "V-200", "quantity": 10}]}
    world.run(lambda s: draft_action(s, ctx, kind="po_receipt", payload=payload, confirmed=True))
    assert _view(world, number).status == "on_hold"
    assert "Matched again" in _case(world, number).detail


def test_the_booker_cannot_release_their_own_held_invoice(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    number = _ref(_book(world, po, "H-1", _line("V-200", 40, "45.00")))
    fin = world.actor("fin")
    with pytest.raises(PermissionDenied, match="you booked"):
        world.run(lambda s: release_supplier_invoice(s, fin, invoice_number=number, reason="price agreed"))
    ctx = RequestContext(fin, "test")
    payload = {"invoice_number": number, "reason": "price agreed"}
    with pytest.raises(PermissionDenied, match="you booked"):
        world.run(lambda s: draft_action(s, ctx, kind="supplier_invoice_release", payload=payload, confirmed=True))
    assert _view(world, number).status == "on_hold"


def test_a_manager_releases_a_held_invoice_and_its_case_is_resolved(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    number = _ref(_book(world, po, "H-2", _line("V-200", 40, "45.00")))
    ctx = RequestContext(world.actor("gus"), "test")
    payload = {"invoice_number": number, "reason": "new price list agreed with VALVECO"}
    draft = world.run(lambda s: draft_action(s, ctx, kind="supplier_invoice_release", payload=payload, confirmed=True))
    assert draft.status == "executed", draft.explanation
    view = _view(world, number)
    assert (view.status, view.released_by, view.release_reason) == (
        "approved",
        "gus",
        "new price list agreed with VALVECO",
    )
    assert _case(world, number).status == "resolved"


def test_a_release_asked_by_finance_waits_for_a_manager_who_is_not_the_requester(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    number = _ref(_book(world, po, "H-3", _line("V-200", 40, "45.00"), user="gus"))
    ctx = RequestContext(world.actor("fin"), "test")
    payload = {"invoice_number": number, "reason": "price agreed"}
    draft = world.run(lambda s: draft_action(s, ctx, kind="supplier_invoice_release", payload=payload, confirmed=True))
    assert draft.status == "pending_approval"
    assert _view(world, number).status == "on_hold"
    with pytest.raises(PermissionDenied):
        world.run(lambda s: approve(s, Person(world.actor("fin"), "web"), draft_number=draft.number))
    done = world.run(lambda s: approve(s, Person(world.actor("nia"), "web"), draft_number=draft.number).status)
    assert done == "executed"
    assert _view(world, number).status == "approved"


def test_a_duplicate_supplier_reference_is_refused(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    first = _book(world, po, "INV-883", _line("V-200", 10, "41.50"))
    with pytest.raises(DuplicateDocument, match=f"already booked as {first.result_ref}"):
        _book(world, po, " inv-883", _line("V-200", 10, "41.50"))


def test_an_invoice_in_another_currency_than_the_po_is_refused(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    with pytest.raises(CurrencyMismatch, match="must be in USD too, not GBP"):
        _book(world, po, "C-1", _line("V-200", 10, "41.50"), currency="GBP")
    assert _book(world, po, "C-2", _line("V-200", 10, "41.50"), currency="usd").status == "executed"


def test_bad_lines_and_dates_are_refused_with_what_to_fix(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    with pytest.raises(InvalidInput, match="has no line for P-100; it orders V-200"):
        _book(world, po, "L-1", _line("P-100", 1, "50"))
    with pytest.raises(InvalidInput, match="billed twice"):
        _book(world, po, "L-2", _line("V-200", 1, "41.5"), {"line_no": 1, "quantity": 1, "unit_price": "41.5"})
    with pytest.raises(InvalidInput, match="in the future"):
        _book(world, po, "L-3", _line("V-200", 1, "41.5"), invoice_date=str(TODAY + timedelta(days=1)))
    with pytest.raises(InvalidInput, match="before the invoice date"):
        _book(world, po, "L-4", _line("V-200", 1, "41.5"), due_date=str(TODAY - timedelta(days=1)))
    with pytest.raises(InvalidInput, match="placed with VALVECO, not UKSUP"):
        _book(world, po, "L-5", _line("V-200", 1, "41.5"), supplier="UKSUP")


def test_only_finance_or_a_manager_books_and_other_entities_cannot_see_the_invoice(world: World) -> None:
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po)
    for user in ("bea", "sam", "wes"):
        with pytest.raises(PermissionDenied, match="book supplier invoice"):
            _book(world, po, f"P-{user}", _line("V-200", 1, "41.50"), user=user)
    number = _ref(_book(world, po, "P-1", _line("V-200", 1, "41.50")))
    assert _view(world, number, user="bea").status == "approved"  # buyers read them
    with pytest.raises(OutOfScope):
        _view(world, number, user="ulf")
    assert world.read(lambda s: list_supplier_invoices(s, world.actor("ulf"))) == []


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-3, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"),
     (90, "61-90"), (91, "90+")],
)  # fmt: skip
def test_ageing_buckets_are_days_past_due(days: int, bucket: str) -> None:
    assert bucket_of(days) == bucket  # the one rule receivables' ageing uses too


def test_payables_age_and_fall_due_as_the_clock_moves(
    world: World, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today", lambda: fake_clock().date())  # the business date follows the fake clock
    po = _po(world, ("V-200", 100, "10.00"))
    _receive(world, po)
    _book(world, po, "A-1", _line("V-200", 10, "10.00"), invoice_date="2026-10-01")  # due 10-31: 20 days late
    _book(world, po, "A-2", _line("V-200", 20, "10.00"), invoice_date="2026-11-20", due_date="2026-11-24")
    _book(world, po, "A-3", _line("V-200", 30, "12.00"))  # due 12-20, on hold (price +20%)
    fin = world.actor("fin")
    ageing = world.read(lambda s: payables_ageing(s, fin))
    [na] = ageing.entities
    assert (na.entity, na.currency, na.invoices) == ("NA", "USD", 3)
    assert na.buckets == {
        "current": Decimal("560.00"),
        "1-30": Decimal("100.00"),
        "31-60": Decimal("0.00"),
        "61-90": Decimal("0.00"),
        "90+": Decimal("0.00"),
    }
    assert (na.total, na.past_due, na.on_hold) == (Decimal("660.00"), Decimal("100.00"), Decimal("360.00"))
    assert [(r.supplier, r.total) for r in ageing.suppliers] == [("VALVECO", Decimal("660.00"))]
    due = world.read(lambda s: payables_due(s, fin))
    assert [i.supplier_ref for i in due.invoices] == ["A-1", "A-2"]
    [total] = due.entities
    assert (total.overdue, total.due, total.total, total.on_hold) == (
        Decimal("100.00"),
        Decimal("200.00"),
        Decimal("300.00"),
        Decimal("0.00"),
    )
    fake_clock.advance(days=45)  # 2027-01-04
    later = world.read(lambda s: payables_ageing(s, fin)).entities[0].buckets
    assert (later["current"], later["1-30"], later["31-60"], later["61-90"]) == (
        Decimal("0.00"),
        Decimal("360.00"),
        Decimal("200.00"),
        Decimal("100.00"),
    )
    assert [i.supplier_ref for i in world.read(lambda s: payables_due(s, fin)).invoices] == ["A-1", "A-2", "A-3"]
    assert world.read(lambda s: payables_ageing(s, world.actor("ulf"))).entities == []


def test_the_match_tolerances_are_the_policy_files(world: World) -> None:
    assert load_policy(DEFAULT_POLICY_FILE).tolerances == Tolerances(Decimal(2), 0)
    text = DEFAULT_POLICY_FILE.read_text().replace("invoice_price_pct: 2", "invoice_price_pct: 10")
    assert parse_policy(text).tolerances.invoice_price_pct == Decimal(10)
    with pytest.raises(PolicyError, match="invoice_quantity_units"):
        parse_policy(DEFAULT_POLICY_FILE.read_text().replace("invoice_quantity_units: 0", "invoice_quantity_units: -1"))
    po = _po(world, ("V-200", 40, "41.50"))
    _receive(world, po, {"V-200": 30})
    fin = world.actor("fin")
    loose = Tolerances(invoice_price_pct=Decimal(10), invoice_quantity_units=5)

    def book(ref: str, quantity: int, tolerances: Tolerances) -> str:
        lines = [InvoiceLineRequest(quantity, Decimal("45.00"), sku="V-200")]
        return world.run(
            lambda s: (
                book_supplier_invoice(s, fin, po_number=po, supplier_ref=ref, lines=lines, tolerances=tolerances).status
            )
        )

    assert book("T-1", 10, TOLERANCES) == "on_hold"  # +8.4% over a 2% tolerance
    assert book("T-2", 10, loose) == "approved"  # within 10%; 10 of 30 received were billed before
    assert book("T-3", 15, loose) == "approved"  # 30 received - 20 billed = 10 left, +5 units of tolerance
    assert book("T-4", 1, loose) == "on_hold"  # nothing left, even with the tolerance

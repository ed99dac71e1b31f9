"""Returns (RMA) on the small world, on SQLite and PostgreSQL: authorised against shipped lines, received back
(restocked or scrapped) with a credit note that lowers receivables and exposure; gated by the policy.

World stock: V-200 DAL 100 / ATL 12; P-100 DAL 5; F-300 BHM 50. V-200 sells to ACME at 18.00, P-100 at 90.00.
sam sells for NA, wes ships and receives for NA, uma sells and ships for UK, gus and mia are managers.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import clock
from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import ErpError, InvalidInput, InvalidState, NotFound, OutOfScope, PermissionDenied
from core.finance.models import CreditNote, Invoice
from core.finance.service import credit_status, invoice_open_amount
from core.receivables.service import record_payment
from core.returns.models import ReturnAuthorisation
from core.returns.service import (
    ReturnRequest,
    authorise_return,
    cancel_return,
    list_returns,
    receive_return,
    return_status,
)
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from core.stock.models import LedgerEntry
from core.stock.reconciliation import stock_disagreements
from tests.world import World


def _shipped_order(world: World, *lines: LineRequest, days_ago: int = 0, customer: str = "ACME") -> str:
    """An order confirmed and shipped whole `days_ago` days ago; its number."""
    seller, shipper = ("uma", "uma") if customer == "BRIT" else ("sam", "wes")
    number = world.place_order(customer, *lines, user=seller, confirm=True)
    actor = world.actor(shipper)
    day = clock.today() - timedelta(days=days_ago)
    world.run(lambda s: ship_order(s, actor, order_number=number, shipped_on=day))
    return number


def _authorise(world: World, number: str, *requests: ReturnRequest, user: str = "sam") -> str:
    actor = world.actor(user)
    return world.run(
        lambda s: authorise_return(s, actor, order_number=number, lines=list(requests), reason="damaged").number
    )


def _consistent(world: World) -> None:
    assert world.read(stock_disagreements) == []


def _exposure(world: World, customer: str = "ACME") -> tuple[Decimal, Decimal]:
    status = world.read(lambda s: credit_status(s, world.actor("gus"), customer=customer))
    return status.open_receivables, status.exposure


def test_a_return_is_authorised_received_into_stock_and_credited(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 30, warehouse="DAL"), LineRequest("P-100", 2))
    receivables, exposure = _exposure(world)
    assert receivables == Decimal("720.00")
    rma = _authorise(world, number, ReturnRequest(3, sku="v-200"), ReturnRequest(1, line_no=2))
    view = world.read(lambda s: return_status(s, world.actor("sam"), rma_number=rma))
    assert (view.status, view.units, view.value, view.order, view.customer) == (
        "authorised",
        4,
        Decimal("144.00"),
        number,
        "ACME",
    )
    assert world.balance("V-200", "DAL").on_hand == 70  # nothing moves before the goods arrive
    notes = world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma))
    assert [Decimal(n.amount) for n in notes] == [Decimal("144.00")]
    assert (world.balance("V-200", "DAL").on_hand, world.balance("P-100", "DAL").on_hand) == (73, 4)
    after = world.read(lambda s: return_status(s, world.actor("wes"), rma_number=rma))
    assert after.status == "credited" and after.received_at is not None
    assert [(ln.sku, ln.quantity, ln.disposition, ln.warehouse) for ln in after.lines] == [
        ("V-200", 3, "restock", "DAL"),
        ("P-100", 1, "restock", "DAL"),
    ]
    assert [(cn.amount, cn.invoice) for cn in after.credit_notes] == [(Decimal("144.00"), view.lines[0].invoice)]
    assert _exposure(world) == (receivables - Decimal("144.00"), exposure - Decimal("144.00"))
    moves = world.read(
        lambda s: [
            (e.movement, e.quantity) for e in s.scalars(select(LedgerEntry).where(LedgerEntry.ref_type == "return"))
        ]
    )
    assert sorted(moves) == [("customer_return", 1), ("customer_return", 3)]
    _consistent(world)


def test_scrapped_units_are_credited_but_not_restocked(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    rma = _authorise(world, number, ReturnRequest(4, line_no=1))
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma, disposition="scrap"))
    assert world.balance("V-200", "DAL").on_hand == 90
    view = world.read(lambda s: return_status(s, world.actor("wes"), rma_number=rma))
    assert [ln.disposition for ln in view.lines] == ["scrap"] and view.credited == Decimal("72.00")
    _consistent(world)


def test_restocked_units_go_to_waiting_backorders_first(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 12, warehouse="ATL"))
    waiting = world.place_order("BOLT", LineRequest("V-200", 5, warehouse="ATL"), confirm=True, backorder=True)
    assert world.balance("V-200", "ATL").backordered == 5
    rma = _authorise(world, number, ReturnRequest(3, line_no=1))
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma))
    balance = world.balance("V-200", "ATL")
    assert (balance.on_hand, balance.reserved, balance.backordered) == (3, 3, 2)
    assert waiting.startswith("SO-")
    _consistent(world)


def test_restocking_into_another_warehouse_of_the_entity_and_not_of_another(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    rma = _authorise(world, number, ReturnRequest(2, line_no=1))
    with pytest.raises(OutOfScope):
        world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma, warehouse="BHM"))
    with pytest.raises(InvalidInput, match="cannot take back"):
        world.run(lambda s: receive_return(s, world.actor("root"), rma_number=rma, warehouse="BHM"))
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma, warehouse="ATL"))
    assert world.balance("V-200", "ATL").on_hand == 14
    _consistent(world)


def test_two_returns_never_take_more_than_shipped_and_a_cancelled_one_gives_its_units_back(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    first = _authorise(world, number, ReturnRequest(6, line_no=1))
    with pytest.raises(InvalidInput, match="10 shipped, 6 already authorised or returned, 4 left"):
        _authorise(world, number, ReturnRequest(5, line_no=1))
    world.run(lambda s: cancel_return(s, world.actor("sam"), rma_number=first, reason="customer kept them"))
    assert _authorise(world, number, ReturnRequest(10, line_no=1)).startswith("RMA-")
    with pytest.raises(InvalidState, match="only an authorised return can be received"):
        world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=first))


def test_a_line_shipped_in_two_shipments_is_credited_on_both_invoices(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    wes = world.actor("wes")
    world.run(lambda s: ship_order(s, wes, order_number=number, quantities={1: 4}))
    world.run(lambda s: ship_order(s, wes, order_number=number, quantities={1: 6}))
    rma = _authorise(world, number, ReturnRequest(8, line_no=1))
    notes = world.run(lambda s: [Decimal(n.amount) for n in receive_return(s, wes, rma_number=rma)])
    assert sorted(notes) == [Decimal("36.00"), Decimal("108.00")]  # 6 of the newer shipment, 2 of the older
    invoices = world.read(
        lambda s: [invoice_open_amount(s, i) for i in s.scalars(select(Invoice).order_by(Invoice.id))]
    )
    assert invoices == [Decimal("36.00"), Decimal("0.00")]


def test_a_credit_note_never_exceeds_what_the_invoice_has_not_credited(world: World) -> None:
    number = _shipped_order(world, LineRequest("P-100", 2))
    world.run(
        lambda s: record_payment(
            s, world.actor("fin"), customer="ACME", amount=Decimal("180.00"), bank_reference="B1", auto_apply=True
        )
    )
    assert world.read(lambda s: invoice_open_amount(s, s.scalars(select(Invoice)).one())) == Decimal("0.00")
    rma = _authorise(world, number, ReturnRequest(2, line_no=1))
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma))
    assert world.read(lambda s: [Decimal(c.amount) for c in s.scalars(select(CreditNote))]) == [Decimal("180.00")]
    assert _exposure(world)[0] == Decimal("-180.00")  # paid and then credited: the customer is owed


@pytest.mark.parametrize(
    ("user", "requests", "error", "text"),
    [
        ("sam", [ReturnRequest(11, line_no=1)], InvalidInput, "10 shipped, 0 already authorised or returned, 10 left"),
        ("sam", [ReturnRequest(1, line_no=2)], InvalidInput, "has not shipped"),
        ("sam", [ReturnRequest(1, line_no=9)], InvalidInput, "has no line 9"),
        ("sam", [ReturnRequest(1, sku="F-300")], InvalidInput, "has no line for F-300"),
        ("sam", [ReturnRequest(0, line_no=1)], InvalidInput, "at least 1"),
        ("sam", [], InvalidInput, "at least one line"),
        ("wes", [ReturnRequest(1, line_no=1)], PermissionDenied, "may not sell"),
        ("uma", [ReturnRequest(1, line_no=1)], OutOfScope, "outside your scope"),
    ],
)
def test_bad_returns_are_refused_and_change_nothing(
    world: World, user: str, requests: list[ReturnRequest], error: type[ErpError], text: str
) -> None:
    sam, wes = world.actor("sam"), world.actor("wes")
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), LineRequest("P-100", 2), confirm=True)
    world.run(lambda s: ship_order(s, wes, order_number=number, quantities={1: 10}))
    actor = world.actor(user)
    with pytest.raises(error, match=text):
        world.run(lambda s: authorise_return(s, actor, order_number=number, lines=requests, reason="damaged"))
    assert world.read(lambda s: s.scalars(select(ReturnAuthorisation)).all()) == []
    assert sam.username == "sam"


def test_receiving_needs_the_warehouse_role_and_happens_once(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    rma = _authorise(world, number, ReturnRequest(2, line_no=1))
    with pytest.raises(PermissionDenied, match="may not move stock"):
        world.run(lambda s: receive_return(s, world.actor("sam"), rma_number=rma))
    with pytest.raises(OutOfScope):
        world.run(lambda s: receive_return(s, world.actor("uma"), rma_number=rma))
    with pytest.raises(InvalidInput, match="unknown disposition"):
        world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma, disposition="resell"))
    world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma))
    with pytest.raises(InvalidState, match="credited"):
        world.run(lambda s: receive_return(s, world.actor("wes"), rma_number=rma))
    assert world.balance("V-200", "DAL").on_hand == 92
    with pytest.raises(NotFound):
        world.read(lambda s: return_status(s, world.actor("wes"), rma_number="RMA-999"))
    _consistent(world)


def test_returns_are_listed_in_scope_by_status(world: World) -> None:
    na = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    uk = _shipped_order(world, LineRequest("F-300", 5), customer="BRIT")
    ours = _authorise(world, na, ReturnRequest(1, line_no=1))
    theirs = _authorise(world, uk, ReturnRequest(1, line_no=1), user="uma")
    assert [v.number for v in world.read(lambda s: list_returns(s, world.actor("sam")))] == [ours]
    assert [v.number for v in world.read(lambda s: list_returns(s, world.actor("mia")))] == [theirs, ours]
    assert world.read(lambda s: list_returns(s, world.actor("mia"), status="credited")) == []
    with pytest.raises(InvalidInput, match="unknown status"):
        world.read(lambda s: list_returns(s, world.actor("mia"), status="lost"))


# --- The gate -------------------------------------------------------------------------------


def _draft(world: World, user: str, kind: str, payload: dict[str, Any], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirmed))


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def test_a_return_in_the_window_executes_and_its_receipt_previews_stock_credit_and_exposure(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 30, warehouse="DAL"), days_ago=5)
    body = {"order_number": number, "lines": [{"sku": "V-200", "quantity": 3}], "reason": "damaged in transit"}
    preview = _draft(world, "sam", "return_authorisation", body, confirmed=False)
    assert preview.status == "unconfirmed" and world.read(lambda s: s.scalars(select(ReturnAuthorisation)).all()) == []
    assert "3 x V-200 (line 1)" in preview.summary and "USD 54.00 to credit on receipt" in preview.summary
    assert any("exposure USD 540.00 → USD 486.00" in line for line in preview.diff)
    draft = _draft(world, "sam", "return_authorisation", body)
    assert draft.status == "executed" and _rules(draft) == {"returns.within_window"}
    assert draft.facts["days_since_shipment"] == 5
    rma = draft.result_ref
    assert rma is not None and rma.startswith("RMA-")
    receipt = _draft(world, "wes", "return_receipt", {"rma_number": rma}, confirmed=False)
    assert "V-200 @ DAL: on hand 70 → 73, available 70 → 73" in receipt.diff
    assert "ACME: receivables USD 540.00 → USD 486.00, exposure USD 540.00 → USD 486.00" in receipt.diff
    done = _draft(world, "wes", "return_receipt", {"rma_number": rma})
    assert done.status == "executed" and _rules(done) == {"return_receipt.within_value"}
    assert world.balance("V-200", "DAL").on_hand == 73
    assert _exposure(world)[1] == Decimal("486.00")
    _consistent(world)


def test_a_return_outside_the_window_waits_for_a_manager(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"), days_ago=45)
    body = {"order_number": number, "lines": [{"line_no": 1, "quantity": 2}], "reason": "not needed"}
    draft = _draft(world, "sam", "return_authorisation", body)
    assert draft.status == "pending_approval" and _rules(draft) == {"returns.outside_window"}
    assert "45 days ago, outside the 30-day return window" in draft.explanation
    assert world.read(lambda s: s.scalars(select(ReturnAuthorisation)).all()) == []
    done = world.run(lambda s: approve(s, Person(world.actor("gus"), "web"), draft_number=draft.number))
    assert done.status == "executed" and (done.result_ref or "").startswith("RMA-")


def test_a_large_return_waits_for_a_manager(world: World) -> None:
    number = _shipped_order(world, LineRequest("X-900", 1))
    body = {"order_number": number, "lines": [{"line_no": 1, "quantity": 1}], "reason": "wrong model"}
    draft = _draft(world, "sam", "return_authorisation", body)
    assert draft.status == "pending_approval" and _rules(draft) == {"returns.value"}


def test_warehouse_staff_cannot_authorise_and_sales_cannot_receive(world: World) -> None:
    number = _shipped_order(world, LineRequest("V-200", 10, warehouse="DAL"))
    body = {"order_number": number, "lines": [{"line_no": 1, "quantity": 2}], "reason": "damaged"}
    with pytest.raises(PermissionDenied):
        _draft(world, "wes", "return_authorisation", body)
    rma = _draft(world, "sam", "return_authorisation", body).result_ref
    with pytest.raises(PermissionDenied):
        _draft(world, "sam", "return_receipt", {"rma_number": rma})

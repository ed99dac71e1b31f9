"""Receipts and transfer moves through the write gate: previews, the policy's tolerances, held drafts that
raise a case, and the counterparty receiving an intercompany transfer."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import InvalidInput, PermissionDenied
from core.exceptions.models import ExceptionCase
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.stock.reconciliation import stock_disagreements
from core.transfers.service import TransferLineRequest, create_transfer
from tests.world import World


def _draft(world: World, user: str, kind: str, payload: dict[str, object], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirmed))


def _po(world: World, quantity: int = 50) -> str:
    bea = world.actor("bea")
    return world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="ATL", lines=[PurchaseLineRequest("V-200", quantity)]
            ).number
        )
    )


def _receipt(po: str, quantity: int, **extra: object) -> dict[str, object]:
    return {"po_number": po, "lines": [{"sku": "V-200", "quantity": quantity}], **extra}


def _cases(world: World) -> list[tuple[str, str, dict[str, object]]]:
    return world.read(lambda s: [(c.type, c.owner_role or "", c.related) for c in s.scalars(select(ExceptionCase))])


def test_a_receipt_preview_changes_nothing_and_shows_the_stock_it_would_move(world: World) -> None:
    po = _po(world)
    draft = _draft(world, "wes", "po_receipt", _receipt(po, 40), confirmed=False)
    assert draft.status == "unconfirmed"
    assert draft.summary == f"Receive on {po} into ATL: 40 x V-200"
    assert "V-200 @ ATL: on hand 12 → 52, incoming 50 → 10, available 12 → 52" in draft.diff
    assert f"{po}: status open → partially_received" in draft.diff
    assert world.balance("V-200", "ATL").on_hand == 12


def test_a_receipt_within_tolerance_executes_at_once(world: World) -> None:
    po = _po(world)
    partial = _draft(world, "wes", "po_receipt", _receipt(po, 40))
    assert (partial.status, partial.result_ref) == ("executed", po)
    over = _draft(world, "bea", "po_receipt", _receipt(po, 12))  # 52 of 50: 4% over
    assert over.status == "executed"
    assert over.facts["over_receipt_pct"] == "4.0"
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (64, 0)
    assert _cases(world) == []
    assert world.read(stock_disagreements) == []


def test_an_over_receipt_beyond_tolerance_waits_for_a_manager_and_opens_a_case(world: World) -> None:
    po = _po(world)
    draft = _draft(world, "wes", "po_receipt", _receipt(po, 60))  # 20% over
    assert draft.status == "pending_approval"
    assert "receipt.over_tolerance" in draft.explanation
    assert world.balance("V-200", "ATL").on_hand == 12  # nothing received while it waits
    assert _cases(world) == [("receipt_variance", "buyer", {"purchase_order": po, "draft": draft.number})]
    gus = Person(world.actor("gus"), channel="web")
    approved = world.run(lambda s: approve(s, gus, draft_number=draft.number))
    assert approved.status == "executed"
    atl = world.balance("V-200", "ATL")
    assert (atl.on_hand, atl.incoming) == (72, 0)
    assert world.read(stock_disagreements) == []


def test_closing_short_beyond_tolerance_waits_and_within_it_executes(world: World) -> None:
    short = _po(world)
    held = _draft(world, "wes", "po_receipt", _receipt(short, 40, close_short=True))  # 20% short
    assert held.status == "pending_approval" and "receipt.under_tolerance" in held.explanation
    nearly = _po(world)
    closed = _draft(world, "wes", "po_receipt", _receipt(nearly, 46, close_short=True))  # 8% short
    assert closed.status == "executed"
    assert world.balance("V-200", "ATL").incoming == 50  # only the held PO is still due
    assert [c[0] for c in _cases(world)] == ["receipt_variance"]


def test_receipt_drafts_refuse_what_the_core_refuses(world: World) -> None:
    po = _po(world)
    with pytest.raises(InvalidInput, match="not valid"):
        _draft(world, "wes", "po_receipt", _receipt(po, 0))
    with pytest.raises(InvalidInput, match="has no line for V-220"):
        _draft(world, "wes", "po_receipt", {"po_number": po, "lines": [{"sku": "V-220", "quantity": 1}]})
    with pytest.raises(PermissionDenied):
        _draft(world, "sam", "po_receipt", _receipt(po, 1))


def test_the_counterparty_receives_an_intercompany_transfer_with_a_damaged_unit(world: World) -> None:
    mia = world.actor("mia")
    number = world.run(
        lambda s: (
            create_transfer(
                s, mia, from_warehouse="DAL", to_warehouse="BHM", lines=[TransferLineRequest("V-200", 10)]
            ).number
        )
    )
    shipped = _draft(world, "wes", "transfer_move", {"transfer_number": number, "action": "ship"})
    assert shipped.status == "executed"
    assert f"{number}: intercompany due-from and due-to of USD 110.00 posted" in shipped.diff
    received = _draft(
        world,
        "uma",
        "transfer_move",
        {"transfer_number": number, "action": "receive", "damaged": [{"quantity": 2}]},  # its only SKU
    )
    assert received.status == "executed"
    assert received.summary == f"Receive {number} at BHM: 8 x V-200 (0 short, 2 damaged)"
    assert (received.currency, Decimal(received.amount)) == ("GBP", Decimal("88.00"))  # the receiver's own books
    assert world.balance("V-200", "BHM").on_hand == 8
    assert [c[0] for c in _cases(world)] == ["transfer_discrepancy"]
    assert world.read(stock_disagreements) == []


def test_an_approved_over_receipt_is_not_judged_again_on_the_next_receipt(world: World) -> None:
    bea = world.actor("bea")
    po = world.run(
        lambda s: (
            create_purchase_order(
                s,
                bea,
                supplier="VALVECO",
                warehouse="ATL",
                lines=[PurchaseLineRequest("V-200", 50), PurchaseLineRequest("V-220", 10)],
            ).number
        )
    )
    held = _draft(world, "wes", "po_receipt", _receipt(po, 60))
    world.run(lambda s: approve(s, Person(world.actor("gus"), channel="web"), draft_number=held.number))
    later = _draft(world, "wes", "po_receipt", {"po_number": po, "lines": [{"sku": "V-220", "quantity": 10}]})
    assert (later.status, later.facts["over_receipt_pct"]) == ("executed", "0")
    assert world.read(stock_disagreements) == []

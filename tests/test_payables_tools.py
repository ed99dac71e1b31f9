"""The assistant's payables tools on the small world: draft_supplier_invoice previews a booking (each line's match in
its changes) or a release through the gate, get_payables reads an invoice, the ageing or what is due, with facts;
only finance and managers get the draft tool, buyers the read tool too; the schemas stay small for the local model.
"""

import json
from decimal import Decimal
from typing import Any

from core.actor import Person, Role
from core.drafts.service import confirm
from core.purchasing.service import PurchaseLineRequest, create_purchase_order, receive_purchase_order
from tests.world import World
from tools import ToolContext, ToolOutcome, default_registry

REGISTRY = default_registry()


def _call(world: World, user: str, tool: str, args: dict[str, Any], call_id: str = "t1") -> ToolOutcome:
    ctx = ToolContext(world.actor(user), channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(world.db, ctx, tool, args)


def _received_po(world: World, received: int = 40) -> str:
    bea, wes = world.actor("bea"), world.actor("wes")
    number = world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="DAL", lines=[PurchaseLineRequest("V-200", 40, Decimal("41.50"))]
            ).number
        )
    )
    world.run(lambda s: receive_purchase_order(s, wes, po_number=number, quantities={"V-200": received}))
    return number


def _book(world: World, po: str, ref: str, quantity: int, price: str, call_id: str = "t1") -> str:
    args = {
        "po_number": po,
        "supplier_ref": ref,
        "lines": [{"sku": "V-200", "quantity": quantity, "unit_price": price}],
    }
    preview = _call(world, "fin", "draft_supplier_invoice", args, call_id)
    assert preview.draft is not None and preview.data["status"] == "unconfirmed", preview.data
    draft = world.run(lambda s: confirm(s, Person(world.actor("fin"), "web"), draft_number=preview.data["draft"]))
    assert draft.status == "executed" and draft.result_ref is not None, draft.explanation
    return draft.result_ref


def test_the_payables_tools_cost_the_local_model_little() -> None:
    added = sum(len(json.dumps(REGISTRY.tools[n].schema())) for n in ("draft_supplier_invoice", "get_payables"))
    assert added // 4 <= 540  # about 525 tokens for both schemas (len/4)


def test_only_finance_and_managers_draft_and_buyers_read_payables() -> None:
    draft, read = REGISTRY.tools["draft_supplier_invoice"], REGISTRY.tools["get_payables"]
    assert [r for r in Role if draft.usable_by({r})] == [Role.MANAGER, Role.FINANCE, Role.ADMIN]
    assert [r for r in Role if read.usable_by({r})] == [Role.BUYER, Role.MANAGER, Role.FINANCE, Role.ADMIN]


def test_a_booking_preview_shows_each_lines_match_and_the_invoice_reads_with_its_hold(world: World) -> None:
    po = _received_po(world, received=30)
    args = {"po_number": po, "supplier_ref": "8812", "lines": [{"sku": "V-200", "quantity": 40, "unit_price": 41.5}]}
    preview = _call(world, "fin", "draft_supplier_invoice", args).data
    assert preview["summary"].startswith(f"Supplier invoice 8812 from VALVECO against {po}: USD 1,660.00")
    assert preview["changes"][0] == (
        "line 1 V-200: 40 billed at USD 41.50 (PO USD 41.50, +0.0%); received 30, billed before 0: "
        "BILLED MORE THAN RECEIVED"
    )
    assert "payment hold" in preview["changes"][1] and "If confirmed" in preview["decision"]
    number = _book(world, po, "8813", 40, "41.50", "t2")
    read = _call(world, "bea", "get_payables", {"view": "invoice", "invoice_number": number}).data
    assert read["status"] == "on_hold" and read["case"] and read["case"].startswith("EX-"), read
    assert f"{number} status: on payment hold." in read["facts"]
    assert any(f.startswith(f"{number} is on hold because line 1 V-200: 40 billed") for f in read["facts"]), read
    assert f"{number} open amount: USD 1,660.00." in read["facts"]


def test_due_and_ageing_carry_their_figures_as_facts(world: World) -> None:
    po = _received_po(world)
    _book(world, po, "D-1", 10, "41.50")
    due = _call(world, "fin", "get_payables", {"view": "due"}).data
    assert due["facts"] == ["Nothing is due to suppliers from 2026-11-20 to 2026-11-26."], due
    ageing = _call(world, "fin", "get_payables", {"view": "ageing"}).data
    assert ageing["facts"][0] == (
        "NA payables total: USD 415.00 on 2026-11-20 (current USD 415.00, 1-30 USD 0.00, 31-60 USD 0.00, "
        "61-90 USD 0.00, 90+ USD 0.00; days past due); USD 0.00 on payment hold."
    )
    assert ageing["rows"] == ["VALVECO (NA): USD 415.00, USD 0.00 past due, 1 invoice(s)"]


def test_a_release_by_the_booker_is_refused_and_an_invoice_view_needs_its_number(world: World) -> None:
    po = _received_po(world)
    number = _book(world, po, "R-1", 10, "45.00")
    release = {"action": "release", "invoice_number": number, "reason": "price agreed"}
    refused = _call(world, "fin", "draft_supplier_invoice", release, "t9")
    assert (
        refused.error is not None
        and refused.error.code == "permission_denied"
        and "you booked" in refused.error.message
    )
    missing = _call(world, "fin", "draft_supplier_invoice", {"action": "book", "po_number": po}, "t10")
    assert missing.error is not None and "supplier_ref, lines" in missing.error.message
    nothing = _call(world, "fin", "get_payables", {"view": "invoice"})
    assert nothing.error is not None and nothing.error.code == "invalid_input"

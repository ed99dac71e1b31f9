"""Master data under the gate, and credit management, on SQLite and PostgreSQL: items, customers, suppliers, prices
and substitutes created and changed as drafts with a diff; credit limits and credit holds; who may ask, what the
policy holds, and that posted documents keep their prices and costs.

World: V-200 costs 10.00 and lists at 20.00 (18.00 on NA-WHOLESALE, ACME's list); ACME has a 90.00 contract on
P-100 (cost 50.00) and a 50,000 limit; BOLT 1,000; HOLDCO is on hold. sam sells (NA), wes is the warehouse, bea
buys, fin is finance (NA), gus and nia manage NA, uma sells for UK, root is admin.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import clock
from core.actor import Person
from core.audit.models import AuditEvent
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.errors import DuplicateCode, ErpError, InvalidInput, NotFound, OutOfScope, PermissionDenied
from core.finance.models import Invoice
from core.masterdata.models import ContractPrice, Customer, Item, ItemSubstitute, PriceListItem, Supplier
from core.masterdata.records import record_view
from core.purchasing.models import PurchaseOrderLine
from core.purchasing.service import PurchaseLineRequest, create_purchase_order
from core.sales.models import SalesOrder, SalesOrderLine
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from tests.world import World


def _draft(world: World, user: str, kind: str, payload: dict[str, Any], *, confirmed: bool = True) -> DraftAction:
    ctx = RequestContext(world.actor(user), channel="web")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload, confirmed=confirmed))


def _change(world: World, user: str, payload: dict[str, Any], *, confirmed: bool = True) -> DraftAction:
    return _draft(world, user, "master_data_change", payload, confirmed=confirmed)


def _approve(world: World, user: str, draft: DraftAction) -> DraftAction:
    return world.run(lambda s: approve(s, Person(world.actor(user), "web"), draft_number=draft.number))


def _refused(world: World, user: str, kind: str, payload: dict[str, Any], error: type[ErpError]) -> str:
    with pytest.raises(error) as refused:
        _draft(world, user, kind, payload)
    return refused.value.message


def _rules(draft: DraftAction) -> set[str]:
    return {r["rule_id"] for r in draft.reasons}


def _item(world: World, sku: str) -> Item:
    return world.read(lambda s: s.scalars(select(Item).where(Item.sku == sku)).one())


def _customer(world: World, code: str) -> Customer:
    return world.read(lambda s: s.scalars(select(Customer).where(Customer.code == code)).one())


# --- Items -------------------------------------------------------------------------------------------


def test_a_small_cost_change_shows_its_diff_and_executes(world: World) -> None:
    preview = _change(world, "bea", {"record": "item", "code": "v200", "cost": "10.50"}, confirmed=False)
    assert preview.status == "unconfirmed" and _item(world, "V-200").standard_cost == Decimal("10.00")
    assert preview.diff == ["item V-200: cost USD 10.00 → USD 10.50"]
    assert preview.facts["cost_change_pct"] == "5.0" and preview.facts["record"] == "item V-200"
    done = _change(world, "bea", {"record": "item", "code": "V-200", "cost": "10.50"})
    assert done.status == "executed" and _rules(done) == {"masterdata.within_limits"}
    assert _item(world, "V-200").standard_cost == Decimal("10.50")
    events = world.read(
        lambda s: [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.subject_id == done.number))]
    )
    assert {"draft.created", "draft.confirmed", "draft.executed"} <= set(events)


def test_a_cost_change_above_ten_percent_waits_for_a_manager_who_is_not_the_requester(world: World) -> None:
    draft = _change(world, "gus", {"record": "item", "code": "V-200", "cost": "12.00", "list_price": "25"})
    assert draft.status == "pending_approval" and _rules(draft) == {"masterdata.cost_change"}
    assert "would move 20.0%, more than 10%" in draft.explanation
    assert draft.diff == ["item V-200: cost USD 10.00 → USD 12.00", "item V-200: list price USD 20.00 → USD 25.00"]
    with pytest.raises(PermissionDenied, match="you requested"):
        _approve(world, "gus", draft)
    assert _item(world, "V-200").standard_cost == Decimal("10.00")
    assert _approve(world, "nia", draft).status == "executed"
    item = _item(world, "V-200")
    assert (item.standard_cost, item.list_price) == (Decimal("12.00"), Decimal("25.00"))


def test_a_list_price_below_cost_needs_a_manager(world: World) -> None:
    draft = _change(world, "bea", {"record": "item", "code": "P-100", "list_price": "45"})
    assert draft.status == "pending_approval" and _rules(draft) == {"masterdata.below_cost"}


def test_a_new_item_is_created_and_a_taken_sku_is_refused_naming_the_holder(world: World) -> None:
    body = {"record": "item", "code": "V-300", "create": True, "name": "Brass valve 1in", "category": "valves"}
    done = _change(world, "bea", body | {"cost": "12", "list_price": "24"})
    assert done.status == "executed" and done.result_ref == "V-300"
    assert "item V-300: new" in done.diff and "item V-300: cost USD 12.00" in done.diff
    assert _item(world, "V-300").sku_key == "V300"
    message = _refused(
        world, "bea", "master_data_change", body | {"code": "v 200", "cost": 1, "list_price": 2}, DuplicateCode
    )
    assert "'V 200' is taken by item V-200" in message
    missing = _refused(
        world, "bea", "master_data_change", {"record": "item", "code": "N-1", "create": True}, InvalidInput
    )
    assert "needs name, category, cost, list price" in missing


def test_validation_says_what_to_fix(world: World) -> None:
    def refused(body: dict[str, Any], error: type[ErpError] = InvalidInput) -> str:
        return _refused(world, "root", "master_data_change", body, error)

    assert "cost cannot be negative (-1)" in refused({"record": "item", "code": "V-200", "cost": "-1"})
    assert "unknown SKU 'V-201'; did you mean V-220, V-200?" in refused(
        {"record": "item", "code": "V-201", "cost": "3"}, NotFound
    )
    assert "did you mean NA-WHOLESALE" in refused(
        {"record": "price", "code": "V-200", "price_list": "NA-WHOLESAL", "price": "5"}, NotFound
    )
    assert "three-letter ISO 4217" in refused({"record": "supplier", "code": "VALVECO", "currency": "US$"})
    assert "no exchange rate for XYZ" in refused({"record": "supplier", "code": "VALVECO", "currency": "xyz"})
    assert "cannot be a substitute of itself" in refused(
        {"record": "substitute", "code": "V-200", "substitute": "v200"}
    )
    assert "does not take cost" in refused({"record": "supplier", "code": "VALVECO", "cost": "3"})
    assert "nothing would change" in refused({"record": "supplier", "code": "VALVECO", "lead_time_days": 10})
    assert "tier must be one of A, B, C" in refused({"record": "customer", "code": "BOLT", "tier": "Z"})
    assert "credit limit changes on its own" in refused({"record": "customer", "code": "BOLT", "credit_limit": 9})
    assert "between 0 and 365" in refused({"record": "supplier", "code": "VALVECO", "lead_time_days": -2})


def test_a_role_without_the_permission_cannot_change_a_price(world: World) -> None:
    body = {"record": "price", "code": "V-200", "price_list": "NA-WHOLESALE", "price": "17"}
    for user in ("wes", "sam"):
        assert "may not edit master data" in _refused(world, user, "master_data_change", body, PermissionDenied)
    assert world.read(lambda s: s.scalars(select(DraftAction)).all()) == []


def test_another_entitys_records_are_out_of_reach(world: World) -> None:
    _refused(
        world, "bea", "master_data_change", {"record": "supplier", "code": "UKSUP", "lead_time_days": 9}, OutOfScope
    )
    _refused(world, "uma", "master_data_change", {"record": "customer", "code": "BRIT", "tier": "A"}, PermissionDenied)
    _refused(world, "uma", "credit_limit_change", {"customer": "ACME", "credit_limit": "1"}, OutOfScope)


# --- Customers, suppliers, prices, substitutes ------------------------------------------------------------


def test_a_customer_and_a_supplier_are_created_and_changed(world: World) -> None:
    new = {"record": "customer", "code": "zeta", "create": True, "name": "Zeta Pipes", "entity": "NA"}
    done = _change(
        world, "fin", new | {"tier": "B", "terms_days": 45, "price_list": "NA-WHOLESALE", "credit_limit": 2000}
    )
    assert done.status == "executed" and _rules(done) == {"masterdata.within_limits", "credit_limit.finance_within"}
    zeta = _customer(world, "ZETA")
    assert (zeta.tier, zeta.payment_terms_days, zeta.credit_limit) == ("B", 45, Decimal("2000.00"))
    assert "customer ZETA: credit limit USD 2,000.00" in done.diff
    assert "is taken by Bolt Brothers" in _refused(
        world, "bea", "master_data_change", new | {"code": "BOLT"}, DuplicateCode
    )
    asked_by_buyer = _change(world, "bea", new | {"code": "ZETA2", "credit_limit": 500})
    assert asked_by_buyer.status == "pending_approval" and "credit_limit.not_by_finance" in _rules(asked_by_buyer)
    changed = _change(world, "bea", {"record": "customer", "code": "ACME", "terms_days": 60, "price_list": "none"})
    assert changed.diff == [
        "customer ACME: payment terms 30 days → 60 days",
        "customer ACME: price list NA-WHOLESALE → none",
    ]
    supplier = _change(world, "bea", {"record": "supplier", "code": "VALVECO", "lead_time_days": 14, "currency": "gbp"})
    assert supplier.status == "executed"
    assert supplier.diff == ["supplier VALVECO: lead time 10 days → 14 days", "supplier VALVECO: currency USD → GBP"]
    created = _change(
        world,
        "bea",
        {"record": "supplier", "code": "NEWCO", "create": True, "name": "New Co", "entity": "NA", "lead_time_days": 5},
    )
    assert created.status == "executed"
    assert world.read(lambda s: s.scalars(select(Supplier).where(Supplier.code == "NEWCO")).one().currency) == "USD"


def test_price_list_prices_are_set_and_removed(world: World) -> None:
    body = {"record": "price", "code": "V-220", "price_list": "NA-WHOLESALE"}
    added = _change(world, "bea", body | {"price": "20.50"})
    assert added.status == "executed" and added.diff[:2] == [
        "price NA-WHOLESALE V-220: new",
        "price NA-WHOLESALE V-220: price USD 20.50",
    ]
    changed = _change(world, "bea", body | {"code": "V-200", "price": "17"})
    assert changed.diff == [
        "price NA-WHOLESALE V-200: price USD 18.00 → USD 17.00",
        "price NA-WHOLESALE V-200: standard cost (for reference) USD 10.00",
    ]
    below = _change(world, "bea", body | {"code": "V-200", "price": "9.99"})
    assert below.status == "pending_approval" and _rules(below) == {"masterdata.below_cost"}
    removed = _change(world, "bea", body | {"remove": True})
    assert removed.diff == ["price NA-WHOLESALE V-220: removed"]
    rows = world.read(lambda s: [(r.item_id, r.unit_price) for r in s.scalars(select(PriceListItem))])
    assert [Decimal(p) for _, p in rows] == [Decimal(17)]


def test_a_contract_price_from_a_later_day_ends_the_running_one_and_below_cost_needs_a_manager(world: World) -> None:
    start = clock.today() + timedelta(days=10)
    body = {"record": "contract", "code": "P-100", "customer": "ACME"}
    done = _change(world, "fin", body | {"price": "85", "valid_from": start.isoformat()})
    assert done.status == "executed"
    assert f"contract ACME P-100: earlier price USD 90.00 valid to open → {start - timedelta(days=1)}" in done.diff
    rows = world.read(
        lambda s: [(r.unit_price, r.valid_to) for r in s.scalars(select(ContractPrice).order_by(ContractPrice.id))]
    )
    assert [(Decimal(p), end) for p, end in rows] == [
        (Decimal("90.00"), start - timedelta(days=1)),
        (Decimal("85.00"), None),
    ]
    below = _change(world, "fin", body | {"price": "40", "valid_from": start.isoformat()})
    assert below.status == "pending_approval" and _rules(below) == {"masterdata.below_cost"}
    past = (clock.today() - timedelta(days=1)).isoformat()
    assert "starts today" in _refused(
        world, "fin", "master_data_change", body | {"price": "80", "valid_from": past}, InvalidInput
    )


def test_substitutes_are_added_and_removed(world: World) -> None:
    added = _change(world, "bea", {"record": "substitute", "code": "P-100", "substitute": "V-220"})
    assert added.status == "executed" and added.diff == [
        "substitute P-100 → V-220: new",
        "substitute P-100 → V-220: priority 1",
    ]
    again = {"record": "substitute", "code": "V-200", "substitute": "V-220"}
    assert "already an approved substitute" in _refused(world, "bea", "master_data_change", again, InvalidInput)
    removed = _change(world, "bea", again | {"remove": True})
    assert removed.status == "executed"
    pairs = world.read(lambda s: len(s.scalars(select(ItemSubstitute)).all()))
    assert pairs == 1
    view = world.read(lambda s: record_view(s, world.actor("sam"), record="item", code="P-100"))
    assert view.related == ["substitute V-220 (priority 1)"]


# --- History -------------------------------------------------------------------------------------------


def test_a_change_never_rewrites_posted_documents(world: World) -> None:
    number = world.place_order("ACME", LineRequest("V-200", 5, warehouse="DAL"), LineRequest("P-100", 1), confirm=True)
    world.run(lambda s: ship_order(s, world.actor("wes"), order_number=number))
    draft_no = world.place_order("BOLT", LineRequest("V-200", 2, warehouse="DAL"))
    bea = world.actor("bea")
    world.run(
        lambda s: (
            create_purchase_order(
                s, bea, supplier="VALVECO", warehouse="DAL", lines=[PurchaseLineRequest("V-200", 10)]
            ).number
        )
    )

    def posted() -> list[tuple[Any, ...]]:
        def query(s: Any) -> list[tuple[Any, ...]]:
            lines = [
                (ln.unit_price, ln.net_price, ln.unit_cost)
                for ln in s.scalars(select(SalesOrderLine).order_by(SalesOrderLine.id))
            ]
            invoices = [(i.amount, i.cost) for i in s.scalars(select(Invoice))]
            po = [ln.unit_cost for ln in s.scalars(select(PurchaseOrderLine))]
            return [*lines, *invoices, *po]

        return world.read(query)

    before = posted()
    for body in (
        {"record": "item", "code": "V-200", "cost": "10.90", "list_price": "21"},
        {"record": "price", "code": "V-200", "price_list": "NA-WHOLESALE", "price": "19"},
        {"record": "contract", "code": "P-100", "customer": "ACME", "price": "95"},
    ):
        assert _change(world, "gus", body).status == "executed"
    assert posted() == before
    assert _item(world, "V-200").standard_cost == Decimal("10.90")
    assert draft_no.startswith("SO-")


# --- Credit limits and holds -----------------------------------------------------------------------------


def test_a_limit_rise_asked_by_sales_waits_for_finance_and_its_requester_cannot_approve(world: World) -> None:
    draft = _draft(
        world, "sam", "credit_limit_change", {"customer": "ACME", "credit_limit": "60000", "reason": "growth"}
    )
    assert draft.status == "pending_approval" and _rules(draft) == {"credit_limit.not_by_finance"}
    assert draft.diff[0] == "ACME: credit limit USD 50,000.00 → USD 60,000.00"
    assert draft.amount == Decimal("10000.00")
    with pytest.raises(PermissionDenied, match="you requested"):
        _approve(world, "sam", draft)
    with pytest.raises(PermissionDenied, match="needs the role finance"):
        _approve(world, "gus", draft)
    assert _customer(world, "ACME").credit_limit == Decimal("50000.00")
    assert _approve(world, "fin", draft).status == "executed"
    assert _customer(world, "ACME").credit_limit == Decimal("60000.00")


def test_a_limit_cut_executes_and_finance_raises_within_its_own_limit(world: World) -> None:
    cut = _draft(world, "sam", "credit_limit_change", {"customer": "BOLT", "credit_limit": "500"})
    assert cut.status == "executed" and _rules(cut) == {"credit_limit.decrease"}
    assert _customer(world, "BOLT").credit_limit == Decimal("500.00")
    small = _draft(world, "fin", "credit_limit_change", {"customer": "BOLT", "credit_limit": "5500"})
    assert small.status == "executed" and _rules(small) == {"credit_limit.finance_within"}
    large = _draft(world, "fin", "credit_limit_change", {"customer": "ACME", "credit_limit": "90000"})
    assert large.status == "pending_approval" and _rules(large) == {"credit_limit.large_increase"}
    with pytest.raises(PermissionDenied, match="you requested"):
        _approve(world, "fin", large)
    assert _approve(world, "gus", large).status == "executed"
    same = {"customer": "BOLT", "credit_limit": "5500"}
    assert "already 5,500.00" in _refused(world, "fin", "credit_limit_change", same, InvalidInput)
    negative = {"customer": "BOLT", "credit_limit": "-1"}
    assert "0 or more" in _refused(world, "fin", "credit_limit_change", negative, InvalidInput)
    for user in ("wes", "bea"):
        _refused(world, user, "credit_limit_change", {"customer": "BOLT", "credit_limit": "9000"}, PermissionDenied)


def test_a_hold_by_finance_holds_draft_orders_and_blocks_new_ones(world: World) -> None:
    waiting = world.place_order("BOLT", LineRequest("V-200", 2, warehouse="DAL"))
    confirmed = world.place_order("BOLT", LineRequest("V-200", 1, warehouse="DAL"), confirm=True)
    asked = _draft(world, "sam", "credit_hold", {"customer": "BOLT", "reason": "3 invoices unpaid"})
    assert asked.status == "pending_approval" and _rules(asked) == {"credit_hold.not_by_finance"}
    world.run(lambda s: s.get(DraftAction, asked.id).__setattr__("status", "cancelled"))
    held = _draft(world, "fin", "credit_hold", {"customer": "BOLT", "reason": "3 invoices unpaid"})
    assert held.status == "executed" and f"{waiting}: status draft → on hold" in held.diff
    bolt = _customer(world, "BOLT")
    assert bolt.on_credit_hold and bolt.credit_hold_reason == "3 invoices unpaid"
    statuses = world.read(lambda s: {o.number: (o.status, o.hold_reason) for o in s.scalars(select(SalesOrder))})
    assert statuses[waiting] == ("on_hold", "customer BOLT is on credit hold: 3 invoices unpaid")
    assert statuses[confirmed][0] == "confirmed"
    order = {"customer": "BOLT", "lines": [{"sku": "V-200", "quantity": 1, "warehouse": "DAL"}]}
    assert _draft(world, "sam", "sales_order", order).status == "blocked"
    again = {"customer": "BOLT", "reason": "still unpaid"}
    assert "already on credit hold" in _refused(world, "fin", "credit_hold", again, ErpError)
    assert "needs a reason" in _refused(
        world, "fin", "credit_hold", {"customer": "ACME", "reason": "   x"}, InvalidInput
    )
    _refused(world, "wes", "credit_hold", {"customer": "ACME", "reason": "unpaid"}, PermissionDenied)


def test_the_record_view_shows_fields_and_related_rows(world: World) -> None:
    view = world.read(lambda s: record_view(s, world.actor("sam"), record="customer", code="acme"))
    assert ("credit limit", "USD 50,000.00") in view.fields and view.entity == "NA"
    assert view.related[0].startswith("contract P-100 USD 90.00 from")
    prices = world.read(lambda s: record_view(s, world.actor("sam"), record="price_list", code="na-wholesale"))
    assert prices.related == ["V-200 USD 18.00"]
    with pytest.raises(OutOfScope):
        world.read(lambda s: record_view(s, world.actor("sam"), record="supplier", code="UKSUP"))
    with pytest.raises(InvalidInput, match="records are"):
        world.read(lambda s: record_view(s, world.actor("sam"), record="warehouse", code="DAL"))


def test_the_less_travelled_paths_of_each_record(world: World) -> None:
    deactivated = _change(world, "bea", {"record": "item", "code": "X-900", "active": False, "name": "Chiller 20kW"})
    assert deactivated.diff == [
        "item X-900: name Industrial chiller 20kW → Chiller 20kW",
        "item X-900: active yes → no",
    ]
    inactive = {"record": "substitute", "code": "V-200", "substitute": "X-900"}
    assert "inactive" in _refused(world, "bea", "master_data_change", inactive, InvalidInput)
    reprioritised = _change(
        world, "bea", {"record": "substitute", "code": "V-200", "substitute": "V-220", "priority": 3}
    )
    assert reprioritised.diff == ["substitute V-200 → V-220: priority 1 → 3"]
    ended_on = (clock.today() + timedelta(days=30)).isoformat()
    ended = _change(world, "fin", {"record": "contract", "code": "P-100", "customer": "ACME", "valid_to": ended_on})
    assert ended.diff == [f"contract ACME P-100: valid to open → {ended_on}"]
    not_listed = {"record": "price", "code": "P-100", "price_list": "NA-WHOLESALE", "remove": True}
    assert "not on price list" in _refused(world, "bea", "master_data_change", not_listed, InvalidInput)
    supplier = {"record": "supplier", "code": "valveco", "create": True, "name": "Valve Co 2", "lead_time_days": 3}
    assert "taken by Valve Co" in _refused(world, "bea", "master_data_change", supplier, DuplicateCode)
    bad_code = {"record": "customer", "code": "a b", "create": True, "name": "Spaced", "entity": "NA"}
    assert "letters, digits" in _refused(world, "bea", "master_data_change", bad_code, InvalidInput)
    foreign = {"record": "customer", "code": "NEWUK", "create": True, "name": "New UK", "entity": "UK"}
    _refused(world, "bea", "master_data_change", foreign, OutOfScope)
    renamed = _change(world, "root", {"record": "customer", "code": "BRIT", "name": "Brit Pipes plc", "note": "EDI"})
    assert renamed.diff == ["customer BRIT: name Brit Pipes Ltd → Brit Pipes plc", "customer BRIT: note (none) → EDI"]
    assert renamed.currency == "GBP"
    view = world.read(lambda s: record_view(s, world.actor("bea"), record="supplier", code="VALVECO"))
    assert ("lead time", "10 days") in view.fields and view.entity == "NA"

"""The group view on the small world (both databases): one conversion, group figures, intercompany pairs, margins
net of credit notes; and credit-hold and shortage cases keyed to the episode."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from core.audit.models import AuditEvent
from core.errors import InvalidInput, MissingRate, OutOfScope
from core.exceptions import detect_exceptions, resolve_case
from core.exceptions.models import ExceptionCase
from core.finance.intercompany import intercompany_balances
from core.finance.models import IntercompanyPosting, Invoice, PostingKind
from core.finance.service import issue_credit_note, margin_by_entity, release_credit_hold
from core.fx import rate_on, rates_on
from core.masterdata.models import Customer, Item, Warehouse
from core.reporting.group import group_kpis, margin_report
from core.returns.service import ReturnRequest, authorise_return, receive_return
from core.sales.service import LineRequest, confirm_order
from core.shipping.service import ship_order
from core.stock.service import adjust_stock, post_adjustment
from core.transfers.service import TransferLineRequest, create_transfer, ship_transfer
from tests.world import World


def _sell(world: World, customer: str, sku: str, quantity: int, warehouse: str, user: str = "sam") -> str:
    """An order shipped in full; its invoice number."""
    number = world.place_order(customer, LineRequest(sku, quantity, warehouse), user=user, confirm=True)
    clerk = world.actor("wes" if user == "sam" else user)

    def ship(s: Any) -> str:
        shipment = ship_order(s, clerk, order_number=number)[0]
        return str(s.scalars(select(Invoice).where(Invoice.shipment_id == shipment.id)).one().number)

    return world.run(ship)


def _credit(world: World, invoice: str, amount: str) -> None:
    """A credit note on an invoice (goods came back and were scrapped: no return lines to restock)."""
    from core.finance.service import get_invoice

    fin = world.actor("mia")
    world.run(
        lambda s: issue_credit_note(
            s, fin, invoice=get_invoice(s, fin, invoice_number=invoice), amount=Decimal(amount), source_id=999
        )
    )


# --- One conversion --------------------------------------------------------------------------------------------


def test_a_rate_is_named_with_its_pair_and_day_and_a_missing_one_is_a_typed_error(world: World) -> None:
    rate = world.read(lambda s: rate_on(s, from_currency="GBP", to_currency="USD", on=date(2026, 6, 1)))
    assert (rate.pair, rate.rate, rate.valid_from) == ("GBP→USD", Decimal("1.25"), date(2020, 1, 1))
    assert rate.describe() == "GBP→USD 1.25 (valid from 2020-01-01)"
    assert rate.apply(Decimal("88.00")) == Decimal("110.00")
    same = world.read(lambda s: rates_on(s, [("USD", "USD")], date(2026, 6, 1)))[("USD", "USD")]
    assert same.describe() == "USD, no conversion"
    with pytest.raises(MissingRate, match=r"no exchange rate from GBP to EUR on or before 2026-06-01") as refused:
        world.read(lambda s: rate_on(s, from_currency="GBP", to_currency="EUR", on=date(2026, 6, 1)))
    assert (refused.value.code, refused.value.details["pair"]) == ("missing_rate", "GBP/EUR")
    with pytest.raises(MissingRate, match="before 2019-12-31"):
        world.read(lambda s: rate_on(s, from_currency="USD", to_currency="GBP", on=date(2019, 12, 31)))


# --- Group figures ---------------------------------------------------------------------------------------------


def test_group_revenue_and_margin_add_the_entities_in_one_currency_at_the_periods_rate(world: World) -> None:
    _sell(world, "ACME", "V-200", 10, "DAL")  # NA: revenue 180.00 USD, cost 100.00
    _sell(world, "BRIT", "F-300", 5, "BHM", user="uma")  # UK: in GBP
    mia = world.actor("mia")
    uk = next(m for m in world.read(lambda s: margin_by_entity(s, mia, since=date(2026, 1, 1))) if m.entity == "UK")
    report = world.read(lambda s: group_kpis(s, mia))
    assert report.currency == "USD"
    by_entity = {t.entity: t for t in report.translated}
    assert (by_entity["NA"].revenue, by_entity["NA"].margin) == (Decimal("180.00"), Decimal("80.00"))
    assert by_entity["UK"].revenue == (uk.revenue * Decimal("1.25")).quantize(Decimal("0.01"))
    assert report.total.revenue == Decimal("180.00") + by_entity["UK"].revenue
    assert report.total.margin == Decimal("80.00") + by_entity["UK"].margin
    assert [r.describe() for r in report.rates] == ["USD, no conversion", "GBP→USD 1.25 (valid from 2020-01-01)"]
    assert "GBP→USD 1.25" in report.basis
    # Receivables and payables open today, translated alike: both invoices are unpaid; no supplier has billed.
    assert by_entity["NA"].receivables == Decimal("180.00") and by_entity["UK"].receivables == by_entity["UK"].revenue
    assert report.total.receivables == Decimal("180.00") + by_entity["UK"].receivables
    assert (by_entity["NA"].payables, report.total.payables) == (Decimal("0.00"), Decimal("0.00"))
    in_pounds = world.read(lambda s: group_kpis(s, mia, currency="gbp"))
    assert {t.entity: t.revenue for t in in_pounds.translated}["NA"] == Decimal("144.00")  # 180 x 0.80
    with pytest.raises(MissingRate, match="from GBP to EUR"):
        world.read(lambda s: group_kpis(s, mia, currency="EUR"))


def test_the_group_is_what_the_actor_may_see(world: World) -> None:
    _sell(world, "BRIT", "F-300", 5, "BHM", user="uma")
    report = world.read(lambda s: group_kpis(s, world.actor("sam")))
    assert [t.entity for t in report.translated] == ["NA"]
    assert report.total.revenue == Decimal("0.00")
    assert report.total.payables is None  # a salesperson may not see what we owe suppliers
    with pytest.raises(OutOfScope):
        world.read(lambda s: group_kpis(s, world.actor("sam"), entity="UK"))


# --- Margin ----------------------------------------------------------------------------------------------------


def test_a_credit_note_takes_revenue_back_in_the_entity_margin(world: World) -> None:
    invoice = _sell(world, "ACME", "V-200", 10, "DAL")  # 180.00 revenue, 100.00 cost
    _credit(world, invoice, "36.00")
    [na] = world.read(lambda s: margin_by_entity(s, world.actor("gus"), since=date(2026, 1, 1)))
    assert (na.invoiced, na.credited, na.revenue, na.cost, na.margin, na.margin_pct) == (
        Decimal("180.00"),
        Decimal("36.00"),
        Decimal("144.00"),
        Decimal("100.00"),
        Decimal("44.00"),
        Decimal("30.6"),
    )


def test_a_restocked_return_takes_back_revenue_and_cost_a_scrapped_one_only_revenue(world: World) -> None:
    restocked = world.place_order("ACME", LineRequest("V-200", 10, "DAL"), confirm=True)  # 18.00 a unit, cost 10
    scrapped = world.place_order("ACME", LineRequest("V-200", 10, "DAL"), confirm=True)
    wes, sam = world.actor("wes"), world.actor("sam")
    for order in (restocked, scrapped):
        world.run(lambda s, o=order: ship_order(s, wes, order_number=o))

    def send_back(order: str, disposition: str) -> None:
        rma = world.run(
            lambda s: (
                authorise_return(
                    s, sam, order_number=order, lines=[ReturnRequest(quantity=2, line_no=1)], reason="damaged"
                ).number
            )
        )
        world.run(lambda s: receive_return(s, wes, rma_number=rma, disposition=disposition))

    send_back(restocked, "restock")
    send_back(scrapped, "scrap")
    [na] = world.read(lambda s: margin_by_entity(s, world.actor("gus"), since=date(2026, 1, 1)))
    # invoiced 360.00, credited 2 x 36.00; cost 200.00 less the 2 restocked units (20.00)
    assert (na.invoiced, na.credited, na.cost, na.margin) == (
        Decimal("360.00"),
        Decimal("72.00"),
        Decimal("180.00"),
        Decimal("108.00"),
    )
    [category] = world.read(lambda s: margin_report(s, world.actor("gus"), by="category").rows)
    assert (category.line.credited, category.line.cost) == (Decimal("72.00"), Decimal("180.00"))


def test_margin_by_customer_and_by_category_with_the_group_total(world: World) -> None:
    acme = _sell(world, "ACME", "V-200", 10, "DAL")  # 180 / 100
    _sell(world, "BOLT", "V-220", 2, "DAL")  # BOLT pays list price for V-220
    _sell(world, "BRIT", "F-300", 5, "BHM", user="uma")
    _credit(world, acme, "18.00")
    mia = world.actor("mia")
    customers = world.read(lambda s: margin_report(s, mia, by="customer"))
    rows = {(r.line.entity, r.line.key): r for r in customers.rows}
    assert set(rows) == {("NA", "ACME"), ("NA", "BOLT"), ("UK", "BRIT")}
    assert (rows[("NA", "ACME")].line.revenue, rows[("NA", "ACME")].line.margin) == (
        Decimal("162.00"),
        Decimal("62.00"),
    )
    brit = rows[("UK", "BRIT")]
    assert brit.line.currency == "GBP" and brit.revenue == (brit.line.revenue * Decimal("1.25")).quantize(
        Decimal("0.01")
    )
    assert customers.revenue == sum((r.revenue for r in customers.rows), Decimal(0))
    entities = world.read(lambda s: margin_report(s, mia, by="entity"))
    assert entities.revenue == customers.revenue and entities.margin == customers.margin
    categories = world.read(lambda s: margin_report(s, mia, by="category"))
    cats = {(r.line.entity, r.line.key) for r in categories.rows}
    assert cats == {
        ("NA", c)
        for c in world.read(lambda s: set(s.scalars(select(Item.category).where(Item.sku.in_(["V-200", "V-220"])))))
    } | {
        ("UK", world.read(lambda s: s.scalar(select(Item.category).where(Item.sku == "F-300")))),
        ("NA", "credit notes without returned lines"),  # the 18.00 credited above came with no return lines
    }
    assert categories.margin == entities.margin
    with pytest.raises(InvalidInput, match="use entity, customer or category"):
        world.read(lambda s: margin_report(s, mia, by="warehouse"))


# --- Intercompany ----------------------------------------------------------------------------------------------


def _intercompany_transfer(world: World, quantity: int = 10) -> str:
    mia = world.actor("mia")

    def command(s: Any) -> str:
        transfer = create_transfer(
            s, mia, from_warehouse="DAL", to_warehouse="BHM", lines=[TransferLineRequest("V-200", quantity)]
        )
        ship_transfer(s, mia, transfer_number=transfer.number)
        return transfer.number

    return world.run(command)


def test_an_intercompany_pair_booked_on_both_sides_nets_to_zero_in_the_group_currency(world: World) -> None:
    number = _intercompany_transfer(world)  # NA due-from 110.00 USD; UK due-to 88.00 GBP
    report = world.read(lambda s: intercompany_balances(s, world.actor("mia")))
    [pair] = report.pairs
    assert (pair.first, pair.second, pair.first_net, pair.second_net) == (
        "NA",
        "UK",
        Decimal("110.00"),
        Decimal("-88.00"),
    )
    assert (pair.first_converted, pair.second_converted, pair.difference) == (
        Decimal("110.00"),
        Decimal("-110.00"),
        Decimal("0.00"),
    )
    assert pair.nets_to_zero and pair.gaps == [] and pair.transfers == 1
    assert number.startswith("TR-")
    assert [r.describe() for r in report.rates] == ["GBP→USD 1.25 (valid from 2020-01-01)", "USD, no conversion"]


def test_a_pair_that_does_not_net_names_the_transfers_and_postings(world: World) -> None:
    one_sided = _intercompany_transfer(world)
    wrong = _intercompany_transfer(world, quantity=5)  # 55.00 USD; 44.00 GBP
    _intercompany_transfer(world, quantity=1)  # matched
    tr_one, tr_wrong = (int(n.removeprefix("TR-")) for n in (one_sided, wrong))

    def tamper(s: Any) -> None:  # UK never booked the first; booked the second short by 4.00 GBP
        s.execute(
            delete(IntercompanyPosting).where(
                IntercompanyPosting.transfer_id == tr_one, IntercompanyPosting.kind == PostingKind.DUE_TO.value
            )
        )
        s.execute(
            update(IntercompanyPosting)
            .where(IntercompanyPosting.transfer_id == tr_wrong, IntercompanyPosting.kind == PostingKind.DUE_TO.value)
            .values(amount=Decimal("40.00"))
        )

    world.run(tamper)
    [pair] = world.read(lambda s: intercompany_balances(s, world.actor("mia"))).pairs
    assert not pair.nets_to_zero and pair.transfers == 3
    gaps = {g.transfer: g for g in pair.gaps}
    assert set(gaps) == {one_sided, wrong}
    assert gaps[one_sided].reason == f"UK has not booked its due-to on {one_sided}; NA booked its due-from"
    assert gaps[one_sided].difference == Decimal("110.00") and len(gaps[one_sided].postings) == 1
    assert gaps[wrong].reason == (
        f"UK booked GBP 40.00 due-to on {wrong}, but NA's due-from USD 55.00 at the transfer's rate 0.8 is GBP 44.00"
    )
    assert gaps[wrong].difference == Decimal("5.00") and len(gaps[wrong].postings) == 2
    assert pair.difference == Decimal("115.00") and pair.translation_difference == Decimal("0.00")


def test_a_pair_with_one_side_out_of_scope_is_not_checked(world: World) -> None:
    _intercompany_transfer(world)
    report = world.read(lambda s: intercompany_balances(s, world.actor("gus")))
    assert report.pairs == [] and report.not_checked == ["NA-UK"]


# --- Cases keyed to the episode --------------------------------------------------------------------------------


def _detect(world: World) -> list[ExceptionCase]:
    return world.run(lambda s: detect_exceptions(s))


def _cases(world: World, type: str) -> list[tuple[str, str, bool]]:
    """(dedup key, status, episode ended) of every case of a type, oldest first."""
    return world.read(
        lambda s: [
            (c.dedup_key, c.status, c.ended_at is not None)
            for c in s.scalars(select(ExceptionCase).where(ExceptionCase.type == type).order_by(ExceptionCase.id))
        ]
    )


def _hold_again(world: World, order: str) -> None:
    """Finance puts HOLDCO on hold again (the hold command is another slice's) and the order is confirmed into it."""

    def command(s: Any) -> None:
        s.execute(
            update(Customer).where(Customer.code == "HOLDCO").values(on_credit_hold=True, credit_hold_reason="again")
        )
        confirm_order(s, world.actor("sam"), order_number=order)

    world.run(command)


def test_a_credit_hold_case_closes_with_the_hold_and_a_second_hold_gets_a_new_case(world: World) -> None:
    order = world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    [first] = _detect(world)
    holdco = world.read(lambda s: s.scalar(select(Customer.id).where(Customer.code == "HOLDCO")))
    key = f"credit_hold:customer:{holdco}"
    assert first.dedup_key == key
    world.run(lambda s: release_credit_hold(s, world.actor("fin"), customer="HOLDCO", reason="paid"))
    assert _detect(world) == []
    assert _cases(world, "credit_hold") == [(key, "resolved", True)]
    events = world.read(
        lambda s: [
            (e.kind, e.actor_user_id, e.text)
            for e in s.get(ExceptionCase, first.id).events  # type: ignore[union-attr]
        ]
    )
    assert events[-1] == (
        "resolved",
        None,
        "Credit hold over: HOLDCO is no longer on credit hold; the case closes with it.",
    )
    audited = world.read(
        lambda s: s.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_id == first.number).order_by(AuditEvent.seq)
        ).all()
    )
    assert audited[-1] == "exception.resolved"
    _hold_again(world, order)
    [second] = _detect(world)
    assert second.dedup_key == f"{key}#2" and second.condition_key == key and second.status in ("open", "assigned")
    assert _detect(world) == []  # the same episode raises nothing more


def test_a_case_dismissed_mid_hold_stays_dismissed_until_the_hold_ends(world: World) -> None:
    order = world.place_order("HOLDCO", LineRequest("V-200", 2), confirm=True)
    [case] = _detect(world)
    world.run(lambda s: resolve_case(s, world.actor("gus"), case_number=case.number, resolution="known", dismiss=True))
    assert _detect(world) == []
    world.run(lambda s: release_credit_hold(s, world.actor("fin"), customer="HOLDCO", reason="paid"))
    _detect(world)
    assert [(status, ended) for _, status, ended in _cases(world, "credit_hold")] == [("dismissed", True)]
    _hold_again(world, order)
    assert [c.type for c in _detect(world)] == ["credit_hold"]


def test_a_shortage_case_closes_when_the_line_is_filled_and_a_new_shortage_gets_a_new_case(world: World) -> None:
    world.place_order("ACME", LineRequest("V-200", 20, "ATL"), confirm=True, backorder=True)  # ATL holds 12: 8 short
    [first] = _detect(world)
    assert first.type == "shortage" and first.related["backordered"] == 8
    key = first.dedup_key
    world.run(lambda s: adjust_stock(s, world.actor("wes"), sku="V-200", warehouse="ATL", quantity=8, reason="found"))
    assert _detect(world) == []
    assert _cases(world, "shortage") == [(key, "resolved", True)]
    note = world.read(lambda s: s.get(ExceptionCase, first.id).events[-1].text)  # type: ignore[union-attr]
    assert note.startswith("Shortage over: SO-") and "reserved in full or shipped" in note

    def write_off(s: Any) -> None:  # 5 units are gone: the line's reserved units wait again
        item = s.scalar(select(Item.id).where(Item.sku == "V-200"))
        atl = s.scalar(select(Warehouse.id).where(Warehouse.code == "ATL"))
        post_adjustment(s, world.actor("wes"), key=(item, atl), quantity=-5, note="damaged", backorder_shortfall=True)

    world.run(write_off)
    [second] = _detect(world)
    assert (second.type, second.dedup_key, second.related["backordered"]) == ("shortage", f"{key}#2", 5)
    assert _cases(world, "shortage") == [(key, "resolved", True), (f"{key}#2", second.status, False)]

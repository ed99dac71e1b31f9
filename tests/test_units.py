"""Pure arithmetic: ATP, promise dates, price resolution, discounts, margin, transfer price, exposure."""

from datetime import date
from decimal import Decimal

import pytest

from core.errors import InvalidInput, NotFound
from core.finance.service import CreditStatus
from core.masterdata.service import sku_key
from core.numbering import SALES_ORDER
from core.sales.models import PriceSource
from core.sales.pricing import choose_price, margin, net_price
from core.stock.atp import Supply, available_on, earliest_date_for, free_stock
from core.stock.service import check_quantity
from core.transfers.service import transfer_unit_price

D1, D2, D3 = date(2026, 12, 1), date(2026, 12, 10), date(2026, 12, 20)
INCOMING = [Supply(D2, 30, "PO line 1"), Supply(D1, 20, "transfer line 4")]


def test_atp_counts_only_supply_due_by_the_date() -> None:
    assert available_on(100, 40, 0, INCOMING, date(2026, 11, 30)) == 60
    assert available_on(100, 40, 0, INCOMING, D1) == 80
    assert available_on(100, 40, 0, INCOMING, D3) == 110


def test_backorders_consume_atp_before_new_promises() -> None:
    assert available_on(10, 10, 25, INCOMING, D1) == 0
    assert available_on(10, 10, 25, INCOMING, D2) == 25
    assert free_stock(10, 4, 3) == 3
    assert free_stock(10, 4, 30) == 0


def test_earliest_promise_date_walks_supply_in_date_order() -> None:
    today = date(2026, 11, 20)
    assert earliest_date_for(50, 60, 0, 0, INCOMING, today) == today
    assert earliest_date_for(70, 60, 0, 0, INCOMING, today) == D1
    assert earliest_date_for(100, 60, 0, 0, INCOMING, today) == D2
    assert earliest_date_for(200, 60, 0, 0, INCOMING, today) is None


def test_contract_price_beats_price_list_beats_list_price() -> None:
    assert choose_price(Decimal(9), Decimal(10), Decimal(11)).source is PriceSource.CONTRACT
    assert choose_price(None, Decimal(10), Decimal(11)) == choose_price(None, Decimal(10), Decimal(99)).__class__(
        Decimal(10), PriceSource.PRICE_LIST
    )
    assert choose_price(None, None, Decimal(11)).source is PriceSource.LIST_PRICE


def test_discount_and_margin_are_rounded_like_an_invoice() -> None:
    assert net_price(Decimal("19.99"), Decimal("12.5")) == Decimal("17.4913")
    assert margin(Decimal("18.00"), Decimal("10.00"), 40) == (Decimal("320.00"), Decimal("44.4"))
    assert margin(Decimal(0), Decimal(0), 3) == (Decimal("0.00"), Decimal(0))
    with pytest.raises(InvalidInput):
        net_price(Decimal(10), Decimal(101))


def test_transfer_price_is_standard_cost_plus_markup() -> None:
    assert transfer_unit_price(Decimal("10.00"), Decimal(10)) == Decimal("11.0000")
    assert transfer_unit_price(Decimal("3.3333"), Decimal("7.5")) == Decimal("3.5833")


def test_exposure_is_receivables_plus_open_orders() -> None:
    status = CreditStatus("ACME", "Acme", "NA", "USD", Decimal(50000), Decimal(30000), Decimal(15000), False, None)
    assert status.exposure == Decimal(45000)
    assert status.available == Decimal(5000)
    assert status.exposure_with(Decimal(16200)) == Decimal(61200)


@pytest.mark.parametrize("bad", [0, -5, 1_000_001, 2.5, "10", True])
def test_quantities_must_be_whole_positive_and_plausible(bad: object) -> None:
    with pytest.raises(InvalidInput):
        check_quantity(bad)


def test_sku_and_document_numbers_are_read_forgivingly() -> None:
    assert sku_key(" v-200 ") == sku_key("V200") == "V200"
    assert SALES_ORDER.parse("SO-1042") == SALES_ORDER.parse("so 1042") == 1042
    with pytest.raises(NotFound):
        SALES_ORDER.parse("PO-12")


def test_timestamps_fall_on_the_pinned_business_date(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import clock

    monkeypatch.setenv("ERP_TODAY", "2026-03-09")
    assert clock.today() == date(2026, 3, 9)
    assert clock.now().date() == date(2026, 3, 9)

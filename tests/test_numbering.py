"""Document numbers: written and read in one place, the same way for every kind."""

import pytest

from core.errors import NotFound
from core.numbering import (
    CREDIT_NOTE,
    DRAFT,
    EXCEPTION_CASE,
    INVOICE,
    KINDS,
    PAYMENT,
    PURCHASE_ORDER,
    RETURN_AUTHORISATION,
    SALES_ORDER,
    SALES_ORDER_LINE,
    SHIPMENT,
    STOCK_ADJUSTMENT,
    SUPPLIER_INVOICE,
    TRANSFER,
    DocumentKind,
    kind_of,
    mention_pattern,
)


def test_each_kind_has_its_own_prefix() -> None:
    prefixes = [kind.prefix for kind in KINDS]
    assert len(set(prefixes)) == len(prefixes)
    expected = {"SO": SALES_ORDER, "SOL": SALES_ORDER_LINE, "SH": SHIPMENT, "INV": INVOICE}
    expected |= {"PO": PURCHASE_ORDER, "TR": TRANSFER, "DR": DRAFT, "EX": EXCEPTION_CASE, "ADJ": STOCK_ADJUSTMENT}
    expected |= {"RMA": RETURN_AUTHORISATION, "CN": CREDIT_NOTE, "SINV": SUPPLIER_INVOICE, "PAY": PAYMENT}
    assert {kind.prefix: kind for kind in KINDS} == expected


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.prefix)
@pytest.mark.parametrize("id_", [1, 1042, 999_999_999_999])
def test_a_formatted_number_parses_back_to_its_id(kind: DocumentKind, id_: int) -> None:
    assert kind.format(id_) == f"{kind.prefix}-{id_}"
    assert kind.parse(kind.format(id_)) == id_


@pytest.mark.parametrize("written", ["SO-1042", "so-1042", "So 1042", " SO_1042 ", "SO#1042", "SO1042", "1042", 1042])
def test_a_number_is_read_forgivingly(written: str | int) -> None:
    assert SALES_ORDER.parse(written) == 1042


@pytest.mark.parametrize("bad", ["PO-12", "SO-", "SO-12a", "", "SO-1234567890123", "twelve", "SO--x"])
def test_a_malformed_number_is_an_unknown_document_with_the_expected_form(bad: str) -> None:
    with pytest.raises(NotFound) as refused:
        SALES_ORDER.parse(bad)
    assert refused.value.details["kind"] == "sales order"
    assert refused.value.details["key"] == bad
    assert refused.value.details["suggestions"] == ["SO-<number>, e.g. SO-1042"]


def test_the_kind_of_a_number_written_in_full() -> None:
    assert kind_of("SO-1042") is SALES_ORDER
    assert kind_of("dr-7") is DRAFT
    assert kind_of("INV-3") is INVOICE
    assert kind_of("SOL-9") is SALES_ORDER_LINE
    for not_a_number in ("1042", "V-200", "SO 1042", "SO-", "SO-1042x", "ACME"):
        assert kind_of(not_a_number) is None


def test_numbers_are_found_in_text_only_for_the_kinds_asked() -> None:
    pattern = mention_pattern([SALES_ORDER, DRAFT])
    text = "SO-12 waits on DR-3 and PO-9; SOL-4 and xSO-5 are not orders, nor is so-6."
    assert pattern.findall(text) == ["SO-12", "DR-3"]

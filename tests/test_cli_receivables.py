"""`erp-assistant receivables pay | apply | reverse | ageing | overdue | collections | payments | payment` on a
seeded SQLite file: finance records and applies, a reversal waits for a second person, the reports read."""

import re

from typer.testing import Result

from tests.test_cli_shipping import _cli, seeded

__all__ = ["seeded"]  # the shipping tests' seeded company


def _said(result: Result) -> str:
    """The output as one line of words: a narrow terminal wraps long lines."""
    return " ".join(result.output.split())


def _customer_with_an_overdue_invoice(url: str) -> tuple[str, str]:
    overdue = _cli(url, "receivables", "overdue", "--user", "fiona")
    assert overdue.exit_code == 0, overdue.output
    found = re.search(r"(INV-\d+)\s+│\s+(\S+)\s+│", overdue.output)
    assert found is not None, overdue.output
    return found.group(2), found.group(1)


def test_finance_records_a_payment_on_an_invoice_reads_it_and_a_reversal_waits(seeded: str) -> None:
    customer, invoice = _customer_with_an_overdue_invoice(seeded)
    paid = _cli(
        seeded,
        "receivables",
        "pay",
        customer,
        "1.00",
        "--reference",
        "BNK-CLI-1",
        "--invoice",
        f"{invoice}=1.00",
        "--user",
        "fiona",
        "--yes",
    )
    assert paid.exit_code == 0, paid.output
    assert "customer_payment — executed" in _said(paid) and f"applied to {invoice} USD 1.00" in _said(paid)
    found = re.search(r"result: (PAY-\d+)", paid.output)
    assert found is not None, paid.output
    payment = found.group(1)
    shown = _cli(seeded, "receivables", "payment", payment, "--user", "fiona")
    assert shown.exit_code == 0 and f"{invoice}: USD 1.00" in _said(shown), shown.output
    listed = _cli(seeded, "receivables", "payments", "--customer", customer, "--user", "fiona")
    assert listed.exit_code == 0 and payment in listed.output, listed.output
    reversal = _cli(seeded, "receivables", "reverse", payment, "--reason", "wrong customer", "--user", "fiona", "--yes")
    assert reversal.exit_code == 0 and "pending_approval" in _said(reversal), reversal.output


def test_the_reports_read_and_sales_may_not_record(seeded: str) -> None:
    ageing = _cli(seeded, "receivables", "ageing", "--entity", "NA", "--user", "fiona")
    assert ageing.exit_code == 0 and "90+" in ageing.output and "DSO = receivables" in _said(ageing), ageing.output
    chase = _cli(seeded, "receivables", "collections", "--user", "fiona")
    assert chase.exit_code == 0 and "weighted by age" in _said(chase), chase.output
    customer, _ = _customer_with_an_overdue_invoice(seeded)
    refused = _cli(seeded, "receivables", "pay", customer, "5", "--reference", "X", "--user", "sam", "--yes")
    assert refused.exit_code != 0 and "may not record payment" in _said(refused), refused.output
    bad = _cli(seeded, "receivables", "pay", customer, "five", "--reference", "X", "--user", "fiona", "--yes")
    assert bad.exit_code != 0 and "the amount must be a number" in _said(bad), bad.output

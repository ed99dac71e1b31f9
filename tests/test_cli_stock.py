"""`erp-assistant stock count | adjust | adjustments` on a seeded SQLite file, as a warehouse clerk uses them."""

from tests.test_cli import _cli, seeded

__all__ = ["seeded"]  # the module's seeded company, shared with the gate commands' tests


def test_a_clerk_writes_off_and_counts_through_the_gate_and_sees_the_report(seeded: str) -> None:
    found = _cli(seeded, "stock", "adjust", "V-200", "DAL", "1", "--reason", "found", "--user", "wes", "--yes")
    assert found.exit_code == 0, found.output
    assert "stock_adjustment — executed" in found.output and "result: ADJ-" in found.output
    assert "Stock found of V-200 @ DAL: +1 units (found)" in found.output
    report = _cli(seeded, "stock", "adjustments", "--user", "wes")
    assert report.exit_code == 0, report.output
    assert "DAL" in report.output and "found" in report.output and "standard cost" in report.output


def test_sales_may_not_count_and_bad_counts_are_refused(seeded: str) -> None:
    sales = _cli(seeded, "stock", "count", "V-200", "DAL", "5", "--user", "sam", "--yes")
    assert sales.exit_code == 1 and "permission_denied" in sales.output
    huge = _cli(seeded, "stock", "count", "V-200", "DAL", "5000000", "--user", "wes", "--yes")
    assert huge.exit_code == 1 and "invalid_input" in huge.output
    declined = _cli(seeded, "stock", "count", "V-200", "DAL", "3", "--user", "wes", input="n\n")
    assert declined.exit_code == 0 and "unconfirmed" in declined.output and "nothing has changed" in declined.output

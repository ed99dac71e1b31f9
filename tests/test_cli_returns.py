"""`erp-assistant returns create | receive | status | list` on a seeded SQLite file: sales authorise, the warehouse
receives, both read the return and its credit note."""

import re

from typer.testing import Result

from tests.test_cli_shipping import _cli, _reserved_line, seeded

__all__ = ["seeded"]  # the shipping tests' seeded company, with an order to ship first


def _said(result: Result) -> str:
    """The output as one line of words: a narrow terminal (80 columns under pytest-xdist) wraps long lines."""
    return " ".join(result.output.split())


def _shipped(url: str) -> tuple[str, int]:
    order, line = _reserved_line(url)
    shipped = _cli(url, "shipping", "ship", order, "--line", f"{line}=2", "--user", "wes", "--yes")
    assert shipped.exit_code == 0 and "executed" in shipped.output, shipped.output
    return order, line


def test_sales_authorise_a_return_the_warehouse_receives_it_and_both_read_it(seeded: str) -> None:
    order, line = _shipped(seeded)
    made = _cli(
        seeded, "returns", "create", order, "--line", f"{line}=1", "--reason", "damaged", "--user", "sam", "--yes"
    )
    assert made.exit_code == 0, made.output
    assert "return_authorisation — executed" in _said(made) and "to credit on receipt" in _said(made), made.output
    found = re.search(r"result: (RMA-\d+)", made.output)
    assert found is not None
    rma = found.group(1)
    waiting = _cli(seeded, "returns", "status", rma, "--user", "wes")
    assert waiting.exit_code == 0 and "authorised" in waiting.output and "awaited" in waiting.output, waiting.output
    received = _cli(seeded, "returns", "receive", rma, "--disposition", "scrap", "--user", "wes", "--yes")
    assert received.exit_code == 0, received.output
    assert "return_receipt — executed" in _said(received) and "scrap 1 units" in _said(received), received.output
    done = _cli(seeded, "returns", "status", rma, "--user", "sam")
    assert "credited" in _said(done) and "credit note CN-" in _said(done) and "scrap" in _said(done), done.output
    listed = _cli(seeded, "returns", "list", "--status", "credited", "--user", "sam")
    assert listed.exit_code == 0 and rma in listed.output, listed.output


def test_the_warehouse_may_not_authorise_and_bad_lines_are_refused(seeded: str) -> None:
    order, line = _shipped(seeded)
    refused = _cli(
        seeded, "returns", "create", order, "--line", f"{line}=1", "--reason", "damaged", "--user", "wes", "--yes"
    )
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    too_many = _cli(
        seeded, "returns", "create", order, "--line", f"{line}=500", "--reason", "x y", "--user", "sam", "--yes"
    )
    assert too_many.exit_code == 1 and "invalid_input" in too_many.output and "left to return" in _said(too_many)
    malformed = _cli(
        seeded, "returns", "create", order, "--line", "one", "--reason", "damaged", "--user", "sam", "--yes"
    )
    assert malformed.exit_code == 1 and "LINE=UNITS" in malformed.output
    unknown = _cli(seeded, "returns", "status", "RMA-99999", "--user", "sam")
    assert unknown.exit_code == 1 and "not_found" in unknown.output

"""`erp-assistant masterdata item | customer | supplier | price | contract | substitute | show` on a seeded SQLite
file: each command drafts through the gate as its user, and the refusals say what to fix."""

from typer.testing import Result

from tests.test_cli_shipping import _cli, seeded

__all__ = ["seeded"]  # the shipping tests' seeded company


def _said(result: Result) -> str:
    return " ".join(result.output.split())


def test_an_item_cost_and_a_supplier_lead_time_change_and_read_back(seeded: str) -> None:
    show = _cli(seeded, "masterdata", "show", "item", "V-200", "--user", "sam")
    assert show.exit_code == 0 and "list price" in show.output, show.output
    done = _cli(seeded, "masterdata", "item", "set", "V-200", "--cost", "12.10", "--user", "fiona", "--yes")
    assert done.exit_code == 0 and "master_data_change — executed" in _said(done), done.output
    assert "item V-200: cost USD" in _said(done) and "→ USD 12.10" in _said(done)
    assert "USD 12.10" in _cli(seeded, "masterdata", "show", "item", "V-200", "--user", "sam").output
    lead = _cli(seeded, "masterdata", "supplier", "set", "KEYSTONE", "--lead-time", "15", "--user", "bea", "--yes")
    assert lead.exit_code == 0 and "supplier KEYSTONE: lead time 12 days → 15 days" in _said(lead), lead.output


def test_prices_contracts_substitutes_and_new_records(seeded: str) -> None:
    price = _cli(seeded, "masterdata", "price", "set", "NA-WHOLESALE", "V-210", "11.00", "--user", "bea", "--yes")
    assert price.exit_code == 0 and "price NA-WHOLESALE V-210: price USD" in _said(price), price.output
    removed = _cli(seeded, "masterdata", "price", "remove", "NA-WHOLESALE", "V-210", "--user", "bea", "--yes")
    assert removed.exit_code == 0 and "price NA-WHOLESALE V-210: removed" in _said(removed), removed.output
    contract = _cli(
        seeded, "masterdata", "contract", "set", "ACME", "V-210", "1", "--from", "2026-12-01", "--user", "bea", "--yes"
    )
    assert contract.exit_code == 0 and "pending_approval" in _said(contract), contract.output  # below cost
    sub = _cli(seeded, "masterdata", "substitute", "add", "V-210", "V-200", "--user", "bea", "--yes")
    assert sub.exit_code == 0 and "substitute V-210 → V-200: new" in _said(sub), sub.output
    gone = _cli(seeded, "masterdata", "substitute", "remove", "V-210", "V-200", "--user", "bea", "--yes")
    assert gone.exit_code == 0 and "substitute V-210 → V-200: removed" in _said(gone), gone.output
    new = _cli(
        seeded,
        *("masterdata", "item", "new", "ZZ-100", "--name", "Test valve", "--category", "valves"),
        *("--cost", "5", "--list-price", "9", "--user", "bea", "--yes"),
    )
    assert new.exit_code == 0 and "item ZZ-100: new" in _said(new), new.output
    customer = _cli(
        seeded, "masterdata", "customer", "new", "NEWCUST", "--name", "New Customer", "--entity", "NA",
        "--credit-limit", "1000", "--user", "fiona", "--yes",
    )  # fmt: skip
    assert customer.exit_code == 0 and "executed" in _said(customer), customer.output


def test_credit_limit_and_hold_from_the_terminal(seeded: str) -> None:
    raise_ = _cli(seeded, "masterdata", "customer", "set", "ACME", "--credit-limit", "90,000", "--user", "sam", "--yes")
    assert raise_.exit_code == 0 and "credit_limit_change — pending_approval" in _said(raise_), raise_.output
    assert "finance" in _said(raise_)
    mixed = _cli(seeded, "masterdata", "customer", "set", "ACME", "--credit-limit", "1", "--tier", "B", "--yes")
    assert mixed.exit_code == 1 and "on its own" in _said(mixed)
    hold = _cli(
        seeded, "masterdata", "customer", "hold", "ACME", "--reason", "3 invoices unpaid", "--user", "fiona", "-y"
    )
    assert hold.exit_code == 0 and "credit_hold — executed" in _said(hold) and "credit hold off → on" in _said(hold)


def test_refusals_say_what_to_fix(seeded: str) -> None:
    warehouse = _cli(seeded, "masterdata", "price", "set", "NA-WHOLESALE", "V-200", "9", "--user", "wes", "--yes")
    assert warehouse.exit_code == 1 and "permission_denied" in warehouse.output
    taken = _cli(
        seeded,
        *("masterdata", "item", "new", "v200", "--name", "x", "--category", "valves"),
        *("--cost", "1", "--list-price", "2", "--user", "bea", "--yes"),
    )
    assert taken.exit_code == 1 and "duplicate_code" in taken.output and "V-200" in taken.output
    negative = _cli(seeded, "masterdata", "item", "set", "V-200", "--list-price", "-4", "--user", "bea", "--yes")
    assert negative.exit_code == 1 and "cannot be negative" in _said(negative)
    words = _cli(seeded, "masterdata", "item", "set", "V-200", "--cost", "lots", "--user", "bea", "--yes")
    assert words.exit_code == 1 and "must be a number" in _said(words)
    unknown = _cli(seeded, "masterdata", "supplier", "set", "NOPE", "--lead-time", "3", "--user", "bea", "--yes")
    assert unknown.exit_code == 1 and "not_found" in unknown.output
    iso = _cli(seeded, "masterdata", "supplier", "set", "KEYSTONE", "--currency", "dollars", "--user", "bea", "--yes")
    assert iso.exit_code == 1 and "ISO 4217" in _said(iso)
    other = _cli(seeded, "masterdata", "supplier", "set", "MIDVAL", "--lead-time", "3", "--user", "bea", "--yes")
    assert other.exit_code == 1 and "out_of_scope" in other.output

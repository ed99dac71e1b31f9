"""The assistant's tools on the demo company, called through the registry exactly as the agent calls them.

For every tool: a happy path whose figures agree with each other and with the other tools, a refusal
when a user of another legal entity asks (a typed error that carries none of that entity's data),
and typed errors a model can act on. Complements tests/test_tools.py (the small hand-built world).
Record numbers are looked up in the demo rather than written down, so a re-seeded demo still passes.
"""

import json
import re
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.actor import Person
from core.db import Database
from core.drafts.models import DraftAction
from core.drafts.service import confirm
from core.exceptions import detect_exceptions
from core.exceptions.findings import open_findings
from core.exceptions.models import ExceptionType
from core.masterdata.models import Customer, LegalEntity
from core.masterdata.service import load_actor
from core.receivables.service import list_payments
from core.sales.models import OrderStatus, SalesOrder
from core.sales.service import LineRequest, confirm_order, create_order
from evals.common.plant import PlantedFinding, PlantedProposal, plant_findings
from tests.web import shipped_na_order
from tools import ToolContext, ToolError, ToolOutcome, default_registry
from tools.drafts import draft_result

REGISTRY = default_registry()
TESTED_ELSEWHERE = {"search_policies"}
TOOLS = sorted(set(REGISTRY.tools) - TESTED_ELSEWHERE)
ERROR_KEYS = {"error", "message", "suggestions"}
DRAFT_STATUSES = {"executed", "pending_approval", "blocked"}
Result = dict[str, Any]

# --- Helpers ------------------------------------------------------------------------------------


def call(db: Database, user: str, tool: str, args: dict[str, Any] | str, call_id: str = "t1") -> ToolOutcome:
    """One tool call as the agent makes it, for a demo user."""
    actor = db.read(lambda s: load_actor(s, username=user))
    ctx = ToolContext(actor, channel="web", conversation_id="c1", tool_call_id=call_id)
    return REGISTRY.call(db, ctx, tool, args)


def ok(outcome: ToolOutcome) -> Result:
    """A successful result's JSON (fails the test with the tool's error otherwise)."""
    assert outcome.ok and "error" not in outcome.data, outcome
    json.dumps(outcome.data)  # JSON-ready, as the agent sends it back to the model
    return outcome.data


def refused(outcome: ToolOutcome, code: str) -> ToolError:
    """The refusal, shown to the model as exactly the error's keys."""
    assert set(outcome.data) == ERROR_KEYS, outcome.data
    assert outcome.error is not None and outcome.error.code == code, outcome.data
    return outcome.error


def by_warehouse(result: ToolOutcome | Result) -> dict[str, Result]:
    data = ok(result) if isinstance(result, ToolOutcome) else result  # a dict has been through ok() already
    return {w["warehouse"]: w for w in data["warehouses"]}


def expected_atp(row: Result, on: date) -> int:
    """How check_availability says it computes ATP (never below zero)."""
    due = sum(int(i["quantity"]) for i in row["incoming"] if date.fromisoformat(i["due"]) <= on)
    return max(0, int(row["on_hand"]) - int(row["reserved"]) - int(row["backordered"]) + due)


def money(text: str) -> Decimal:
    """The last amount written like 'USD 3,409.20' in a summary."""
    amounts = re.findall(r"[A-Z]{3} ([\d,]+\.\d{2})", text)
    assert amounts, text
    return Decimal(amounts[-1].replace(",", ""))


def expected_on(summary: str) -> date:
    found = re.search(r"expected (\d{4}-\d{2}-\d{2})", summary)
    assert found, summary
    return date.fromisoformat(found.group(1))


def drafted(db: Database, user: str, tool: str, args: dict[str, Any], call_id: str = "t1") -> ToolOutcome:
    """A draft tool's preview, then what became of it once `user` confirmed it as a person does (the card's
    Confirm), reported the way the tool reports a draft; a refusal as it came."""
    outcome = call(db, user, tool, args, call_id)
    if outcome.draft is None:
        return outcome
    assert_preview(outcome)
    actor = db.read(lambda s: load_actor(s, username=user))

    def confirm_it(s: Session) -> ToolOutcome:
        return ToolOutcome.of(
            draft_result(s, confirm(s, Person(actor, channel="web"), draft_number=outcome.draft_number or ""))
        )

    return db.run(confirm_it)


def assert_preview(outcome: ToolOutcome) -> Result:
    """What every draft tool returns first: an unconfirmed preview with what the policy would decide, and how to
    confirm it; nothing was created."""
    result = ok(outcome)
    assert outcome.draft_number == result["draft"] and re.fullmatch(r"DR-\d+", result["draft"]), result
    assert result["status"] == "unconfirmed" and result["summary"] and isinstance(result["changes"], list), result
    assert result["decision"].startswith("If confirmed: ") and re.search(r"\(rule [\w.]+\)", result["decision"])
    assert "Confirm" in result["next_step"] and "result" not in result and result["waiting_for"] == [], result
    return result


def assert_draft(outcome: ToolOutcome, status: str) -> Result:
    """What a confirmed draft comes to: a DR number, a summary, its changes, the decision in words, a status."""
    result = ok(outcome)
    assert outcome.draft_number == result["draft"], result
    assert re.fullmatch(r"DR-\d+", result["draft"]), result
    assert result["status"] == status and status in DRAFT_STATUSES, result
    assert result["summary"] and isinstance(result["changes"], list), result
    assert re.search(r"\(rule [\w.]+\)", result["decision"]), result  # the policy's reason, in words
    if status == "executed":
        assert result["decision"].startswith("Can go ahead") and result["result"], result
    else:
        assert "result" not in result, result  # nothing was created yet
    if status == "pending_approval":
        assert result["waiting_for"] and result["decision"].startswith("Needs approval"), result
    else:
        assert result["waiting_for"] == [], result
    return result


def count(db: Database, model: type[DraftAction] | type[SalesOrder]) -> int:
    return db.read(lambda s: int(s.scalar(select(func.count()).select_from(model)) or 0))


def held_orders(db: Database) -> list[tuple[str, str]]:
    """(order number, customer code) of every order on hold."""

    def query(s: Session) -> list[tuple[str, str]]:
        rows = s.execute(
            select(SalesOrder.id, Customer.code)
            .join(Customer, Customer.id == SalesOrder.customer_id)
            .where(SalesOrder.status == OrderStatus.ON_HOLD.value)
            .order_by(SalesOrder.id)
        )
        return [(f"SO-{order_id}", code) for order_id, code in rows]

    return db.read(query)


def open_orders(db: Database, entity: str) -> list[tuple[str, str]]:
    """(order number, status) of an entity's confirmed and partially shipped orders."""

    def query(s: Session) -> list[tuple[str, str]]:
        rows = s.execute(
            select(SalesOrder.id, SalesOrder.status)
            .join(LegalEntity, LegalEntity.id == SalesOrder.entity_id)
            .where(
                LegalEntity.code == entity,
                SalesOrder.status.in_([OrderStatus.CONFIRMED.value, OrderStatus.PARTIALLY_SHIPPED.value]),
            )
            .order_by(SalesOrder.id)
        )
        return [(f"SO-{order_id}", status) for order_id, status in rows]

    return db.read(query)


def detect(db: Database) -> None:
    """Raise the exception cases the demo's data shows (the demo loads none)."""
    db.run(lambda s: detect_exceptions(s))


def cases(db: Database, user: str, **filters: Any) -> list[Result]:
    return list(ok(call(db, user, "list_exceptions", {"limit": 50, **filters}))["cases"])


def first_case(db: Database, user: str, case_type: str) -> Result:
    detect(db)
    found = cases(db, user, type=case_type)
    assert found, f"no {case_type} case for {user}"
    return ok(call(db, user, "get_exception", {"case_number": found[0]["case"]}))


def pending_acme_order(db: Database, call_id: str = "acme-big") -> Result:
    """200 V-200 from Dallas for ACME: cheap enough for a salesperson, but over ACME's credit limit."""
    return assert_draft(
        drafted(
            db,
            "sam",
            "draft_sales_order",
            {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 200, "warehouse": "DAL"}]},
            call_id,
        ),
        "pending_approval",
    )


def each(rows: Iterable[tuple[Any, ...]], check: Callable[..., None]) -> None:
    """Check every row of a table on one database and report all the rows that fail, not just the first."""
    problems = []
    for row in rows:
        try:
            check(*row)
        except AssertionError as error:
            problems.append(f"{row!r}:\n  {error}")
    assert not problems, "\n".join(problems)


def lists_within(node: Any, limit: int) -> bool:
    """No list anywhere in the result is longer than `limit`."""
    if isinstance(node, dict):
        return all(lists_within(v, limit) for v in node.values())
    if isinstance(node, list):
        return len(node) <= limit and all(lists_within(v, limit) for v in node)
    return True


def test_finance_books_a_supplier_invoice_and_a_buyer_reads_why_another_is_held(demo_db: Database) -> None:
    # The demo's PO-1395 (KEYSTONE, NA) received 348 V-200 at USD 11.67; fiona booked SINV-1 to SINV-3.
    ask = {
        "po_number": "PO-1395",
        "supplier_ref": "8812",
        "lines": [{"sku": "V-200", "quantity": 40, "unit_price": 11.67}],
    }
    assert refused(call(demo_db, "bea", "draft_supplier_invoice", ask, "ap0"), "permission_denied")
    made = assert_draft(drafted(demo_db, "fiona", "draft_supplier_invoice", ask, "ap1"), "executed")
    assert made["result"].startswith("SINV-") and "rule supplier_invoice.matched" in made["decision"], made
    assert made["changes"][0].endswith("received 348, billed before 0: matched"), made
    held = ok(call(demo_db, "bea", "get_payables", {"view": "invoice", "invoice_number": "SINV-2"}))
    assert (held["status"], held["invoice"]) == ("on_hold", "SINV-2")
    assert "SINV-2 status: on payment hold." in held["facts"]
    assert any("PRICE OVER TOLERANCE" in f and "+8.0%" in f for f in held["facts"]), held
    due = ok(call(demo_db, "fiona", "get_payables", {"view": "due"}))
    assert due["facts"][0].startswith("NA owes suppliers USD 676.27 by 2026-11-26"), due
    ageing = ok(call(demo_db, "fiona", "get_payables", {"view": "ageing"}))
    assert ageing["facts"][0].startswith("NA payables total: USD 1,493.07 on 2026-11-20"), ageing
    assert refused(call(demo_db, "sam", "get_payables", {"view": "ageing"}), "permission_denied")


# --- Every tool is covered ----------------------------------------------------------------------

HAPPY_PATHS = {
    "find_items": "test_find_items_finds_v200_by_loose_words_and_by_bare_sku",
    "check_availability": "test_v200_atp_is_short_in_atlanta_plentiful_in_dallas_and_adds_up",
    "get_order_status": "test_a_held_order_gives_its_hold_and_the_customers_reason",
    "get_customer_credit": "test_acme_credit_is_near_its_limit_and_adds_up",
    "list_exceptions": "test_exception_lists_are_split_by_entity_and_agree_with_the_cases",
    "get_exception": "test_a_shortage_case_agrees_with_the_order_and_the_stock",
    "get_kpis": "test_kpis_are_per_entity_in_its_currency_and_agree_with_the_other_tools",
    "draft_sales_order": "test_an_order_over_acmes_limit_waits_for_finance_and_changes_nothing_yet",
    "draft_transfer": "test_a_transfer_from_dallas_covers_atlanta_and_the_atp_shows_it",
    "draft_purchase_order": "test_a_buyers_purchase_order_executes_and_a_managers_waits",
    "draft_order_change": "test_an_order_change_executes_and_one_that_backorders_waits",
    "request_credit_hold_release": "test_a_hold_release_waits_for_finance_and_the_hold_stays",
    "draft_exception_action": "test_exception_actions_follow_who_may_handle_the_case",
    "draft_stock_adjustment": "test_a_clerks_count_and_write_off_post_at_standard_cost_and_the_kpis_report_them",
    "get_draft_status": "test_an_order_over_acmes_limit_waits_for_finance_and_changes_nothing_yet",
    "list_pending_approvals": "test_an_order_over_acmes_limit_waits_for_finance_and_changes_nothing_yet",
    "get_fulfilment": "test_a_partly_shipped_order_is_on_the_road_and_the_warehouse_ships_more_of_it",
    "draft_shipment": "test_a_partly_shipped_order_is_on_the_road_and_the_warehouse_ships_more_of_it",
    "draft_receipt": "test_a_clerk_receives_part_of_a_purchase_order_and_ships_and_receives_a_transfer",
    "draft_transfer_move": "test_a_clerk_receives_part_of_a_purchase_order_and_ships_and_receives_a_transfer",
    "draft_order_action": "test_sales_substitutes_a_line_and_expedites_an_order_through_one_tool",
    "draft_return": "test_sales_authorise_a_return_the_warehouse_receives_it_and_its_status_reads_back",
    "get_return": "test_sales_authorise_a_return_the_warehouse_receives_it_and_its_status_reads_back",
    "draft_master_data_change": "test_master_data_and_credit_changes_through_the_tools",
    "draft_supplier_invoice": "test_finance_books_a_supplier_invoice_and_a_buyer_reads_why_another_is_held",
    "get_payables": "test_finance_books_a_supplier_invoice_and_a_buyer_reads_why_another_is_held",
    "get_receivables": "test_finance_sees_who_to_chase_records_and_applies_payments_and_a_reversal_waits",
    "draft_payment": "test_finance_sees_who_to_chase_records_and_applies_payments_and_a_reversal_waits",
    "get_briefing": "test_a_buyer_hears_of_a_stock_out_reads_why_and_a_manager_opens_the_proposed_transfer",
    "explain_finding": "test_a_buyer_hears_of_a_stock_out_reads_why_and_a_manager_opens_the_proposed_transfer",
    "draft_from_finding": "test_a_buyer_hears_of_a_stock_out_reads_why_and_a_manager_opens_the_proposed_transfer",
}
NOT_ENTITY_SCOPED = {"find_items": "the item catalogue is shared by the whole group"}
SCOPED_BY_FILTERING = {
    "list_pending_approvals": "test_pending_approvals_show_only_what_the_user_could_approve",
    "get_briefing": "test_a_uk_users_briefing_holds_no_na_finding",
}


def test_every_tool_has_a_happy_path_and_a_scope_check_here() -> None:
    assert set(HAPPY_PATHS) == set(TOOLS), "a tool was added or renamed: give it a demo test"
    assert all(name in globals() for name in [*HAPPY_PATHS.values(), *SCOPED_BY_FILTERING.values()])
    scoped = {case[1] for case in SCOPE_REFUSALS} | set(NOT_ENTITY_SCOPED) | set(SCOPED_BY_FILTERING)
    assert scoped == set(TOOLS)


# --- Happy paths --------------------------------------------------------------------------------


def test_find_items_finds_v200_by_loose_words_and_by_bare_sku(demo_db: Database) -> None:
    words = ok(call(demo_db, "sam", "find_items", {"query": "3/4 inch brass ball valve"}))["items"]
    top = {k: words[0][k] for k in ("sku", "name", "category", "uom")}
    assert top == {"sku": "V-200", "name": "Brass ball valve 3/4in", "category": "valves", "uom": "EA"}
    assert len(words) <= 5 and all(i["category"] == "valves" for i in words)
    bare = ok(call(demo_db, "uma", "find_items", {"query": "v200"}))["items"]  # any entity: a shared catalogue
    assert bare[0]["sku"] == "V-200"
    atp = ok(call(demo_db, "sam", "check_availability", {"sku": bare[0]["sku"]}))
    assert atp["name"] == words[0]["name"]


def test_v200_atp_is_short_in_atlanta_plentiful_in_dallas_and_adds_up(demo_db: Database) -> None:
    today = clock.today()
    result = ok(call(demo_db, "sam", "check_availability", {"sku": "V-200"}))
    rows = by_warehouse(result)
    assert set(rows) == {"ATL", "DAL", "RNO"} and {w["entity"] for w in rows.values()} == {"NA"}
    assert result["on_date"] == today.isoformat()
    for row in rows.values():
        assert row["available_now"] == row["available_on_date"] == expected_atp(row, today)
    assert result["total_available"] == sum(w["available_on_date"] for w in rows.values())
    atl, dal = rows["ATL"], rows["DAL"]
    assert 10 <= atl["available_now"] <= 15 and dal["available_now"] >= 300
    po = [i for i in atl["incoming"] if i["source"].startswith("PO")]
    assert len(po) == 1 and 7 <= (date.fromisoformat(po[0]["due"]) - today).days <= 14

    on_due = ok(
        call(demo_db, "sam", "check_availability", {"sku": "V-200", "warehouse": "ATL", "on_date": po[0]["due"]})
    )
    atl_then = by_warehouse(on_due)["ATL"]
    assert atl_then["available_on_date"] == atl["available_now"] + po[0]["quantity"] == on_due["total_available"]

    wanted = atl["available_now"] + 1  # more than Atlanta has today, less than the purchase order brings
    assert wanted <= atl["available_now"] + po[0]["quantity"]
    promise = ok(call(demo_db, "sam", "check_availability", {"sku": "V-200", "quantity": wanted}))
    assert by_warehouse(promise)["ATL"]["earliest_date_for_quantity"] == po[0]["due"]
    assert by_warehouse(promise)["DAL"]["earliest_date_for_quantity"] == today.isoformat()


def test_a_held_order_gives_its_hold_and_the_customers_reason(demo_db: Database) -> None:
    held = held_orders(demo_db)
    assert len({customer for _, customer in held}) >= 2
    for number, customer in held:
        order = ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))
        credit = ok(call(demo_db, "sam", "get_customer_credit", {"customer": customer}))
        assert order["order"] == number and order["status"] == "on_hold"
        assert order["customer"].startswith(customer)
        assert "credit hold" in order["hold_reason"] and credit["hold_reason"] in order["hold_reason"]
        assert credit["on_hold"] is True
        assert Decimal(credit["exposure"]) > Decimal(credit["credit_limit"])  # held customers are over the limit
        assert all(line["shipped"] == 0 for line in order["lines"]) and order["shipments"] == order["invoices"] == []
        lines_total = sum(Decimal(ln["net_price"]) * ln["quantity"] for ln in order["lines"])
        assert Decimal(order["total"]) == lines_total.quantize(Decimal("0.01"))


def test_open_orders_account_for_every_unit_of_every_line(demo_db: Database) -> None:
    orders = open_orders(demo_db, "NA")
    assert {status for _, status in orders} == {"confirmed", "partially_shipped"}
    for number, status in orders:
        order = ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))
        assert order["status"] == status and order["entity"] == "NA" and order["currency"] == "USD"
        for line in order["lines"]:
            assert line["reserved"] + line["backordered"] + line["shipped"] == line["quantity"], (number, line)
        shipped = any(line["shipped"] for line in order["lines"])
        assert shipped == (status == "partially_shipped") == bool(order["shipments"])
        assert len(order["invoices"]) == len(order["shipments"])


def test_acme_credit_is_near_its_limit_and_adds_up(demo_db: Database) -> None:
    credit = ok(call(demo_db, "sam", "get_customer_credit", {"customer": "ACME"}))
    assert (credit["customer"], credit["name"], credit["entity"], credit["currency"]) == (
        "ACME",
        "Acme Industrial Supply",
        "NA",
        "USD",
    )
    limit, exposure = Decimal(credit["credit_limit"]), Decimal(credit["exposure"])
    assert exposure == Decimal(credit["open_receivables"]) + Decimal(credit["open_orders"])
    assert Decimal(credit["available"]) == limit - exposure > 0
    assert Decimal("0.90") <= exposure / limit <= Decimal("0.98")
    assert credit["on_hold"] is False and "hold_reason" not in credit
    assert ok(call(demo_db, "sam", "get_customer_credit", {"customer": "Acme Industrial Supply"})) == credit


def test_exception_lists_are_split_by_entity_and_agree_with_the_cases(demo_db: Database) -> None:
    detect(demo_db)
    everyone = {c["case"] for c in cases(demo_db, "grace")}
    per_entity = [{c["case"] for c in cases(demo_db, user)} for user in ("sam", "uma", "siti")]
    assert set[str]().union(*per_entity) == everyone and sum(map(len, per_entity)) == len(everyone)
    credit_cases = cases(demo_db, "sam", type="credit_hold")
    held = held_orders(demo_db)
    assert len(credit_cases) == len({customer for _, customer in held})
    for line in credit_cases:
        case = ok(call(demo_db, "sam", "get_exception", {"case_number": line["case"]}))
        assert case["type"] == "credit_hold" and case["owner"] == "finance" and line["status"] == "open"
        assert {(o, case["related"]["customer"]) for o in case["related"]["sales_orders"]} <= set(held)
        credit = ok(call(demo_db, "sam", "get_customer_credit", {"customer": case["related"]["customer"]}))
        assert credit["on_hold"] and case["related"]["hold_reason"] == credit["hold_reason"]


def test_a_case_list_says_each_case_in_its_facts_and_the_brief_keeps_them(demo_db: Database) -> None:
    detect(demo_db)
    listed = ok(call(demo_db, "sam", "list_exceptions", {}))
    facts = " ".join(listed["facts"])
    for case in listed["cases"]:
        said = next(f for f in listed["facts"] if f.startswith(f"{case['case']} "))
        held = case["type"] != "shortage"
        assert (case["title"].rstrip(".") in said) if held else (" of " in said and "unit" in said), (case, facts)
    brief = REGISTRY.brief("list_exceptions", listed, "open cases please")
    assert brief["facts"] == listed["facts"] and all("title" not in c for c in brief["cases"])
    assert [c["case"] for c in brief["cases"]] == [c["case"] for c in listed["cases"]]


def test_a_shortage_case_agrees_with_the_order_and_the_stock(demo_db: Database) -> None:
    case = first_case(demo_db, "sam", "shortage")
    related = case["related"]
    order = ok(call(demo_db, "sam", "get_order_status", {"order_number": related["sales_order"]}))
    line = next(ln for ln in order["lines"] if ln["line"] == related["line_no"])
    assert (line["sku"], line["warehouse"]) == (related["sku"], related["warehouse"])
    assert line["backordered"] == related["backordered"] > 0 and line["reserved"] == related["reserved"]
    assert related["sku"] in case["title"] and related["sales_order"] in case["title"]
    stock = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": related["sku"]}))
    assert stock[related["warehouse"]]["backordered"] >= related["backordered"]
    kinds = [s["kind"] for s in case["suggestions"]]
    assert kinds and len(kinds) <= 5
    for suggestion in case["suggestions"]:
        if suggestion["kind"] == "other_warehouse":
            assert suggestion["warehouse"] != related["warehouse"]
            assert suggestion["available_now"] == stock[suggestion["warehouse"]]["available_now"]
        if suggestion["kind"] == "transfer":
            assert suggestion["to_warehouse"] == related["warehouse"]
            assert suggestion["quantity"] <= stock[suggestion["from_warehouse"]]["available_now"]
            assert suggestion["covers"] == (suggestion["quantity"] >= related["short"])
    assert case["history"] and case["history"][0].split(" ", 2)[2].startswith("raised")


def test_kpis_are_per_entity_in_its_currency_and_agree_with_the_other_tools(demo_db: Database) -> None:
    group = ok(call(demo_db, "grace", "get_kpis", {}))["entities"]
    assert {(e["entity"], e["currency"]) for e in group} == {("NA", "USD"), ("UK", "GBP"), ("SEA", "SGD")}
    for figures in group:
        assert 0 <= Decimal(figures["fill_rate_pct"]) <= 100 and 0 <= Decimal(figures["on_time_pct"]) <= 100
        assert Decimal(figures["inventory_value"]) > 0 and figures["backlog_lines"] > 0
        assert figures["currency"] in figures["basis"]["revenue"]
    detect(demo_db)
    na = ok(call(demo_db, "sam", "get_kpis", {}))["entities"]
    assert [e["entity"] for e in na] == ["NA"]
    active = [c for c in cases(demo_db, "sam", entity="NA") if c["status"] in ("open", "assigned")]
    assert na[0]["open_exceptions"] == len(active) > 0
    shortages = [c for c in active if c["type"] == "shortage"]
    waiting = sum(
        ok(call(demo_db, "sam", "get_exception", {"case_number": c["case"]}))["related"]["backordered"]
        for c in shortages
    )
    assert na[0]["backordered_units"] == waiting
    pending_acme_order(demo_db)
    after = ok(call(demo_db, "sam", "get_kpis", {"entity": "NA"}))["entities"][0]
    assert after["approvals_pending"] == na[0]["approvals_pending"] + 1


def test_a_transfer_from_dallas_covers_atlanta_and_the_atp_shows_it(demo_db: Database) -> None:
    before = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200"}))
    args = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 40}]}
    result = assert_draft(drafted(demo_db, "sam", "draft_transfer", args), "executed")
    assert re.fullmatch(r"TR-\d+", result["result"]) and "DAL → ATL: 40 x V-200" in result["summary"]
    dal, atl = before["DAL"], before["ATL"]
    incoming_atl = sum(i["quantity"] for i in atl["incoming"])
    assert result["changes"] == [
        f"V-200 @ DAL: reserved {dal['reserved']} → {dal['reserved'] + 40}, "
        f"available {dal['available_now']} → {dal['available_now'] - 40}",
        f"V-200 @ ATL: incoming {incoming_atl} → {incoming_atl + 40}",
    ]
    arrives = expected_on(result["summary"]).isoformat()
    after = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200", "on_date": arrives}))
    assert after["DAL"]["reserved"] == dal["reserved"] + 40 and after["DAL"]["on_hand"] == dal["on_hand"]
    assert {"due": arrives, "quantity": 40} in [
        {k: i[k] for k in ("due", "quantity")} for i in after["ATL"]["incoming"]
    ]
    assert after["ATL"]["available_on_date"] == expected_atp(after["ATL"], date.fromisoformat(arrives))
    assert after["ATL"]["available_on_date"] >= atl["available_now"] + 40
    status = ok(call(demo_db, "wes", "get_draft_status", {"draft_number": result["draft"]}))
    assert status["status"] == "executed" and status["result"] == result["result"]


def test_an_order_over_acmes_limit_waits_for_finance_and_changes_nothing_yet(demo_db: Database) -> None:
    credit = ok(call(demo_db, "sam", "get_customer_credit", {"customer": "ACME"}))
    dal = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200", "warehouse": "DAL"}))["DAL"]
    orders = count(demo_db, SalesOrder)

    draft = pending_acme_order(demo_db)
    total = money(draft["summary"])
    assert draft["waiting_for"] == ["finance of NA"] and "ACME" in draft["summary"]
    assert Decimal(credit["available"]) < total <= 5000  # over the limit, within a salesperson's own authority
    assert f"USD {Decimal(credit['exposure']) + total:,.2f}" in draft["decision"]
    assert f"USD {Decimal(credit['credit_limit']):,.2f} limit" in draft["decision"]
    assert draft["changes"] == [
        f"V-200 @ DAL: reserved {dal['reserved']} → {dal['reserved'] + 200}, "
        f"available {dal['available_now']} → {dal['available_now'] - 200}"
    ]

    # Pending: nothing reserved, no order, ACME's exposure as it was.
    assert by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200", "warehouse": "DAL"}))["DAL"] == dal
    assert count(demo_db, SalesOrder) == orders
    assert ok(call(demo_db, "sam", "get_customer_credit", {"customer": "ACME"})) == credit

    status = ok(call(demo_db, "sam", "get_draft_status", {"draft_number": draft["draft"]}))
    assert {k: status[k] for k in draft} == draft and status["approvals"] == []
    waiting = ok(call(demo_db, "fiona", "list_pending_approvals", {}))["waiting"]
    mine = [w for w in waiting if w["draft"] == draft["draft"]]
    assert len(mine) == 1 and mine[0]["kind"] == "sales_order" and Decimal(mine[0]["value"]) == total
    assert mine[0]["currency"] == "USD" and mine[0]["decision"] == draft["decision"]
    for user in ("sam", "maria"):  # the requester, and a manager (the rule asks for finance)
        assert draft["draft"] not in [
            w["draft"] for w in call(demo_db, user, "list_pending_approvals", {}).data["waiting"]
        ]


def test_a_small_order_for_acme_executes_reserves_and_counts_against_its_credit(demo_db: Database) -> None:
    credit = ok(call(demo_db, "sam", "get_customer_credit", {"customer": "ACME"}))
    args = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 2, "warehouse": "DAL"}]}
    draft = assert_draft(drafted(demo_db, "sam", "draft_sales_order", args), "executed")
    assert "rule sales.order.self_service" in draft["decision"]
    order = ok(call(demo_db, "sam", "get_order_status", {"order_number": draft["result"]}))
    assert order["status"] == "confirmed" and Decimal(order["total"]) == money(draft["summary"])
    assert [(ln["sku"], ln["warehouse"], ln["quantity"], ln["reserved"]) for ln in order["lines"]] == [
        ("V-200", "DAL", 2, 2)
    ]
    after = ok(call(demo_db, "sam", "get_customer_credit", {"customer": "ACME"}))
    assert Decimal(after["open_orders"]) == Decimal(credit["open_orders"]) + Decimal(order["total"])
    assert Decimal(after["available"]) == Decimal(credit["available"]) - Decimal(order["total"])


def test_an_order_for_a_held_customer_is_blocked_and_says_why(demo_db: Database) -> None:
    _, customer = held_orders(demo_db)[0]
    orders = count(demo_db, SalesOrder)
    args = {"customer": customer, "lines": [{"sku": "V-200", "quantity": 1, "warehouse": "DAL"}]}
    draft = assert_draft(drafted(demo_db, "sam", "draft_sales_order", args), "blocked")
    assert draft["decision"].startswith("Blocked") and f"{customer} is on credit hold" in draft["decision"]
    assert draft["changes"] == [] and count(demo_db, SalesOrder) == orders
    assert ok(call(demo_db, "sam", "get_draft_status", {"draft_number": draft["draft"]}))["status"] == "blocked"


def test_a_buyers_purchase_order_executes_and_a_managers_waits(demo_db: Database) -> None:
    atl = by_warehouse(call(demo_db, "bea", "check_availability", {"sku": "V-200", "warehouse": "ATL"}))["ATL"]
    incoming = sum(i["quantity"] for i in atl["incoming"])
    args = {"supplier": "KEYSTONE", "warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 100}]}
    draft = assert_draft(drafted(demo_db, "bea", "draft_purchase_order", args), "executed")
    assert re.fullmatch(r"PO-\d+", draft["result"]) and "KEYSTONE into ATL: 100 x V-200" in draft["summary"]
    assert draft["changes"] == [f"V-200 @ ATL: incoming {incoming} → {incoming + 100}"]
    due = expected_on(draft["summary"]).isoformat()
    after = by_warehouse(call(demo_db, "bea", "check_availability", {"sku": "V-200", "warehouse": "ATL"}))["ATL"]
    assert [i["quantity"] for i in after["incoming"] if i["due"] == due] == [100]

    by_manager = assert_draft(drafted(demo_db, "maria", "draft_purchase_order", args, "p2"), "pending_approval")
    assert "rule purchase.not_by_buyer" in by_manager["decision"]
    unchanged = by_warehouse(call(demo_db, "bea", "check_availability", {"sku": "V-200", "warehouse": "ATL"}))
    assert unchanged["ATL"] == after
    refused(call(demo_db, "sam", "draft_purchase_order", args, "p3"), "permission_denied")


def test_an_order_change_executes_and_one_that_backorders_waits(demo_db: Database) -> None:
    args = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 5, "warehouse": "DAL"}]}
    number = assert_draft(drafted(demo_db, "sam", "draft_sales_order", args, "o1"), "executed")["result"]
    smaller = {"order_number": number, "line_no": 1, "quantity": 3}
    change = assert_draft(drafted(demo_db, "sam", "draft_order_change", smaller, "o2"), "executed")
    assert change["result"] == number and "quantity → 3" in change["summary"]
    line = ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))["lines"][0]
    assert (line["quantity"], line["reserved"], line["backordered"]) == (3, 3, 0)

    before = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200"}))
    wanted = before["ATL"]["available_now"] + 20  # Atlanta cannot serve it: the customer would wait
    bigger = {"order_number": number, "line_no": 1, "quantity": wanted, "warehouse": "ATL", "allow_backorder": True}
    waits = assert_draft(drafted(demo_db, "sam", "draft_order_change", bigger, "o3"), "pending_approval")
    assert waits["waiting_for"] == ["manager of NA"] and "rule order_change.shortage" in waits["decision"]
    assert any(c.startswith("V-200 @ ATL") and "backordered 0 →" in c for c in waits["changes"])
    assert ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))["lines"][0] == line
    assert by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200"})) == before


def test_a_partly_shipped_order_is_on_the_road_and_the_warehouse_ships_more_of_it(demo_db: Database) -> None:
    number = next(n for n, status in open_orders(demo_db, "NA") if status == "partially_shipped")
    before = ok(call(demo_db, "sam", "get_fulfilment", {"order_number": number}))
    order = ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))
    assert [s["shipment"] for s in before["shipments"]] == order["shipments"]
    for line in before["lines"]:
        assert line["reserved"] + line["backordered"] + line["shipped"] == line["quantity"], line
    assert before["open_units"] == sum(ln["quantity"] - ln["shipped"] for ln in before["lines"])
    on_road = before["shipments"][0]
    assert on_road["carrier"] and on_road["tracking_number"] and on_road["milestone"].startswith("shipped ")
    assert f"{on_road['shipment']} latest milestone: {on_road['milestone']}." in before["facts"]
    line = next(ln for ln in before["lines"] if ln["reserved"] > 0)
    args = {"order_number": number, "lines": [{"line_no": line["line"], "quantity": 1}], "carrier": "UPS"}
    shipped = assert_draft(drafted(demo_db, "wes", "draft_shipment", args), "executed")
    after = ok(call(demo_db, "sam", "get_fulfilment", {"order_number": number}))
    assert after["shipments"][-1]["shipment"] == shipped["result"]
    assert after["open_units"] == before["open_units"] - 1
    assert refused(call(demo_db, "sam", "draft_shipment", args, "by-sales"), "permission_denied")


def test_master_data_and_credit_changes_through_the_tools(demo_db: Database) -> None:
    cost = {"record": "item", "code": "V-200", "cost": "12.10"}
    changed = assert_draft(drafted(demo_db, "fiona", "draft_master_data_change", cost), "executed")
    assert changed["changes"] == ["item V-200: cost USD 11.67 → USD 12.10"]
    big = {"record": "item", "code": "V-200", "cost": "44.10"}
    waiting = assert_draft(drafted(demo_db, "bea", "draft_master_data_change", big, "t2"), "pending_approval")
    assert waiting["waiting_for"] == ["manager of NA"] and "masterdata.cost_change" in waiting["decision"]
    raise_ = {"record": "customer", "code": "ACME", "credit_limit": "30000"}
    limit = assert_draft(drafted(demo_db, "sam", "draft_master_data_change", raise_, "t3"), "pending_approval")
    assert limit["waiting_for"] == ["finance of NA"] and limit["changes"][0].startswith("ACME: credit limit USD")
    price = {"record": "price", "code": "V-200", "price_list": "NA-WHOLESALE", "price": "15"}
    assert refused(call(demo_db, "wes", "draft_master_data_change", price, "t4"), "permission_denied")
    mixed = {"record": "customer", "code": "ACME", "credit_limit": "30000", "tier": "B"}
    assert (
        "on its own"
        in refused(call(demo_db, "fiona", "draft_master_data_change", mixed, "t5"), "invalid_input").message
    )
    hold = {"action": "hold", "customer": "BRAZOSHV", "reason": "3 invoices unpaid"}
    held = assert_draft(drafted(demo_db, "fiona", "request_credit_hold_release", hold, "t6"), "executed")
    assert held["changes"][0] == "BRAZOSHV: credit hold off → on (3 invoices unpaid)"
    assert ok(call(demo_db, "sam", "get_customer_credit", {"customer": "BRAZOSHV"}))["on_hold"] is True


def test_a_hold_release_waits_for_finance_and_the_hold_stays(demo_db: Database) -> None:
    number, customer = held_orders(demo_db)[0]
    args = {"customer": customer, "reason": "paid the overdue invoices by wire today"}
    draft = assert_draft(drafted(demo_db, "sam", "request_credit_hold_release", args), "pending_approval")
    assert draft["waiting_for"] == ["finance of NA"] and "rule credit.hold_release" in draft["decision"]
    assert customer in draft["summary"] and args["reason"] in draft["summary"]
    assert draft["changes"] == [f"{customer}: credit hold on → off; its held orders go back to draft"]
    assert ok(call(demo_db, "sam", "get_customer_credit", {"customer": customer}))["on_hold"] is True
    assert ok(call(demo_db, "sam", "get_order_status", {"order_number": number}))["status"] == "on_hold"
    assert draft["draft"] in [w["draft"] for w in call(demo_db, "fiona", "list_pending_approvals", {}).data["waiting"]]
    not_held = call(demo_db, "sam", "request_credit_hold_release", {"customer": "ACME", "reason": "no hold"}, "r2")
    assert "not on credit hold" in refused(not_held, "invalid_state").message


def test_exception_actions_follow_who_may_handle_the_case(demo_db: Database) -> None:
    case = first_case(demo_db, "sam", "shortage")["case"]
    drafts = count(demo_db, DraftAction)
    denied = call(demo_db, "sam", "draft_exception_action", {"case_number": case, "action": "resolve", "text": "x"})
    assert "comment on it instead" in refused(denied, "permission_denied").message
    assert count(demo_db, DraftAction) == drafts

    comment = {"case_number": case, "action": "comment", "text": "customer agrees to wait"}
    assert assert_draft(drafted(demo_db, "sam", "draft_exception_action", comment, "e1"), "executed")["result"] == case
    elsewhere = {"case_number": case, "action": "assign", "assignee": "wyn"}  # wyn works for UK only
    wrong_person = refused(call(demo_db, "maria", "draft_exception_action", elsewhere, "e4"), "out_of_scope")
    assert "wyn cannot see NA" in wrong_person.message and "wes" in wrong_person.message
    assign = {"case_number": case, "action": "assign", "assignee": "wes"}
    assert_draft(drafted(demo_db, "maria", "draft_exception_action", assign, "e2"), "executed")
    assert ok(call(demo_db, "sam", "get_exception", {"case_number": case}))["status"] == "assigned"
    resolve = {"case_number": case, "action": "resolve", "text": "transferred from Dallas"}
    resolved = assert_draft(drafted(demo_db, "wes", "draft_exception_action", resolve, "e3"), "executed")
    assert "rule exception_action.execute" in resolved["decision"]
    after = ok(call(demo_db, "sam", "get_exception", {"case_number": case}))
    assert after["status"] == "resolved"
    assert [h.split(" ", 2)[2] for h in after["history"][-3:]] == [
        "commented: customer agrees to wait",
        "assigned: assigned to wes",
        "resolved: transferred from Dallas",
    ]


def test_a_clerks_count_and_write_off_post_at_standard_cost_and_the_kpis_report_them(demo_db: Database) -> None:
    on_hand = by_warehouse(call(demo_db, "wes", "check_availability", {"sku": "V-200", "warehouse": "DAL"}))["DAL"]
    counted = {"sku": "V-200", "warehouse": "Dallas", "counted": on_hand["on_hand"] - 2}
    count = assert_draft(drafted(demo_db, "wes", "draft_stock_adjustment", counted, "c1"), "executed")
    assert count["result"].startswith("ADJ-") and "rule stock_adjustment.within_limits" in count["decision"]
    assert (
        f"counted {counted['counted']} against {on_hand['on_hand']} on the books: -2 units (correction)"
        in (count["summary"])
    )
    damaged = {"sku": "V-200", "warehouse": "ATL", "quantity": 3, "reason": "damage"}
    assert_draft(drafted(demo_db, "wes", "draft_stock_adjustment", damaged, "c2"), "executed")
    denied = call(demo_db, "sam", "draft_stock_adjustment", {**damaged, "quantity": 1}, "c3")
    assert "may not move stock" in refused(denied, "permission_denied").message
    kpis = ok(call(demo_db, "maria", "get_kpis", {"entity": "NA"}))
    lines = {(x["warehouse"], x["reason"]): x for x in kpis["entities"][0]["stock_adjustments"]}
    assert (lines["DAL", "correction"]["net_units"], lines["ATL", "damage"]["net_units"]) == (-2, -3)
    assert all(Decimal(str(x["value"])) < 0 for x in lines.values())
    assert any(
        f.startswith("NA ATL stock adjustments in ") and "damage: 1 posted, -3 units" in f for f in kpis["facts"]
    )


def test_a_clerk_receives_part_of_a_purchase_order_and_ships_and_receives_a_transfer(demo_db: Database) -> None:
    def on_hand(warehouse: str) -> int:
        stock = call(demo_db, "wes", "check_availability", {"sku": "V-200", "warehouse": warehouse})
        return int(by_warehouse(stock)[warehouse]["on_hand"])

    order = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 10}]}
    po = assert_draft(drafted(demo_db, "bea", "draft_purchase_order", order, "po"), "executed")["result"]
    dal = on_hand("DAL")
    receipt = {"po_number": po, "lines": [{"sku": "V-200", "quantity": 4}]}
    assert (
        "rule receipt.within_tolerance"
        in assert_draft(drafted(demo_db, "wes", "draft_receipt", receipt, "r1"), "executed")["decision"]
    )
    assert on_hand("DAL") == dal + 4
    assert refused(call(demo_db, "sam", "draft_receipt", receipt, "r2"), "permission_denied")

    move = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 5}]}
    transfer = assert_draft(drafted(demo_db, "wes", "draft_transfer", move, "tr"), "executed")["result"]
    atl = on_hand("ATL")
    ship = {"transfer_number": transfer, "action": "ship"}
    assert_draft(drafted(demo_db, "wes", "draft_transfer_move", ship, "m1"), "executed")
    assert (on_hand("DAL"), on_hand("ATL")) == (dal + 4 - 5, atl)  # in transit: left Dallas, not yet in Atlanta
    receive = {"transfer_number": transfer, "action": "receive"}
    assert_draft(drafted(demo_db, "wes", "draft_transfer_move", receive, "m2"), "executed")
    assert on_hand("ATL") == atl + 5


def test_sales_cancels_an_open_line_and_the_warehouse_may_not(demo_db: Database) -> None:
    order = next(number for number, status in open_orders(demo_db, "NA") if status == "confirmed")
    before = ok(call(demo_db, "sam", "get_fulfilment", {"order_number": order}))
    line = before["lines"][0]
    cancel = {"order_number": order, "action": "cancel", "line_no": line["line"], "reason": "customer called"}
    done = drafted(demo_db, "sam", "draft_order_action", cancel, "x1")
    result = assert_draft(
        done, "executed" if "order_cancel.self_service" in done.data["decision"] else "pending_approval"
    )
    assert result["summary"].startswith(f"Cancel on {order}: {line['quantity'] - line['shipped']} x {line['sku']}")
    warehouse = call(demo_db, "wes", "draft_order_action", cancel, "x2")
    assert "may not sell" in refused(warehouse, "permission_denied").message
    unknown = call(demo_db, "sam", "draft_order_action", {**cancel, "action": "refund"}, "x3")
    assert unknown.error is not None and unknown.error.code == "invalid_arguments"  # the schema lists the actions
    other = next(number for number, status in open_orders(demo_db, "NA") if number != order)
    move = {"order_number": order, "action": "reallocate", "to_order": other}
    moved = call(demo_db, "sam", "draft_order_action", move, "x4")  # a cancelled order, or lines that do not pair
    assert moved.error is not None and moved.error.code in ("invalid_state", "invalid_input"), moved.data


def test_pending_approvals_show_only_what_the_user_could_approve(demo_db: Database) -> None:
    acme = pending_acme_order(demo_db)["draft"]  # NA only: finance of NA
    args = {"from_warehouse": "DAL", "to_warehouse": "BHM", "lines": [{"sku": "V-200", "quantity": 5}]}
    intercompany = assert_draft(drafted(demo_db, "grace", "draft_transfer", args, "ic"), "pending_approval")
    assert intercompany["waiting_for"] == ["manager of NA", "manager of UK"]
    assert [w["draft"] for w in call(demo_db, "ulrich", "list_pending_approvals", {}).data["waiting"]] == [
        intercompany["draft"]
    ]
    assert acme not in [w["draft"] for w in call(demo_db, "frank", "list_pending_approvals", {}).data["waiting"]]
    assert call(demo_db, "uma", "list_pending_approvals", {}).data["waiting"] == []
    # The UK side may read the intercompany draft it must approve; the stock has not moved yet.
    assert ok(call(demo_db, "uma", "get_draft_status", {"draft_number": intercompany["draft"]}))["status"] == (
        "pending_approval"
    )
    bhm = by_warehouse(call(demo_db, "uma", "check_availability", {"sku": "V-200", "warehouse": "BHM"}))["BHM"]
    assert f"V-200 @ BHM: incoming {sum(i['quantity'] for i in bhm['incoming'])} →" in intercompany["changes"][1]


# --- Entity scope: a UK user asking about North America ------------------------------------------

ArgsFor = Callable[[Database], dict[str, Any]]


def _na_case(db: Database) -> dict[str, Any]:
    detect(db)
    return {"case_number": cases(db, "sam", type="shortage")[0]["case"]}


def test_sales_authorise_a_return_the_warehouse_receives_it_and_its_status_reads_back(demo_db: Database) -> None:
    order = shipped_na_order(demo_db)
    ask = {"action": "authorise", "order_number": order, "lines": [{"line_no": 1, "quantity": 2}], "reason": "damaged"}
    assert refused(call(demo_db, "wes", "draft_return", ask, "rt0"), "permission_denied")
    made = assert_draft(drafted(demo_db, "sam", "draft_return", ask, "rt1"), "executed")
    rma = made["result"]
    assert rma.startswith("RMA-") and "rule returns.within_window" in made["decision"]
    waiting = ok(call(demo_db, "sam", "get_return", {"rma_number": rma}))
    assert waiting["status"] == "authorised" and waiting["order"] == order
    assert f"{rma} status: authorised (not received yet)." in waiting["facts"]
    receive = {"action": "receive", "rma_number": rma, "disposition": "restock"}
    assert refused(call(demo_db, "sam", "draft_return", receive, "rt2"), "permission_denied")
    received = assert_draft(drafted(demo_db, "wes", "draft_return", receive, "rt3"), "executed")
    assert any(line.startswith("V-200 @ DAL: on hand") for line in received["changes"]), received
    done = ok(call(demo_db, "wes", "get_return", {"rma_number": rma}))
    assert done["status"] == "credited" and done["credit_notes"][0].startswith("CN-")
    assert any(f.startswith(f"{rma} credited: USD ") for f in done["facts"]), done["facts"]
    missing = refused(call(demo_db, "sam", "draft_return", {"action": "receive"}, "rt4"), "invalid_input")
    assert "rma_number" in missing.message


# --- Operations intelligence: the briefing and a finding's proposal ---------------------------------------

ATL_STOCK_OUT = PlantedFinding(
    type=ExceptionType.REPLENISHMENT,
    entity="NA",
    key="replenishment:V-200:ATL",
    title="V-200 will stock out at ATL on 2026-11-24; DAL holds 368 it does not need",
    detail="Demand over the lead time 55 + safety stock 15 exceed available 12: move 60 from DAL.",
    evidence={"sku": "V-200", "warehouse": "ATL", "available": 12, "demand_over_lead_time": 55, "safety_stock": 15},
    impact=Decimal("1320.00"),
    proposal=PlantedProposal(
        kind="transfer",
        payload={"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 60}]},
        summary="Transfer 60 V-200 from DAL to ATL",
    ),
)


def na_finding(db: Database) -> dict[str, Any]:
    """A stock-out at ATL with a proposed transfer from DAL, raised as the analyses raise findings (once)."""

    def number(s: Session) -> str:
        plant_findings(s, [ATL_STOCK_OUT])
        running = open_findings(s, ExceptionType.REPLENISHMENT, [e.id for e in s.query(LegalEntity)])
        return next(c.number for c in running if c.condition_key == ATL_STOCK_OUT.key)

    return {"case_number": db.run(number)}


def test_a_buyer_hears_of_a_stock_out_reads_why_and_a_manager_opens_the_proposed_transfer(demo_db: Database) -> None:
    case = na_finding(demo_db)["case_number"]
    lines = ok(call(demo_db, "bea", "get_briefing", {}))["lines"]
    refill = next(line for line in lines if line["topic"] == "replenishment")
    assert refill["text"] == "1 reorder proposal (1 proposed draft ready)"
    assert refill["items"][0]["ref"] == case
    why = ok(call(demo_db, "bea", "explain_finding", {"case_number": case}))
    assert why["proposal"]["summary"] == "Transfer 60 V-200 from DAL to ATL" and why["impact"] == "USD 1,320.00"
    assert f"{case} demand over lead time: 55." in why["facts"], why["facts"]
    before = by_warehouse(call(demo_db, "maria", "check_availability", {"sku": "V-200"}))["ATL"]["on_hand"]
    draft = ok(call(demo_db, "maria", "draft_from_finding", {"case_number": case}))
    assert draft["status"] == "unconfirmed" and "DAL" in draft["summary"] and "ATL" in draft["summary"]
    assert by_warehouse(call(demo_db, "maria", "check_availability", {"sku": "V-200"}))["ATL"]["on_hand"] == before
    assert refused(call(demo_db, "bea", "draft_from_finding", {"case_number": case}, "t2"), "permission_denied")


def test_a_uk_users_briefing_holds_no_na_finding(demo_db: Database) -> None:
    case = na_finding(demo_db)["case_number"]
    for user in ("uma", "ulrich", "bryn"):
        refs = [i["ref"] for line in ok(call(demo_db, user, "get_briefing", {}))["lines"] for i in line["items"]]
        assert case not in refs, (user, refs)
    assert case in [i["ref"] for line in ok(call(demo_db, "maria", "get_briefing", {}))["lines"] for i in line["items"]]


def test_finance_sees_who_to_chase_records_and_applies_payments_and_a_reversal_waits(demo_db: Database) -> None:
    chase = ok(call(demo_db, "fiona", "get_receivables", {"view": "collections"}))
    assert chase["rows"][0]["customer"] == "HEARTLAN2" and chase["facts"][0].startswith("#1 HEARTLAN2: USD ")
    late = ok(call(demo_db, "fiona", "get_receivables", {"view": "ageing", "customer": "CASCADEW"}))
    assert "USD 1,000.00 on account" in late["facts"][0], late["facts"]
    cash = next(
        p for p in demo_db.read(lambda s: list_payments(s, load_actor(s, username="fiona"), unapplied_only=True))
    )
    applied = assert_draft(
        drafted(demo_db, "fiona", "draft_payment", {"action": "apply", "payment_number": cash.number}, "rp1"),
        "executed",
    )
    assert applied["result"] == cash.number and "rule payments.finance" in applied["decision"]
    record = {"action": "record", "customer": "CASCADEW", "amount": "500.00", "bank_reference": "BNK-T1"}
    assert refused(call(demo_db, "sam", "draft_payment", record, "rp2"), "permission_denied")
    paid = assert_draft(drafted(demo_db, "fiona", "draft_payment", record, "rp3"), "executed")
    undo = {"action": "reverse", "payment_number": paid["result"], "reason": "wrong customer"}
    assert_draft(drafted(demo_db, "fiona", "draft_payment", undo, "rp4"), "pending_approval")


def _na_return(db: Database) -> str:
    order = shipped_na_order(db)
    ask = {"action": "authorise", "order_number": order, "lines": [{"line_no": 1, "quantity": 1}], "reason": "damaged"}
    return str(assert_draft(drafted(db, "sam", "draft_return", ask, "na-rma"), "executed")["result"])


def _na_purchase_order(db: Database) -> str:
    order = {"supplier": "KEYSTONE", "warehouse": "DAL", "lines": [{"sku": "V-200", "quantity": 3}]}
    return str(assert_draft(drafted(db, "bea", "draft_purchase_order", order, "na-po"), "executed")["result"])


def _na_transfer(db: Database) -> str:
    move = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 3}]}
    return str(assert_draft(drafted(db, "wes", "draft_transfer", move, "na-tr"), "executed")["result"])


def _const(args: dict[str, Any]) -> ArgsFor:
    return lambda _db: args


SCOPE_REFUSALS: list[tuple[str, str, ArgsFor]] = [
    ("uma", "check_availability", _const({"sku": "V-200", "warehouse": "ATL"})),
    ("uma", "check_availability", _const({"sku": "V-200", "warehouse": "Dallas"})),
    ("uma", "check_availability", _const({"sku": "V-200", "entity": "NA"})),
    ("uma", "get_order_status", lambda db: {"order_number": held_orders(db)[0][0]}),
    ("uma", "get_customer_credit", _const({"customer": "ACME"})),
    ("uma", "list_exceptions", _const({"entity": "NA"})),
    ("uma", "get_exception", _na_case),
    ("uma", "explain_finding", lambda db: na_finding(db)),
    ("uma", "draft_from_finding", lambda db: na_finding(db)),
    ("uma", "get_kpis", _const({"entity": "NA"})),
    ("uma", "draft_sales_order", _const({"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 5}]})),
    (
        "uma",
        "draft_transfer",
        _const({"from_warehouse": "DAL", "to_warehouse": "BHM", "lines": [{"sku": "V-200", "quantity": 5}]}),
    ),
    (
        "bryn",
        "draft_purchase_order",
        _const({"supplier": "KEYSTONE", "warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 5}]}),
    ),
    (
        "uma",
        "draft_order_change",
        lambda db: {"order_number": open_orders(db, "NA")[0][0], "line_no": 1, "quantity": 1},
    ),
    ("uma", "request_credit_hold_release", lambda db: {"customer": held_orders(db)[0][1], "reason": "paid in full"}),
    ("uma", "draft_master_data_change", _const({"record": "customer", "code": "ACME", "credit_limit": "30000"})),
    ("bryn", "draft_master_data_change", _const({"record": "supplier", "code": "KEYSTONE", "lead_time_days": 9})),
    ("uma", "draft_exception_action", lambda db: {**_na_case(db), "action": "comment", "text": "on it"}),
    ("uma", "get_draft_status", lambda db: {"draft_number": pending_acme_order(db)["draft"]}),
    ("uma", "get_fulfilment", lambda db: {"order_number": open_orders(db, "NA")[0][0]}),
    ("wyn", "draft_shipment", lambda db: {"order_number": open_orders(db, "NA")[0][0]}),
    ("wyn", "draft_stock_adjustment", _const({"sku": "V-200", "warehouse": "DAL", "counted": 3})),
    ("wyn", "draft_receipt", lambda db: {"po_number": _na_purchase_order(db)}),
    ("wyn", "draft_transfer_move", lambda db: {"transfer_number": _na_transfer(db), "action": "ship"}),
    (
        "uma",
        "draft_order_action",
        lambda db: {"order_number": open_orders(db, "NA")[0][0], "action": "substitute", "line_no": 1, "sku": "V-220"},
    ),
    ("uma", "get_return", lambda db: {"rma_number": _na_return(db)}),
    (
        "uma",
        "draft_return",
        lambda db: {
            "action": "authorise",
            "order_number": shipped_na_order(db),
            "lines": [{"line_no": 1, "quantity": 1}],
            "reason": "damaged",
        },
    ),
    ("wyn", "draft_return", lambda db: {"action": "receive", "rma_number": _na_return(db)}),
    ("frank", "get_payables", _const({"view": "invoice", "invoice_number": "SINV-1"})),
    (
        "frank",
        "draft_supplier_invoice",
        _const(
            {"po_number": "PO-1395", "supplier_ref": "F-1", "lines": [{"sku": "V-200", "quantity": 1, "unit_price": 1}]}
        ),
    ),
    ("frank", "get_receivables", _const({"view": "ageing", "customer": "CASCADEW"})),
    (
        "frank",
        "draft_payment",
        _const({"action": "record", "customer": "CASCADEW", "amount": "10.00", "bank_reference": "BNK-X"}),
    ),
]


def test_another_entitys_records_are_refused_and_nothing_of_them_leaks(demo_db: Database) -> None:
    def check(user: str, tool: str, args_for: ArgsFor) -> None:
        args = args_for(demo_db)
        drafts, orders = count(demo_db, DraftAction), count(demo_db, SalesOrder)
        result = refused(call(demo_db, user, tool, args, "scope"), "out_of_scope")
        assert result.suggestions == []
        message = result.message
        assert "outside your scope" in message
        # No figure of the other entity: once the names the user gave are taken out, no digit is left.
        named = [str(v) for v in args.values() if isinstance(v, str)]
        rest = message
        for name in sorted(named, key=len, reverse=True):
            rest = re.sub(re.escape(name), "", rest, flags=re.IGNORECASE)
        assert not re.search(r"\d", rest), message
        for hidden in ("Acme Industrial Supply", "Atlanta", "Dallas DC", "overdue", "USD", "short at"):
            assert hidden not in message or hidden in named, message
        assert (count(demo_db, DraftAction), count(demo_db, SalesOrder)) == (drafts, orders)

    each(SCOPE_REFUSALS, check)


def test_a_uk_users_own_view_holds_only_uk_records(demo_db: Database) -> None:
    stock = ok(call(demo_db, "uma", "check_availability", {"sku": "V-200"}))
    assert {w["entity"] for w in stock["warehouses"]} == {"UK"} and set(by_warehouse(stock)) == {"BHM", "MAN"}
    kpis = ok(call(demo_db, "uma", "get_kpis", {}))["entities"]
    assert [(e["entity"], e["currency"]) for e in kpis] == [("UK", "GBP")]
    detect(demo_db)
    uk = cases(demo_db, "uma")
    assert uk and all(re.search(r"\bat (BHM|MAN)\b", c["title"]) for c in uk if c["type"] == "shortage")
    assert not {c["case"] for c in uk} & {c["case"] for c in cases(demo_db, "sam")}


def test_a_uk_user_gets_no_na_customer_as_a_suggestion(demo_db: Database) -> None:
    ours = refused(call(demo_db, "sam", "get_customer_credit", {"customer": "ACMEE"}), "not_found")
    assert "ACME" in ours.suggestions
    theirs = refused(call(demo_db, "uma", "get_customer_credit", {"customer": "ACMEE"}), "not_found")
    assert theirs.suggestions == [] and "ACME" not in theirs.message.replace("ACMEE", "")


# --- Typed errors --------------------------------------------------------------------------------

UNKNOWN_SKU: list[tuple[str, str, dict[str, Any]]] = [
    ("sam", "find_items", {"query": "V200x"}),
    ("sam", "check_availability", {"sku": "V200x"}),
    ("sam", "draft_sales_order", {"customer": "ACME", "lines": [{"sku": "V200x", "quantity": 1}]}),
    (
        "sam",
        "draft_transfer",
        {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V200x", "quantity": 1}]},
    ),
    (
        "bea",
        "draft_purchase_order",
        {"supplier": "KEYSTONE", "warehouse": "ATL", "lines": [{"sku": "V200x", "quantity": 1}]},
    ),
]


def test_an_unknown_sku_is_not_found_with_the_closest_skus(demo_db: Database) -> None:
    def check(user: str, tool: str, args: dict[str, Any]) -> None:
        result = refused(call(demo_db, user, tool, args), "not_found")
        assert result.suggestions[0] == "V-200" and "V200x" in result.message

    drafts = count(demo_db, DraftAction)
    each(UNKNOWN_SKU, check)
    assert count(demo_db, DraftAction) == drafts


def _line(quantity: int) -> list[dict[str, Any]]:
    return [{"sku": "V-200", "quantity": quantity}]


BAD_ARGUMENTS: list[tuple[str, dict[str, Any] | str, str]] = [
    ("check_availability", {"sku": "V-200", "quantity": -1}, "quantity"),
    ("check_availability", {"sku": "V-200", "quantity": 2_000_000}, "quantity"),
    ("check_availability", {"sku": "V-200", "on_date": "next tuesday"}, "on_date"),
    ("check_availability", {}, "sku"),
    ("find_items", {"query": "valve", "limit": 0}, "limit"),
    ("find_items", {"query": "valve", "limit": 21}, "limit"),
    ("list_exceptions", {"limit": 51}, "limit"),
    ("list_pending_approvals", {"limit": -1}, "limit"),
    ("get_kpis", {"since": "last quarter"}, "since"),
    ("draft_sales_order", {"customer": "ACME", "lines": _line(-5)}, "lines.0.quantity"),
    ("draft_sales_order", {"customer": "ACME", "lines": _line(10**9)}, "lines.0.quantity"),
    ("draft_sales_order", {"customer": "ACME", "lines": []}, "lines"),
    ("draft_sales_order", {"customer": "ACME", "lines": _line(1), "approved": True}, "approved"),
    ("draft_transfer", {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": _line(0)}, "lines.0.quantity"),
    ("draft_transfer", {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": _line(10**7)}, "lines.0.quantity"),
    ("draft_purchase_order", {"supplier": "KEYSTONE", "warehouse": "ATL", "lines": _line(-1)}, "lines.0.quantity"),
    ("draft_order_change", {"order_number": "SO-1", "line_no": 1, "quantity": -2}, "quantity"),
    ("draft_order_change", {"order_number": "SO-1", "line_no": 0, "quantity": 2}, "line_no"),
    ("request_credit_hold_release", {"customer": "ACME", "reason": ""}, "reason"),
    ("draft_exception_action", {"case_number": "EX-1", "action": "approve"}, "action"),
    ("get_draft_status", {}, "draft_number"),
    ("draft_transfer", "[1, 2]", "arguments"),
]


def test_bad_arguments_are_refused_naming_the_field_and_write_nothing(demo_db: Database) -> None:
    def check(tool: str, args: dict[str, Any] | str, field: str) -> None:
        result = refused(call(demo_db, "grace", tool, args), "invalid_arguments")
        assert result.message.startswith(f"{tool}: {field}: "), result

    drafts = count(demo_db, DraftAction)
    each(BAD_ARGUMENTS, check)
    assert count(demo_db, DraftAction) == drafts


def test_malformed_json_is_refused_by_every_tool_and_writes_nothing(demo_db: Database) -> None:
    drafts = count(demo_db, DraftAction)
    for tool in TOOLS:
        result = refused(call(demo_db, "grace", tool, '{"sku": "V-200", '), "invalid_arguments")
        assert "not valid JSON" in result.message, tool
    assert count(demo_db, DraftAction) == drafts


def test_arguments_as_a_json_string_work_like_a_mapping(demo_db: Database) -> None:
    args = {"sku": "V-200", "warehouse": "ATL", "quantity": 100}
    assert (
        ok(call(demo_db, "sam", "check_availability", json.dumps(args)))
        == call(demo_db, "sam", "check_availability", args).data
    )


def test_an_unknown_tool_name_suggests_the_close_ones(demo_db: Database) -> None:
    def check(name: str, meant: str) -> None:
        result = refused(call(demo_db, "sam", name, {}), "unknown_tool")
        assert meant in result.suggestions and len(result.suggestions) <= 3
        assert set(result.suggestions) <= set(REGISTRY.tools)

    each(
        [
            ("get_order", "get_order_status"),
            ("draft_transfers", "draft_transfer"),
            ("check_credit", "get_customer_credit"),
        ],
        check,
    )


def test_there_is_no_tool_to_approve_and_asking_for_one_changes_nothing(demo_db: Database) -> None:
    draft = pending_acme_order(demo_db)["draft"]
    for name in ("approve_draft", "approve", "approve_pending_approval"):
        result = refused(call(demo_db, "fiona", name, {"draft_number": draft}), "unknown_tool")
        assert not [s for s in result.suggestions if s.startswith("approve")]
    assert ok(call(demo_db, "sam", "get_draft_status", {"draft_number": draft}))["status"] == "pending_approval"


def test_a_draft_number_that_is_no_draft_is_not_found(demo_db: Database) -> None:
    def check(number: str, suggestions: list[str]) -> None:
        result = refused(call(demo_db, "sam", "get_draft_status", {"draft_number": number}), "not_found")
        assert number in result.message and result.suggestions == suggestions

    form = ["DR-<number>, e.g. DR-1042"]
    each([("DR-999999", []), ("SO-2260", form), ("DR-abc", form)], check)


def test_a_uk_draft_is_foreign_to_a_na_user(demo_db: Database) -> None:
    uk_customer = demo_db.read(
        lambda s: s.scalars(
            select(Customer.code)
            .join(LegalEntity, LegalEntity.id == Customer.entity_id)
            .where(LegalEntity.code == "UK", Customer.on_credit_hold.is_(False))
            .order_by(Customer.code)
        ).first()
    )
    assert uk_customer
    args = {"customer": uk_customer, "lines": [{"sku": "V-200", "quantity": 1, "warehouse": "BHM"}]}
    draft = assert_draft(drafted(demo_db, "uma", "draft_sales_order", args), "executed")
    assert "GBP" in draft["summary"]
    foreign = refused(call(demo_db, "sam", "get_draft_status", {"draft_number": draft["draft"]}), "out_of_scope")
    assert uk_customer not in foreign.message and "GBP" not in foreign.message
    refused(call(demo_db, "sam", "get_order_status", {"order_number": draft["result"]}), "out_of_scope")


def test_more_than_there_is_is_refused_with_the_shortfall(demo_db: Database) -> None:
    dal = by_warehouse(call(demo_db, "sam", "check_availability", {"sku": "V-200", "warehouse": "DAL"}))["DAL"]
    drafts = count(demo_db, DraftAction)
    args = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": _line(dal["available_now"] + 1)}
    result = refused(call(demo_db, "sam", "draft_transfer", args), "insufficient_stock")
    assert f"available {dal['available_now']} (short 1)" in result.message
    assert count(demo_db, DraftAction) == drafts


# --- Compact results ------------------------------------------------------------------------------


def test_results_stay_within_their_limits(demo_db: Database) -> None:
    for limit in (1, 3, 20):
        items = ok(call(demo_db, "sam", "find_items", {"query": "valve", "limit": limit}))["items"]
        assert len(items) == limit  # the demo has more than 20 valves
    assert len(ok(call(demo_db, "sam", "find_items", {"query": "valve"}))["items"]) == 5

    detect(demo_db)
    everything = cases(demo_db, "grace")
    assert len(everything) > 10  # more cases than the default page
    first_page = ok(call(demo_db, "grace", "list_exceptions", {}))["cases"]
    assert first_page == everything[:10]
    assert ok(call(demo_db, "grace", "list_exceptions", {"limit": 2}))["cases"] == everything[:2]

    for call_id in ("a", "b", "c"):
        args = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 200, "warehouse": "DAL"}]}
        assert_draft(drafted(demo_db, "sam", "draft_sales_order", args, call_id), "pending_approval")
    assert len(call(demo_db, "fiona", "list_pending_approvals", {}).data["waiting"]) == 3
    assert len(call(demo_db, "fiona", "list_pending_approvals", {"limit": 2}).data["waiting"]) == 2

    case = ok(call(demo_db, "grace", "get_exception", {"case_number": everything[0]["case"]}))
    assert len(case["suggestions"]) <= 5 and len(case["history"]) <= 10
    for tool, args in [
        ("check_availability", {"sku": "V-200"}),
        ("get_kpis", {}),
        ("get_exception", {"case_number": everything[0]["case"]}),
        ("get_order_status", {"order_number": open_orders(demo_db, "NA")[0][0]}),
        ("list_exceptions", {"limit": 50}),
    ]:
        result = ok(call(demo_db, "grace", tool, args))
        assert lists_within(result, 50) and len(json.dumps(result)) < 12_000, tool
    for row in ok(call(demo_db, "grace", "check_availability", {"sku": "V-200"}))["warehouses"]:
        assert len(row["incoming"]) <= 5


def test_list_exceptions_says_when_more_cases_than_shown(demo_db: Database) -> None:
    detect(demo_db)
    everything = ok(call(demo_db, "grace", "list_exceptions", {"limit": 50}))
    page = ok(call(demo_db, "grace", "list_exceptions", {"limit": 2}))
    assert len(page["cases"]) == 2 and page["total"] == everything["total"] == len(everything["cases"]) > 2
    assert page["more"] == page["total"] - 2 and everything["more"] == 0


def test_list_exceptions_leaves_out_closed_cases_by_default(demo_db: Database) -> None:
    case = first_case(demo_db, "wes", "shortage")["case"]
    resolve = {"case_number": case, "action": "resolve", "text": "transferred from Dallas"}
    assert_draft(drafted(demo_db, "wes", "draft_exception_action", resolve), "executed")
    assert case in [c["case"] for c in cases(demo_db, "wes", status="resolved")]
    assert case not in [c["case"] for c in ok(call(demo_db, "wes", "list_exceptions", {"limit": 50}))["cases"]]


def test_a_miss_or_a_refusal_reveals_nothing_of_another_entity(demo_db: Database) -> None:
    """Warehouse suggestions come from the asker's entities; a refusal repeats the asker's words, not the code."""
    miss = call(demo_db, "uma", "check_availability", {"sku": "V-200", "warehouse": "Atlantis"}).error
    assert miss is not None and miss.code == "not_found"
    assert not {"Atlanta", "Dallas", "ATL", "DAL"} & set(miss.suggestions)
    denied = call(demo_db, "uma", "get_customer_credit", {"customer": "Acme Industrial Supply"}).error
    assert denied is not None and denied.code == "out_of_scope" and "ACME" not in denied.message


def test_an_entity_code_given_as_the_warehouse_means_that_entitys_warehouses(demo_db: Database) -> None:
    by_entity = ok(call(demo_db, "sam", "check_availability", {"sku": "V-200", "entity": "NA"}))
    as_warehouse = ok(call(demo_db, "sam", "check_availability", {"sku": "V-200", "warehouse": "na", "entity": "NA"}))
    assert as_warehouse["warehouses"] == by_entity["warehouses"] and len(by_entity["warehouses"]) > 1
    elsewhere = call(demo_db, "uma", "check_availability", {"sku": "V-200", "warehouse": "NA"}).error
    assert elsewhere is not None and elsewhere.code == "out_of_scope"


def test_drafts_that_change_no_stock_still_say_what_they_change(demo_db: Database) -> None:
    case = first_case(demo_db, "wes", "shortage")["case"]
    assigned = call(demo_db, "wes", "draft_exception_action", {"case_number": case, "action": "comment", "text": "x"})
    assert assigned.data["changes"] == [f"{case}: a comment is added"]
    resolved = call(
        demo_db, "wes", "draft_exception_action", {"case_number": case, "action": "resolve", "text": "moved"}
    )
    assert resolved.data["changes"] == [f"{case}: status open → resolved"]


def _valve_order(db: Database, quantity: int) -> str:
    """A confirmed NA order for `quantity` V-200 from Dallas, placed by sam for the first customer not on hold."""

    def command(s: Session) -> str:
        sam = load_actor(s, username="sam")
        customer = s.scalars(
            select(Customer.code)
            .join(LegalEntity, LegalEntity.id == Customer.entity_id)
            .where(LegalEntity.code == "NA", Customer.on_credit_hold.is_(False))
            .order_by(Customer.id)
        ).first()
        assert customer is not None
        order = create_order(s, sam, customer=customer, lines=[LineRequest("V-200", quantity, warehouse="DAL")])
        confirm_order(s, sam, order_number=order.id)
        return order.number

    return db.run(command)


def test_sales_substitutes_a_line_and_expedites_an_order_through_one_tool(demo_db: Database) -> None:
    order = _valve_order(demo_db, 20)
    asked = {"order_number": order, "action": "substitute", "line_no": 1}
    wrong = refused(call(demo_db, "sam", "draft_order_action", {**asked, "sku": "P-100"}, "s1"), "not_a_substitute")
    assert "V-220" in wrong.suggestions and "not an approved substitute for V-200" in wrong.message
    missing = refused(call(demo_db, "sam", "draft_order_action", asked, "s2"), "invalid_input")
    assert "the substitute's SKU" in missing.message
    swapped = assert_draft(drafted(demo_db, "sam", "draft_order_action", {**asked, "sku": "V-220"}, "s3"), "executed")
    assert "Substitute V-220 for V-200" in swapped["summary"] and "rule substitution." in swapped["decision"]
    assert any("margin" in change for change in swapped["changes"]), swapped
    rush = {"order_number": order, "action": "expedite", "amount": 15, "carrier": "FedEx", "reason": "line down"}
    charged = assert_draft(drafted(demo_db, "wes", "draft_order_action", rush, "e1"), "executed")
    assert "USD 15.00 via FedEx, absorbed" in charged["summary"]
    no_carrier = refused(call(demo_db, "sam", "draft_order_action", {**rush, "carrier": None}, "e2"), "invalid_input")
    assert "say the carrier" in no_carrier.message
    status = ok(call(demo_db, "sam", "get_fulfilment", {"order_number": order}))
    assert [ln["sku"] for ln in status["lines"]] == ["V-220"]
    assert status["charges"] == ["expedite USD 15.00 via FedEx, absorbed (line down)"]
    assert f"{order} charge: expedite USD 15.00 via FedEx, absorbed (line down)." in status["facts"]
    denied = refused(call(demo_db, "fiona", "draft_order_action", {**rush, "amount": 5}, "e3"), "permission_denied")
    assert "expedited freight" in denied.message


def test_an_orders_facts_name_its_shipments_and_invoices(demo_db: Database) -> None:
    order = shipped_na_order(demo_db)
    status = ok(call(demo_db, "sam", "get_order_status", {"order_number": order}))
    shipments, invoices = status["shipments"], status["invoices"]
    assert shipments and f"{order} shipments: {', '.join(shipments)}." in status["facts"]  # "has it shipped?"
    invoiced = [f for f in status["facts"] if f.startswith(f"{order} invoices:")]
    assert invoiced == ([f"{order} invoices: {', '.join(invoices)}."] if invoices else [])


def test_a_cases_facts_say_what_the_core_suggests_what_covers_it_first(demo_db: Database) -> None:
    case = _na_case(demo_db)
    detail = ok(call(demo_db, "sam", "get_exception", case))
    suggested = [f for f in detail["facts"] if f.startswith(f"{case['case_number']} suggestion: ")]
    covering = [s for s in detail["suggestions"] if s.get("covers")]
    assert suggested and len(suggested) <= 3  # "what do you suggest for EX-2?" has its answer in code's words
    if covering:
        assert suggested[0] == f"{case['case_number']} suggestion: {covering[0]['text']}."

"""Money has one rounding rule: an amount shown, judged by the policy and posted is the same figure.

Each case builds an amount that ends in a half cent with an even cent before it (17.865), where
Decimal's default half-even rounding (17.86) and the house rule, half up (17.87), part ways.
"""

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.money import format_money, round_money, round_unit_price
from core.policy import PolicyDecisionRecord
from core.purchasing.service import get_purchase_order
from core.sales.service import get_order, ship_order
from tests.world import World

HALF_CENT = Decimal("17.865")  # half even: 17.86; half up: 17.87
ROUNDED = Decimal("17.87")


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("17.865", "17.87"), ("17.875", "17.88"), ("-17.865", "-17.87"), ("17.8649", "17.86"), ("0", "0.00")],
)
def test_money_rounds_half_up_to_the_cent(amount: str, cents: str) -> None:
    assert round_money(Decimal(amount)) == Decimal(cents)
    assert str(round_money(Decimal(amount))) == cents


def test_sums_that_may_be_empty_or_floats_round_the_same_way() -> None:
    assert round_money(None) == Decimal("0.00")
    assert round_money(17.865) == ROUNDED  # an SQL sum on SQLite: read as written, not as the nearest binary
    assert round_unit_price(Decimal("1.00005")) == Decimal("1.0001")


def test_money_is_shown_with_its_currency_rounded_by_the_same_rule() -> None:
    assert format_money(Decimal("5000"), "USD") == "USD 5,000.00"
    assert format_money(HALF_CENT, "GBP") == "GBP 17.87"  # formatting alone would round half even: 17.86


def _draft(world: World, username: str, kind: str, payload: dict[str, object]) -> DraftAction:
    ctx = RequestContext(world.actor(username), channel="assistant", conversation_id="conv-1", tool_call_id="call-1")
    return world.run(lambda s: draft_action(s, ctx, kind=kind, payload=payload))


def _judged(world: World, draft: DraftAction) -> tuple[Decimal, Decimal]:
    """The amount in the draft's policy input, as stored with the draft and as logged with the decision."""

    def read(s: Session) -> Decimal:
        record = s.get(PolicyDecisionRecord, draft.decision_id)
        assert record is not None
        return Decimal(record.facts["amount"])

    return Decimal(draft.facts["amount"]), world.read(read)


def _posted(world: World, order_number: str) -> tuple[Decimal, Decimal]:
    """The order line's amount, and the invoice of shipping the whole order."""
    line_amount = world.read(lambda s: get_order(s, world.actor("wes"), order_number=order_number).lines[0].net_amount)
    invoice = world.run(lambda s: Decimal(ship_order(s, world.actor("wes"), order_number=order_number).amount))
    return line_amount, invoice


def test_an_order_with_a_half_cent_line_is_shown_judged_and_posted_as_one_figure(world: World) -> None:
    # 18.00 (ACME's price list) less 0.75% is 17.865
    payload = {
        "customer": "ACME",
        "lines": [{"sku": "V-200", "quantity": 1, "warehouse": "DAL", "discount_pct": "0.75"}],
    }
    draft = _draft(world, "sam", "sales_order", payload)
    assert draft.status == "executed" and draft.result_ref is not None
    assert "USD 17.87" in draft.summary  # shown
    assert Decimal(draft.amount) == ROUNDED
    assert _judged(world, draft) == (ROUNDED, ROUNDED)  # judged
    assert Decimal(draft.facts["amount_usd"]) == ROUNDED
    assert _posted(world, draft.result_ref) == (ROUNDED, ROUNDED)  # posted


def test_a_price_override_to_a_tenth_of_a_cent_is_shown_judged_and_posted_as_one_figure(world: World) -> None:
    order = _draft(world, "sam", "sales_order", {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1}]})
    assert order.result_ref is not None
    payload = {"order_number": order.result_ref, "line_no": 1, "unit_price": "17.865", "reason": "matched a quote"}
    draft = _draft(world, "sam", "price_override", payload)
    assert draft.status == "pending_approval"
    assert draft.summary.endswith("USD 18.00 → USD 17.87 (matched a quote)")  # shown
    assert Decimal(draft.amount) == ROUNDED
    assert _judged(world, draft) == (ROUNDED, ROUNDED)  # judged
    executed = world.run(lambda s: approve(s, Person(world.actor("gus"), channel="web"), draft_number=draft.id))
    assert executed.status == "executed" and Decimal(executed.amount) == ROUNDED
    assert _posted(world, order.result_ref) == (ROUNDED, ROUNDED)  # posted


def test_a_purchase_order_at_a_tenth_of_a_cent_is_shown_and_judged_as_its_lines_cost(world: World) -> None:
    lines = [{"sku": "V-200", "quantity": 3, "unit_cost": "5.955"}]  # 3 x 5.955 = 17.865
    draft = _draft(world, "bea", "purchase_order", {"supplier": "VALVECO", "warehouse": "DAL", "lines": lines})
    assert "USD 17.87" in draft.summary  # shown
    assert _judged(world, draft) == (ROUNDED, ROUNDED)  # judged
    if draft.status == "executed":  # posted: the order's lines at their cost
        assert draft.result_ref is not None
        po = world.read(lambda s: get_purchase_order(s, world.actor("bea"), po_number=draft.result_ref or ""))
        assert round_money(sum((ln.unit_cost * ln.quantity for ln in po.lines), Decimal(0))) == ROUNDED

"""Money has one rounding rule: an amount shown, judged by the policy and posted is the same figure.

Each case builds an amount that ends in a half cent with an even cent before it (17.865), where
Decimal's default half-even rounding (17.86) and the house rule, half up (17.87), part ways.
"""

import re
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from core.actor import Person
from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, approve, draft_action
from core.finance.service import get_invoice
from core.money import format_money, round_money, round_unit_price
from core.policy import PolicyDecisionRecord
from core.purchasing.service import get_purchase_order
from core.sales.service import get_order, order_status
from core.shipping.service import ship_order
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
    return world.run(lambda s: draft_action(s, ctx, confirmed=True, kind=kind, payload=payload))


def _shown(text: str, which: int = -1) -> Decimal:
    """An amount a text shows ("...; USD 17.87"), by default the last."""
    return Decimal(re.findall(r"USD ([\d,]+\.\d\d)", text)[which].replace(",", ""))


def _judged(world: World, draft: DraftAction) -> dict[str, Decimal]:
    """The amount in the draft's policy input, as stored with the draft and as logged with the decision."""

    def logged(s: Session) -> Decimal:
        record = s.get(PolicyDecisionRecord, draft.decision_id)
        assert record is not None
        return Decimal(record.facts["amount"])

    return {"judged": Decimal(draft.facts["amount"]), "judged (decision log)": world.read(logged)}


def _posted(world: World, order_number: str) -> dict[str, Decimal]:
    """The order line's amount, and the invoice of shipping the whole order."""
    wes, fin = world.actor("wes"), world.actor("fin")
    line = world.read(lambda s: get_order(s, wes, order_number=order_number).lines[0].net_amount)
    world.run(lambda s: ship_order(s, wes, order_number=order_number))

    def invoiced(s: Session) -> Decimal:
        (invoice,) = order_status(s, fin, order_number=order_number).invoices
        return Decimal(get_invoice(s, fin, invoice_number=invoice).amount)

    return {"posted (order line)": line, "posted (invoice)": world.read(invoiced)}


def _every(figures: dict[str, Decimal], value: Decimal) -> dict[str, Decimal]:
    return dict.fromkeys(figures, value)


def test_an_order_with_a_half_cent_line_is_shown_judged_and_posted_as_one_figure(world: World) -> None:
    # 18.00 (ACME's price list) less 0.75% is 17.865
    line = {"sku": "V-200", "quantity": 1, "warehouse": "DAL", "discount_pct": "0.75"}
    draft = _draft(world, "sam", "sales_order", {"customer": "ACME", "lines": [line]})
    assert draft.status == "executed" and draft.result_ref is not None
    figures = {"shown": _shown(draft.summary), "draft amount": Decimal(draft.amount), **_judged(world, draft)}
    figures |= {"judged in USD": Decimal(draft.facts["amount_usd"]), **_posted(world, draft.result_ref)}
    assert figures == _every(figures, ROUNDED)


def test_a_price_override_to_a_tenth_of_a_cent_is_shown_judged_and_posted_as_one_figure(world: World) -> None:
    order = _draft(world, "sam", "sales_order", {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 1}]})
    assert order.result_ref is not None
    payload = {"order_number": order.result_ref, "line_no": 1, "unit_price": "17.865", "reason": "matched a quote"}
    draft = _draft(world, "sam", "price_override", payload)
    assert draft.status == "pending_approval"
    figures = {"shown": _shown(draft.summary), "draft amount": Decimal(draft.amount), **_judged(world, draft)}
    executed = world.run(lambda s: approve(s, Person(world.actor("gus"), channel="web"), draft_number=draft.id))
    assert executed.status == "executed"
    figures |= {"executed draft amount": Decimal(executed.amount), **_posted(world, order.result_ref)}
    assert figures == _every(figures, ROUNDED)
    assert draft.summary.endswith("USD 18.00 → USD 17.87 (matched a quote)")


def test_a_purchase_order_at_a_tenth_of_a_cent_is_shown_and_judged_as_its_lines_cost(world: World) -> None:
    lines = [{"sku": "V-200", "quantity": 3, "unit_cost": "5.955"}]  # 3 x 5.955 = 17.865
    draft = _draft(world, "bea", "purchase_order", {"supplier": "VALVECO", "warehouse": "DAL", "lines": lines})
    assert draft.status == "executed" and draft.result_ref is not None
    number = draft.result_ref
    po = world.read(lambda s: get_purchase_order(s, world.actor("bea"), po_number=number))
    figures = {
        "shown": _shown(draft.summary),
        "the policy's reason": _shown(draft.explanation, 0),
        **_judged(world, draft),
    }
    figures["posted (its lines at cost)"] = round_money(
        sum((ln.unit_cost * ln.quantity for ln in po.lines), Decimal(0))
    )
    assert figures == _every(figures, ROUNDED)

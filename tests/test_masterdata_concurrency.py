"""Master data and credit on PostgreSQL, from two clients at the same instant: a code is taken once, a customer
goes on hold once, and each limit change's diff names the limit it replaced."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.drafts.models import DraftAction
from core.drafts.service import RequestContext, draft_action
from core.finance.credit import change_credit_limit, place_credit_hold
from core.masterdata.changes import change_customer, change_item
from core.masterdata.models import Customer, Item
from tests.concurrency import all_at_once
from tests.world import World


@pytest.mark.postgres
def test_two_clerks_creating_the_same_customer_code_at_once_create_it_once(pg_world: World) -> None:
    clerks = (pg_world.actor("gus"), pg_world.actor("nia"))
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk: change_customer(  # type: ignore[misc]
                s, clerk, code="ZETA", create=True, name=f"Zeta by {clerk.username}", entity="NA"
            )
            for clerk in clerks
        ],
    )
    assert outcomes == {"ok": 1, "duplicate_code": 1}
    assert pg_world.read(lambda s: s.scalar(select(func.count()).where(Customer.code == "ZETA"))) == 1


@pytest.mark.postgres
def test_two_skus_written_differently_are_one_item(pg_world: World) -> None:
    clerks = (pg_world.actor("gus"), pg_world.actor("bea"))
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, clerk=clerk, sku=sku: change_item(  # type: ignore[misc]
                s, clerk, sku=sku, create=True, name="Valve", category="valves", cost=Decimal(1), list_price=Decimal(2)
            )
            for clerk, sku in zip(clerks, ("Q-100", "q100"), strict=True)
        ],
    )
    assert outcomes == {"ok": 1, "duplicate_code": 1}
    assert pg_world.read(lambda s: s.scalar(select(func.count()).where(Item.sku_key == "Q100"))) == 1


@pytest.mark.postgres
def test_a_customer_put_on_hold_by_two_at_once_is_held_once(pg_world: World) -> None:
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, who=who: place_credit_hold(s, who, customer="BOLT", reason="unpaid")  # type: ignore[misc]
            for who in (pg_world.actor("fin"), pg_world.actor("gus"))
        ],
    )
    assert outcomes == {"ok": 1, "invalid_state": 1}


@pytest.mark.postgres
def test_two_limit_changes_at_once_each_replace_the_limit_the_other_left(pg_world: World) -> None:
    results: list[tuple[Decimal, Decimal]] = []
    fin = pg_world.actor("fin")

    def change(limit: int) -> Callable[[Session], None]:
        def command(s: Session) -> None:
            done = change_credit_limit(s, fin, customer="ACME", credit_limit=Decimal(limit))
            results.append((done.before, done.after))

        return command

    outcomes = all_at_once(pg_world, [change(60000), change(70000)])
    assert outcomes == {"ok": 2}
    first, second = sorted(results, key=lambda r: r[0])
    assert first[0] == Decimal("50000.00") and second[0] == first[1]  # the later one saw the earlier's limit


@pytest.mark.postgres
def test_a_hold_drafted_twice_at_once_through_the_gate_executes_once(pg_world: World) -> None:
    ctx = RequestContext(pg_world.actor("fin"), channel="web")
    outcomes = all_at_once(
        pg_world,
        [
            lambda s, n=n: draft_action(  # type: ignore[misc]
                s, ctx, kind="credit_hold", payload={"customer": "BOLT", "reason": f"unpaid {n}"}, confirmed=True
            )
            for n in (1, 2)
        ],
    )
    assert sum(outcomes.values()) == 2 and set(outcomes) <= {"ok", "invalid_state"}, outcomes
    statuses = pg_world.read(lambda s: sorted(d.status for d in s.scalars(select(DraftAction))))
    assert statuses.count("executed") == 1 and len(statuses) == outcomes["ok"]  # the other failed or was refused

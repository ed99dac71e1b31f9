"""The daily briefing: per person, scoped to their entities and roles, each line a count with the top items by
priority, every sentence rendered by code from the data (on both databases)."""

from datetime import date, timedelta

from typer.testing import CliRunner

from assistant.cli import app
from core import clock
from core.db import Database
from core.drafts.service import RequestContext, draft_action
from core.planning.briefing import briefing
from core.sales.service import LineRequest
from core.shipping.service import ship_order
from tests import planning_findings
from tests.world import World


def _brief(world: World, user: str) -> list[tuple[str, int, str, list[str]]]:
    actor = world.actor(user)
    found = world.read(lambda s: briefing(s, actor, today=date(2026, 11, 20)))
    return [(line.topic, line.count, line.text, [i.ref for i in line.items]) for line in found.lines]


def test_a_buyer_sees_the_stock_outs_of_their_entity_with_the_proposed_pos(world: World) -> None:
    cases = world.run(planning_findings.seed)
    x900, v200 = cases["replenishment:X-900:DAL"], cases["replenishment:V-200:DAL"]
    # bea: buyer of NA. The UK finding is another entity's; the late order is routed to sales; no approvals.
    assert _brief(world, "bea") == [
        (
            "replenishment",
            2,
            "2 reorder proposals (2 items run out within the lead time, 2 proposed drafts ready)",
            [x900, v200],  # USD 8,000 at risk before USD 400
        )
    ]
    found = world.read(lambda s: briefing(s, world.actor("bea"), today=date(2026, 11, 20)))
    top = found.lines[0].items[0]
    assert top.link == f"/exceptions?case={x900}"
    assert top.text.endswith("; proposed: PO to VALVECO for 2 X-900 into DAL")
    assert found.headline == (
        "Your briefing for 2026-11-20: 2 reorder proposals "
        "(2 items run out within the lead time, 2 proposed drafts ready)."
    )
    assert f"    {v200}: V-200 will stock out at DAL" in found.text()


def test_a_manager_sees_approvals_waiting_and_every_case_type_of_their_entities(world: World) -> None:
    cases = world.run(planning_findings.seed)
    ctx = RequestContext(world.actor("sam"), "web")
    payload = {"customer": "ACME", "lines": [{"sku": "X-900", "quantity": 1, "warehouse": "DAL"}]}
    draft = world.run(lambda s: draft_action(s, ctx, confirmed=True, kind="sales_order", payload=payload)).number
    lines = _brief(world, "gus")  # manager of NA: may handle any case there
    assert [(topic, count, text) for topic, count, text, _ in lines] == [
        ("approvals", 1, "1 approval waiting"),
        ("replenishment", 2, "2 reorder proposals (2 items run out within the lead time, 2 proposed drafts ready)"),
        ("late_order_risk", 1, "1 order line at risk of missing its promise date"),
    ]
    assert lines[0][3] == [draft] and lines[2][3] == [cases["late_order_risk:SO-1042"]]
    uk = _brief(world, "ulf")  # manager of UK: only the BHM finding
    assert uk == [
        (
            "replenishment",
            1,
            "1 reorder proposal (1 item runs out within the lead time, 1 proposed draft ready)",
            [cases["replenishment:F-300:BHM"]],
        )
    ]


def test_finance_sees_who_to_chase_and_a_quiet_day_says_so(world: World) -> None:
    assert _brief(world, "fin") == []
    quiet = world.read(lambda s: briefing(s, world.actor("fin"), today=date(2026, 11, 20)))
    assert quiet.empty and quiet.headline == "Nothing needs your attention on 2026-11-20."
    number = world.place_order("ACME", LineRequest("V-200", 10, warehouse="DAL"), confirm=True)
    wes, day = world.actor("wes"), clock.today() - timedelta(days=130)
    invoice = world.run(lambda s: f"INV-{ship_order(s, wes, order_number=number, shipped_on=day)[0].id}")
    lines = world.read(lambda s: briefing(s, world.actor("fin")).lines)
    assert [(line.topic, line.count, line.text) for line in lines] == [
        ("collections", 1, "1 customer to chase (ACME 100 days past due)")
    ]
    assert lines[0].items[0].text == f"100 days past due (USD 180.00 past due, oldest {invoice})"
    assert _brief(world, "sam") == []  # sales neither chases money nor handles replenishment


def test_the_cli_prints_a_users_briefing_and_refuses_an_unknown_user(sqlite_demo: Database) -> None:
    env = {"ERP_DATABASE_URL": sqlite_demo.engine.url.render_as_string(False), "COLUMNS": "200"}
    fiona = CliRunner().invoke(app, ["briefing", "--user", "fiona"], env={**env, "ERP_TODAY": "2026-11-20"})
    assert fiona.exit_code == 0, fiona.output
    assert fiona.output.startswith("Your briefing for 2026-11-20: ") and "customers to chase (" in fiona.output
    assert "\n- " in fiona.output and " days past due (USD " in fiona.output
    nobody = CliRunner().invoke(app, ["briefing", "--user", "nobody"], env=env)
    assert nobody.exit_code == 1 and "unknown user 'nobody'" in nobody.output

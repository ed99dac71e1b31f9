"""The daily briefing by Slack DM: each linked user with something to attend to gets theirs at the configured time,
against the fake Slack API (no network)."""

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.channels.slack import SlackConfig
from assistant.channels.slack.bot import SlackBot, briefing_due
from assistant.channels.web.app import create_app
from assistant.llm.scripted import Script
from core.audit import verify_chain
from core.db import Database
from core.planning.briefing import claim_briefing_round
from core.settings import SettingsError, load_settings
from evals.common.fake_slack import FakeSlack
from evals.common.plant import PlantedFinding, PlantedProposal, plant_findings
from tests import web
from tests.test_slack import SECRET, _link
from tests.world import World

RNO = PlantedFinding(
    type="replenishment",  # type: ignore[arg-type]
    entity="NA",
    key="replenishment:V-200:RNO",
    title="V-200 will stock out at RNO on 2026-11-30",
    detail="Order 120 from KEYSTONE.",
    evidence={"sku": "V-200", "warehouse": "RNO"},
    impact=Decimal("1152.00"),
    proposal=PlantedProposal(
        kind="purchase_order",
        payload={"supplier": "KEYSTONE", "warehouse": "RNO", "lines": [{"sku": "V-200", "quantity": 120}]},
        summary="PO to KEYSTONE for 120 V-200 into RNO",
    ),
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def test_each_linked_user_with_something_to_attend_to_gets_a_dm(
    sqlite_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    _link(sqlite_demo, "sam", "maria", "ulrich")
    case = sqlite_demo.run(lambda s: plant_findings(s, [RNO])[0].number)
    config = SlackConfig(bot_token="xoxb-test", signing_secret=SECRET, web_url="http://erp.test", api_url=slack.url)
    app = create_app(web.services(sqlite_demo, Script([]), tmp_path), config)
    with TestClient(app, raise_server_exceptions=False):
        bot: SlackBot = app.state.slack
        sent = asyncio.run(bot.briefing_round(date(2026, 11, 20)))
        assert asyncio.run(bot.briefing_round(date(2026, 11, 20))) == []  # the day's round is claimed: no repeat
    dms = {m["channel"]: m for m in slack.of("chat.postMessage")}
    assert set(sent) == set(dms) and "UMARIA" in dms  # maria: NA's manager sees the stock-out at RNO
    maria = dms["UMARIA"]
    assert maria["text"].startswith("Your briefing for 2026-11-20: ")
    assert "1 reorder proposal (1 proposed draft ready)" in maria["text"]
    blocks = json.loads(maria["blocks"]) if isinstance(maria["blocks"], str) else maria["blocks"]
    assert blocks[0]["text"]["text"] == "Needs your attention · 2026-11-20"
    linked = [b["text"]["text"] for b in blocks[1:] if f"|{case}>" in b["text"]["text"]]
    assert linked and f"<http://erp.test/exceptions?case={case}|{case}>" in linked[0]
    if "UULRICH" in dms:  # UK's manager never hears of NA's stock-out
        assert "RNO" not in dms["UULRICH"]["text"]


def test_the_briefing_is_due_once_a_day_shortly_after_its_time() -> None:
    at = time(8, 0)
    assert briefing_due(datetime(2026, 11, 20, 8, 0), at, None)
    assert briefing_due(datetime(2026, 11, 20, 8, 20), at, date(2026, 11, 19))
    assert not briefing_due(datetime(2026, 11, 20, 8, 20), at, date(2026, 11, 20))  # sent today already
    assert not briefing_due(datetime(2026, 11, 20, 7, 59), at, None)  # not yet
    assert not briefing_due(datetime(2026, 11, 20, 9, 0), at, None)  # a service started at 9 sends none today


def test_the_time_is_a_setting_checked_at_load() -> None:
    assert load_settings({"ERP_BRIEFING_SLACK_AT": "08:00"}).briefing_slack_at == time(8, 0)
    assert load_settings({}).briefing_slack_at is None
    with pytest.raises(SettingsError, match="ERP_BRIEFING_SLACK_AT"):
        load_settings({"ERP_BRIEFING_SLACK_AT": "25:00"})


def test_a_days_round_is_claimed_once_per_channel(db: Database) -> None:
    def claim(channel: str, day: date) -> bool:
        return db.run(lambda s: claim_briefing_round(s, channel=channel, day=day))

    assert claim("slack", date(2026, 11, 20)) and not claim("slack", date(2026, 11, 20))
    assert claim("slack", date(2026, 11, 21)) and claim("email", date(2026, 11, 20))
    assert db.read(verify_chain).ok  # the claim is on the audit log


def test_two_workers_claiming_at_once_claim_the_round_once(pg_world: World) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(pg_world.run(lambda s: claim_briefing_round(s, channel="slack", day=date(2026, 11, 20))))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, True]

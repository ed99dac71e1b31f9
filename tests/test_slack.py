"""The Slack bot mounted in the web service, driven by properly signed requests, against a fake Slack API."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from assistant.channels.slack import SlackConfig
from assistant.channels.slack.blocks import answer_blocks, card_of, decided_block, replace_card
from assistant.channels.web.app import create_app
from assistant.cli import app
from assistant.llm.scripted import Call, Reply, Script
from core.conversations.models import Conversation
from core.db import Database
from core.drafts.models import DraftAction
from core.identity import link_account, linked_user
from core.masterdata.service import load_actor
from evals.common.fake_slack import FakeSlack, event_callback, mention, signed_headers
from tests import web
from tests.web import TRANSFER_OVER_LIMIT

SECRET = "test-signing-secret"
SLACK_IDS = {"sam": "USAM", "maria": "UMARIA", "ulrich": "UULRICH"}
Messages = list[dict[str, Any]]


class Bot:
    """The web app with the bot, a fake Slack, and helpers to send it what Slack would."""

    def __init__(self, client: TestClient, slack: FakeSlack, script: Script, db: Database) -> None:
        self.client, self.slack, self.script, self.db = client, slack, script, db
        self._events = 0

    def post(self, body: str, content_type: str, *, age_s: int = 0, secret: str = SECRET, **headers: str) -> Any:
        sent = signed_headers(body, content_type, secret, age_s=age_s)
        return self.client.post("/slack/events", content=body, headers={**sent, **headers})

    def event(self, event: dict[str, Any], event_id: str | None = None, **headers: str) -> Any:
        self._events += 1
        return self.post(event_callback(event, event_id or f"Ev{self._events}"), "application/json", **headers)

    def mention(self, user: str, text: str, ts: str, thread_ts: str | None = None) -> Any:
        return self.event(mention(user, text, "CSALES", ts, thread_ts))

    def click(
        self, user: str, action: str, number: str, message_ts: str, channel: str, blocks: Messages | None = None
    ) -> Any:
        """A button click on a message (whose `blocks` Slack sends along, as it does for the bot's own messages)."""
        block = f"confirm:{number}" if action in ("draft_confirm", "draft_cancel") else f"decide:{number}"
        message: dict[str, Any] = {"ts": message_ts, **({"blocks": blocks} if blocks is not None else {})}
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user},
            "channel": {"id": channel},
            "message": message,
            "trigger_id": "trigger-1",
            "actions": [{"action_id": action, "value": number, "block_id": block, "type": "button"}],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def _link(db: Database, *usernames: str) -> None:
    admin = db.read(lambda s: load_actor(s, username="admin"))

    def command(s: Any) -> None:
        for name in usernames:
            link_account(s, admin, channel="slack", external_id=SLACK_IDS[name], username=name)

    db.run(command)


def _stock_answer(messages: Messages) -> Reply:
    result = json.loads(messages[-1]["content"])
    return Reply(text=f"**{result['sku']}**: {result['warehouses'][0]['available_now']} available now.")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(emails={"UNEW": "sam@northwind.example"})
    yield fake
    fake.close()


@contextmanager
def _bot(db: Database, tmp_path: Path, slack: FakeSlack, script: Script, approvals: str | None = None) -> Iterator[Bot]:
    """The bot for the length of a `with` block (a block, not a loop: a loop over nothing would skip its asserts)."""
    config = SlackConfig(
        bot_token="xoxb-test",
        signing_secret=SECRET,
        approvals_channel=approvals,
        web_url="http://erp.test",
        api_url=slack.url,
    )
    app = create_app(web.services(db, script, tmp_path), config)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Bot(client, slack, script, db)


@pytest.fixture
def linked_demo(sqlite_demo: Database) -> Database:
    """The demo company on SQLite with sam, maria and ulrich linked to their Slack accounts (no web passwords)."""
    _link(sqlite_demo, "sam", "maria", "ulrich")
    return sqlite_demo


STOCK = [Reply(calls=(Call("check_availability", {"sku": "V-200", "warehouse": "ATL"}),)), _stock_answer]


def test_a_mention_is_answered_in_its_thread_and_the_thread_remembers(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    script = Script([*STOCK, Reply(text="Yes, the same 12.")])
    with _bot(linked_demo, tmp_path, slack, script) as bot:
        assert bot.mention("USAM", "how many V-200 in Atlanta?", ts="1700000000.000100").status_code == 200
        update = slack.wait_for(lambda: slack.of("chat.update"))[0]
        working = slack.of("chat.postMessage")[0]
        assert working["thread_ts"] == "1700000000.000100" and working["text"] == "working…"
        # the model's words, then what the look-up found that they left out, in the records' words
        assert update["ts"] == slack.posted[0] and update["text"].startswith("**V-200**: 12 available now.\n\n")
        assert "From the records: V-200 on hand at ATL: " in update["text"]
        assert update["blocks"][0]["text"]["text"].startswith("*V-200*: 12 available now.")
        bot.mention("USAM", "still true?", ts="1700000000.000200", thread_ts="1700000000.000100")
        slack.wait_for(lambda: len(slack.of("chat.update")) == 2)
        assert [m["content"] for m in script.seen[-1] if m["role"] == "user"] == [
            "how many V-200 in Atlanta?",
            "still true?",
        ]
        keys = linked_demo.read(lambda s: list(s.scalars(select(Conversation.external_key))))
        assert keys == ["slack:T1:CSALES:1700000000.000100"]


def test_a_direct_message_is_answered_in_the_dm(linked_demo: Database, tmp_path: Path, slack: FakeSlack) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(STOCK)) as bot:
        event = {
            "type": "message",
            "channel_type": "im",
            "user": "USAM",
            "text": "V-200 in ATL?",
            "channel": "DSAM",
            "ts": "1.1",
        }
        assert bot.event(event).status_code == 200
        update = slack.wait_for(lambda: slack.of("chat.update"))[0]
        assert update["channel"] == "DSAM" and "12 available" in update["text"]
        assert "thread_ts" not in slack.of("chat.postMessage")[0]


def test_the_slash_command_acknowledges_at_once_and_answers_in_a_thread(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(STOCK)) as bot:
        fields = {
            "command": "/erp",
            "text": "V-200 in Atlanta?",
            "user_id": "USAM",
            "channel_id": "CSALES",
            "team_id": "T1",
        }
        response = bot.post(urlencode(fields), "application/x-www-form-urlencoded")
        assert response.status_code == 200
        update = slack.wait_for(lambda: slack.of("chat.update"))[0]
        asked, working = slack.of("chat.postMessage")[:2]
        assert asked["text"] == "<@USAM> asked: V-200 in Atlanta?" and working["thread_ts"] is not None
        assert "12 available" in update["text"]


def test_an_unlinked_user_is_told_how_to_be_linked_and_nothing_else(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    script = Script(STOCK)
    with _bot(linked_demo, tmp_path, slack, script) as bot:
        bot.mention("UNEW", "how many V-200 in Atlanta?", ts="1700000000.000300")
        note = slack.wait_for(lambda: slack.of("chat.postEphemeral"))[0]
        assert note["user"] == "UNEW" and "not linked" in note["text"] and "UNEW" in note["text"]
        assert "`sam`" in note["text"]  # the ERP user whose email matches the Slack profile
        assert slack.of("chat.postMessage") == [] and script.seen == []
        assert linked_demo.read(lambda s: s.scalars(select(Conversation)).first()) is None


def _preview_by_mention(bot: Bot, text: str = "move 3 P-200 and 5 P-180 from DAL to ATL") -> dict[str, Any]:
    """Sam asks in a channel and the turn drafts: the answer in the thread, with the draft's preview card."""
    bot.mention("USAM", text, ts="1700000000.000400")
    previews: Messages = bot.slack.wait_for(
        lambda: [u for u in bot.slack.of("chat.update") if _buttons(u, "draft_confirm")]
    )
    return previews[0]


def _buttons(message: dict[str, Any], action: str) -> list[dict[str, Any]]:
    elements = [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]
    return [e for e in elements if e["action_id"] == action]


def _asked_approvers(slack: FakeSlack) -> Messages:
    return [m for m in slack.of("chat.postMessage") if _buttons(m, "draft_approve")]


def _draft_by_mention(bot: Bot) -> tuple[str, dict[str, Any]]:
    """Sam asks for a transfer over his limit and confirms its preview: the approvers are asked."""
    preview = _preview_by_mention(bot)
    number = bot.db.read(lambda s: s.scalars(select(DraftAction)).one()).number
    bot.click("USAM", "draft_confirm", number, preview["ts"], preview["channel"], preview["blocks"])
    request = bot.slack.wait_for(lambda: [m for m in bot.slack.of("chat.postMessage") if m["channel"] == "UMARIA"])[0]
    return number, request


DRAFTING = [Reply(calls=(Call("draft_transfer", TRANSFER_OVER_LIMIT),))]  # code answers the preview
SMALL_TRANSFER = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "P-200", "quantity": 1}]}
SMALL = [Reply(calls=(Call("draft_transfer", SMALL_TRANSFER),))]


def _status(db: Database) -> str:
    return db.read(lambda s: s.scalars(select(DraftAction)).one()).status


def test_a_mention_that_drafts_shows_the_preview_with_confirm_and_asks_no_approver(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING), approvals="CAPPROVALS") as bot:
        preview = _preview_by_mention(bot)
        number = linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).number
        answer = preview["text"]  # code's words for a preview: never "waits for a manager" before the confirm
        assert preview["ts"] == slack.posted[0] and answer.startswith(f"{number} is a preview: ")
        assert "Nothing changes until you confirm" in answer and "pending" not in answer and "waits" not in answer
        linked = answer.replace(number, f"<http://erp.test/inbox#{number}|{number}>")  # the draft links to the inbox
        assert preview["blocks"][0]["text"]["text"] == linked  # the answer stays first
        actions = next(b for b in preview["blocks"] if b["type"] == "actions")
        assert actions["block_id"] == f"confirm:{number}"
        assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
            ("draft_confirm", number),
            ("draft_cancel", number),
        ]
        shown = json.dumps(preview["blocks"])
        assert "Only <@USAM> can confirm" in shown and "If confirmed: Needs approval by a manager" in shown
        assert "transfer.value" in shown  # the policy's reason, as the approvers will see it
        assert _status(linked_demo) == "unconfirmed"
        assert [m["text"] for m in slack.of("chat.postMessage")] == ["working…"]  # no approver, no channel asked
        assert _asked_approvers(slack) == []


def test_the_requesters_confirm_executes_a_small_draft_and_keeps_the_answer(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(SMALL), approvals="CAPPROVALS") as bot:
        preview = _preview_by_mention(bot, "move 1 P-200 from DAL to ATL")
        number = linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).number
        assert "If confirmed: Can go ahead" in json.dumps(preview["blocks"])
        bot.click("USAM", "draft_confirm", number, preview["ts"], preview["channel"], preview["blocks"])
        done = slack.wait_for(lambda: [u for u in slack.of("chat.update") if "Confirmed by" in u["text"]])[0]
        assert done["ts"] == preview["ts"] and "executed as TR-" in done["text"]
        assert done["blocks"][0] == preview["blocks"][0]  # the answer above the card is kept
        assert not _buttons(done, "draft_confirm") and f"*<http://erp.test/inbox#{number}|{number}>*" in json.dumps(
            done["blocks"]
        )
        assert _status(linked_demo) == "executed"
        time.sleep(0.3)
        assert _asked_approvers(slack) == [] and slack.of("chat.postEphemeral") == []


def test_the_requesters_confirm_of_a_large_draft_asks_the_approvers_then(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING), approvals="CAPPROVALS") as bot:
        number, request = _draft_by_mention(bot)
        done = slack.wait_for(lambda: [u for u in slack.of("chat.update") if "Confirmed by" in u["text"]])[0]
        assert "waiting for approval by manager of NA" in done["text"] and not _buttons(done, "draft_confirm")
        assert _status(linked_demo) == "pending_approval"
        assert slack.wait_for(lambda: [m for m in _asked_approvers(slack) if m["channel"] == "CAPPROVALS"])
        assert [(b["action_id"], b["value"]) for b in _buttons(request, "draft_approve")] == [("draft_approve", number)]


def test_someone_elses_confirm_is_refused_and_changes_nothing(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING), approvals="CAPPROVALS") as bot:
        preview = _preview_by_mention(bot)
        number = linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).number
        bot.click("UMARIA", "draft_confirm", number, preview["ts"], preview["channel"], preview["blocks"])
        refused = slack.wait_for(lambda: [e for e in slack.of("chat.postEphemeral") if e["user"] == "UMARIA"])[0]
        assert refused["text"] == f"You can't confirm {number}: only the person who asked for {number} can confirm it"
        bot.click("UMARIA", "draft_cancel", number, preview["ts"], preview["channel"], preview["blocks"])
        slack.wait_for(lambda: len(slack.of("chat.postEphemeral")) == 2)
        assert _status(linked_demo) == "unconfirmed"
        assert [u["ts"] for u in slack.of("chat.update")] == [preview["ts"]]  # the card is as it was
        assert _asked_approvers(slack) == []


def test_cancel_withdraws_the_preview_and_a_later_confirm_is_refused(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING), approvals="CAPPROVALS") as bot:
        preview = _preview_by_mention(bot)
        number = linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).number
        bot.click("USAM", "draft_cancel", number, preview["ts"], preview["channel"], preview["blocks"])
        done = slack.wait_for(lambda: [u for u in slack.of("chat.update") if "Cancelled by" in u["text"]])[0]
        assert "nothing was changed" in done["text"] and not _buttons(done, "draft_confirm")
        assert _status(linked_demo) == "cancelled"
        bot.click("USAM", "draft_confirm", number, preview["ts"], preview["channel"], preview["blocks"])
        late = slack.wait_for(lambda: slack.of("chat.postEphemeral"))[0]
        assert late["user"] == "USAM" and f"You can't confirm {number}: {number} is cancelled" in late["text"]
        assert _status(linked_demo) == "cancelled" and _asked_approvers(slack) == []


def test_a_second_confirm_click_is_answered_once(linked_demo: Database, tmp_path: Path, slack: FakeSlack) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING)) as bot:
        number, _ = _draft_by_mention(bot)
        preview = slack.of("chat.update")[0]
        bot.click("USAM", "draft_confirm", number, preview["ts"], preview["channel"], preview["blocks"])
        again = slack.wait_for(lambda: slack.of("chat.postEphemeral"))[0]
        assert f"You can't confirm {number}: {number} is pending_approval" in again["text"]
        assert (
            len(_asked_approvers(slack)) == 1
            and len([u for u in slack.of("chat.update") if "Confirmed" in u["text"]]) == 1
        )


def test_a_draft_asked_for_in_a_direct_message_is_confirmed_there(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(SMALL)) as bot:
        event = {
            "type": "message",
            "channel_type": "im",
            "user": "USAM",
            "text": "1 P-200 DAL to ATL",
            "channel": "DSAM",
        }
        bot.event({**event, "ts": "2.1"})
        preview = slack.wait_for(lambda: [u for u in slack.of("chat.update") if _buttons(u, "draft_confirm")])[0]
        number = _buttons(preview, "draft_confirm")[0]["value"]
        assert preview["channel"] == "DSAM" and _status(linked_demo) == "unconfirmed"
        bot.click("USAM", "draft_confirm", number, preview["ts"], "DSAM", preview["blocks"])
        slack.wait_for(lambda: [u for u in slack.of("chat.update") if "executed as TR-" in u["text"]])
        assert _status(linked_demo) == "executed"


def test_a_draft_needing_approval_asks_the_linked_approver_with_buttons(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING), approvals="CAPPROVALS") as bot:
        number, request = _draft_by_mention(bot)
        assert slack.wait_for(lambda: [m for m in slack.of("chat.postMessage") if m["channel"] == "CAPPROVALS"])
        buttons = next(b for b in request["blocks"] if b["type"] == "actions")["elements"]
        assert [(b["action_id"], b["value"]) for b in buttons] == [("draft_approve", number), ("draft_reject", number)]
        assert any("transfer.value" in json.dumps(b) for b in request["blocks"])
        asked = {m["channel"] for m in slack.of("chat.postMessage")}
        assert "UULRICH" not in asked  # a UK manager may not approve an NA draft: not asked


def test_the_approvers_click_executes_the_draft_updates_the_message_and_tells_the_requester(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING)) as bot:
        number, _ = _draft_by_mention(bot)
        assert bot.click("UMARIA", "draft_approve", number, "1700000000.009999", "UMARIA").status_code == 200
        done = slack.wait_for(lambda: [u for u in slack.of("chat.update") if u["ts"] == "1700000000.009999"])[0]
        assert "Approved by Maria Lopez" in done["text"] and "executed as TR-" in done["text"]
        assert all(b["type"] != "actions" for b in done["blocks"])
        draft = linked_demo.read(lambda s: s.scalars(select(DraftAction)).one())
        assert draft.status == "executed"
        told = slack.wait_for(lambda: [m for m in slack.of("chat.postMessage") if "was approved" in m["text"]])[0]
        assert told["channel"] == "CSALES" and told["thread_ts"] == "1700000000.000400"


def test_the_requesters_own_click_and_a_foreign_managers_click_are_refused(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING)) as bot:
        number, _ = _draft_by_mention(bot)
        bot.click("USAM", "draft_approve", number, "1700000000.009999", "UMARIA")
        own = slack.wait_for(lambda: [e for e in slack.of("chat.postEphemeral") if e["user"] == "USAM"])[0]
        assert "someone else must" in own["text"]
        bot.click("UULRICH", "draft_approve", number, "1700000000.009999", "UULRICH")
        foreign = slack.wait_for(lambda: [e for e in slack.of("chat.postEphemeral") if e["user"] == "UULRICH"])[0]
        assert f"can't approve {number}" in foreign["text"]
        assert linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).status == "pending_approval"
        assert slack.of("chat.update") == [u for u in slack.of("chat.update") if u["ts"] != "1700000000.009999"]


def test_reject_asks_for_a_comment_in_a_modal(linked_demo: Database, tmp_path: Path, slack: FakeSlack) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(DRAFTING)) as bot:
        number, _ = _draft_by_mention(bot)
        bot.click("UMARIA", "draft_reject", number, "1700000000.009999", "UMARIA")
        modal = slack.wait_for(lambda: slack.of("views.open"))[0]
        view = modal["view"] if isinstance(modal["view"], dict) else json.loads(modal["view"])
        submission = {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": "UMARIA"},
            "view": {
                **view,
                "state": {"values": {"comment": {"text": {"type": "plain_text_input", "value": "not now"}}}},
            },
        }
        bot.post(urlencode({"payload": json.dumps(submission)}), "application/x-www-form-urlencoded")
        slack.wait_for(lambda: [u for u in slack.of("chat.update") if "Rejected by Maria Lopez" in u["text"]])
        assert linked_demo.read(lambda s: s.scalars(select(DraftAction)).one()).status == "rejected"


def test_bad_signatures_stale_timestamps_and_retries_are_refused_or_answered_once(
    linked_demo: Database, tmp_path: Path, slack: FakeSlack
) -> None:
    with _bot(linked_demo, tmp_path, slack, Script(STOCK)) as bot:
        body = event_callback({}, "EvX")
        assert bot.post(body, "application/json", secret="wrong-secret").status_code == 401
        assert bot.post(body, "application/json", age_s=600).status_code == 401
        event = mention("USAM", "V-200?", "CSALES", "5.5")
        assert bot.event(event, event_id="EvSame").status_code == 200
        assert (
            bot.event(
                event, event_id="EvSame", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            ).status_code
            == 200
        )
        assert bot.event(event, event_id="EvSame").status_code == 200
        slack.wait_for(lambda: slack.of("chat.update"))
        time.sleep(0.5)
        assert len([m for m in slack.of("chat.postMessage") if m["text"] == "working…"]) == 1
        assert linked_demo.read(lambda s: len(list(s.scalars(select(Conversation))))) == 1


def test_without_a_token_and_secret_the_slack_route_says_it_is_off(sqlite_demo: Database, tmp_path: Path) -> None:
    with web.app(sqlite_demo, tmp_path) as client:
        response = client.post("/slack/events", json={"type": "url_verification"})
    assert response.status_code == 404 and "not configured" in response.json()["message"]


def test_admins_link_slack_users_from_the_command_line(sqlite_demo: Database) -> None:
    url = sqlite_demo.engine.url.render_as_string(hide_password=False)
    env = {"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    linked = CliRunner().invoke(app, ["slack", "link", "U0NEW", "sam"], env=env)
    assert linked.exit_code == 0 and "U0NEW now speaks for sam" in linked.output
    assert "U0NEW" in CliRunner().invoke(app, ["slack", "links"], env=env).output
    refused = CliRunner().invoke(app, ["slack", "link", "U0X", "grace", "--by", "sam"], env=env)
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    assert CliRunner().invoke(app, ["slack", "unlink", "U0NEW"], env=env).exit_code == 0
    assert sqlite_demo.read(lambda s: linked_user(s, channel="slack", external_id="U0NEW")) is None


def test_answers_become_block_kit_with_tables_as_fields_and_ids_linked() -> None:
    text = (
        "**V-200** at NA:\n\n| Warehouse | Available |\n|---|---:|\n| ATL | 12 |\n| DAL | 368 |\n\nSee SO-12 and DR-7."
    )
    blocks = answer_blocks(text, "http://erp.test")
    assert blocks[0]["text"]["text"] == "*V-200* at NA:"
    assert [f["text"] for f in blocks[1]["fields"]] == ["*ATL*\n12", "*DAL*\n368"]
    assert (
        blocks[2]["text"]["text"]
        == "See <http://erp.test/api/records/SO-12|SO-12> and <http://erp.test/inbox#DR-7|DR-7>."
    )


def test_socket_mode_says_which_tokens_it_needs() -> None:
    result = CliRunner().invoke(app, ["slack", "socket"], env={"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": ""})
    assert result.exit_code == 1 and "SLACK_APP_TOKEN (xapp-" in result.output


def test_a_clicked_card_is_replaced_where_it_stood_and_the_rest_of_the_message_is_kept() -> None:
    answer = {"type": "section", "text": {"type": "mrkdwn", "text": "Two previews."}}
    first = card_of("DR-1", [{"type": "section", "text": {"type": "mrkdwn", "text": "one"}}])
    second = card_of("DR-2", [{"type": "section", "text": {"type": "mrkdwn", "text": "two"}}])
    buttons = [{"type": "actions", "block_id": f"confirm:DR-{n}", "elements": []} for n in (1, 2)]
    message = [answer, *first, buttons[0], *second, buttons[1]]
    done = card_of("DR-1", [decided_block("Confirmed")])
    assert replace_card(message, "DR-1", done) == [answer, *done, *second, buttons[1]]
    assert replace_card([answer], "DR-3", done) == [answer, *done]  # a message without the card: added at the end

"""The channels an attack goes through: the web chat (SSE), Slack (signed events) and the terminal chat."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from assistant.cli import app as cli_app
from core.db import Database
from core.identity import issue_token, link_account
from core.masterdata.service import load_actor
from evals.common.fake_slack import FakeSlack, event_callback, mention, signed_headers
from evals.hardening.injection.model import ATTACKER

SLACK_SECRET = "injection-signing-secret"
SLACK_IDS = {"sam": "USAM", "maria": "UMARIA"}  # maria, NA's manager, is told of the drafts that wait for her
SLACK_CHANNEL = "CSALES"


# --- The channels ---------------------------------------------------------------------------------


class ChannelFailed(RuntimeError):
    """A channel did not answer as it should (a status, an exit code, a timeout): the cell tested nothing."""


class Channel(Protocol):
    """Sends Sam's message one way and returns everything Sam is shown in answer."""

    name: str

    def ask(self, text: str) -> str: ...


@dataclass
class WebChat:
    """`POST /api/conversations/{id}/messages` with Sam's API token, in a new conversation each time."""

    client: TestClient
    token: str
    name: str = "web"

    def ask(self, text: str) -> str:
        headers = {"Authorization": f"Bearer {self.token}"}
        created = self.client.post("/api/conversations", json={}, headers=headers)
        if created.status_code != 201:
            raise ChannelFailed(f"web: opening a conversation gave {created.status_code}: {created.text[:300]}")
        answer = self.client.post(
            f"/api/conversations/{created.json()['id']}/messages", json={"text": text}, headers=headers
        )
        if answer.status_code != 200 or "event: answer" not in answer.text:
            raise ChannelFailed(f"web: the turn gave {answer.status_code}: {answer.text[-300:]}")
        return answer.text


@dataclass
class SlackChat:
    """A signed `app_mention` from Sam's Slack account in a new thread; what the bot then posts where Sam sees it."""

    client: TestClient
    slack: FakeSlack
    name: str = "slack"
    sent: int = 0

    def ask(self, text: str) -> str:
        self.sent += 1
        seen, answered = len(self.slack.calls), len(self.slack.of("chat.update"))
        body = event_callback(
            mention(SLACK_IDS[ATTACKER], text, SLACK_CHANNEL, f"1800000000.{self.sent:06d}"), f"EvInj{self.sent}"
        )
        response = self.client.post(
            "/slack/events", content=body, headers=signed_headers(body, "application/json", SLACK_SECRET)
        )
        if response.status_code != 200:
            raise ChannelFailed(f"slack: the event gave {response.status_code}: {response.text[:300]}")
        try:
            self.slack.wait_for(lambda: len(self.slack.of("chat.update")) > answered, timeout=60)
        except TimeoutError as error:
            raise ChannelFailed(f"slack: no answer: {error}") from None
        shown = [arguments for method, arguments in self.slack.calls[seen:] if _shown_to_sam(method, arguments)]
        return json.dumps(shown, ensure_ascii=False)


def _shown_to_sam(method: str, arguments: dict[str, Any]) -> bool:
    """A message in Sam's channel or DM, or one only he sees."""
    posted = method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
    where = {arguments.get("channel"), arguments.get("user")}
    return posted and bool(where & {SLACK_CHANNEL, SLACK_IDS[ATTACKER]})


@dataclass
class TerminalChat:
    """`erp-assistant chat --user sam -m TEXT`, the real command in-process, over the same database."""

    env: dict[str, str]
    name: str = "terminal"

    def ask(self, text: str) -> str:
        result = CliRunner().invoke(cli_app, ["chat", "--user", ATTACKER, "-m", text], env=self.env)
        if result.exit_code != 0:
            raise ChannelFailed(f"terminal: exit {result.exit_code}: {result.output[-300:]}")
        return result.output


def terminal_env(db: Database, workdir: Path, model: str) -> dict[str, str]:
    """The environment the terminal chat reads its database, data folder and model from."""
    return {
        "ERP_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "ERP_DATA_DIR": str(workdir / "terminal-data"),
        "ERP_ASSISTANT_MODEL": model,
        "COLUMNS": "200",
        "CHROMA_HOST": "",
    }


def link_slack_users(db: Database) -> None:
    """Sam's and Maria's Slack accounts, linked by the admin."""

    def command(session: Session) -> None:
        admin = load_actor(session, username="admin")
        for username, slack_id in SLACK_IDS.items():
            link_account(session, admin, channel="slack", external_id=slack_id, username=username)

    db.run(command)


def attacker_token(db: Database) -> str:
    """An API token of Sam's, for the web channel."""
    return db.run(lambda s: issue_token(s, load_actor(s, username=ATTACKER), name="injection suite", days=1).token)

"""Helpers for the web service's tests: an app over a test database and a scripted model, signed-in clients."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from assistant.agent import Assistant
from assistant.channels.web.app import create_app
from assistant.channels.web.services import Services, WebConfig
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.db import Database
from core.identity import set_password
from evals.common.sse import sse_events

PASSWORD = "correct horse battery"  # every test user's password
# The users the `demo` fixture (conftest.py) signs up; wes is left without a password on purpose (a refused sign-in).
WEB_USERS = ("sam", "maria", "uma", "grace", "fiona")
TRANSFER_OVER_LIMIT = {  # worth about USD 15,000: over the USD 10,000 a transfer may move without a manager
    "from_warehouse": "DAL",
    "to_warehouse": "ATL",
    "lines": [{"sku": "P-200", "quantity": 3}, {"sku": "P-180", "quantity": 5}],
}


def password_for(username: str) -> str:
    return f"{PASSWORD} {username}"


def set_passwords(db: Database, *usernames: str) -> None:
    def command(s: Any) -> None:
        for name in usernames:
            set_password(s, username=name, password=password_for(name))

    db.run(command)


def services(db: Database, script: Script, tmp_path: Path, **config: Any) -> Services:
    """The web service's parts over `db`, answering with `script`."""
    checkpointer = open_checkpointer("sqlite://", sqlite_path=tmp_path / "web-conversations.db")
    settings = ModelSettings(model=scripted_model(script), retries=0)
    assistant = Assistant(db, checkpointer, channel="web", settings=settings)
    return Services(db, assistant, WebConfig(**{"secure_cookies": "auto", "widget_origins": [], **config}))


@contextmanager
def client(svc: Services, *, base_url: str = "http://testserver") -> Iterator[TestClient]:
    with TestClient(create_app(svc), base_url=base_url, raise_server_exceptions=False) as c:
        yield c


@contextmanager
def app(db: Database, tmp_path: Path, script: Script | None = None, **config: Any) -> Iterator[TestClient]:
    """A client of the web service over `db`, answering with `script` (by default a model with nothing to say)."""
    with client(services(db, Script([]) if script is None else script, tmp_path, **config)) as c:
        yield c


def sign_in(c: TestClient, username: str) -> dict[str, str]:
    """Sign `c` in as `username`; returns the headers its unsafe requests need (the CSRF token)."""
    response = c.post("/api/session", json={"username": username, "password": password_for(username)})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


events = sse_events  # the one parser, shared with the evals

"""What the tools and the API say: each answer as allowed, refused (with its code) or an error."""

from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi.testclient import TestClient

from evals.common.sse import json_or_none, leading_json, sse_events
from evals.common.web import chat_text
from evals.hardening.access.cells import ALLOWED, REFUSAL_CODES, REFUSED
from tools.outcome import ToolOutcome

# --- What the tools and the API say ------------------------------------------------------------


class Response(Protocol):
    """What is read of an HTTP answer (the test client's response)."""

    status_code: int

    @property
    def text(self) -> str: ...


def tool_outcome(outcome: ToolOutcome) -> str:
    """`allowed`, `refused <code>`, or the unexpected error, from a tool's outcome."""
    error = outcome.error
    if error is None:
        return ALLOWED
    return REFUSED + error.code if error.code in REFUSAL_CODES else f"error {error.code}: {error.message}"


def http_outcome(response: Response) -> str:
    """`allowed`, `refused <code>` (a 403 or 404 with that code), or the unexpected answer."""
    if response.status_code < 300:
        return ALLOWED
    body = json_or_none(response.text)
    code = body.get("code") if isinstance(body, dict) else None
    if response.status_code in (403, 404) and code in REFUSAL_CODES:
        return REFUSED + str(code)
    return f"error {response.status_code} {code}: {response.text[:200]}"


def chat_outcomes(response: Response, calls: int) -> list[str]:
    """Each tool's verdict, as the chat's answer carries them."""
    if response.status_code != 200:
        return [http_outcome(response)] * calls
    answers = [data for name, data in sse_events(response.text) if name == "answer"]
    said = leading_json(answers[0]["text"]) if answers else None
    results = [said] if calls == 1 else said
    if not isinstance(results, list) or len(results) != calls or not all(isinstance(r, dict) for r in results):
        return [f"error: no tool results in the answer: {response.text[-300:]}"] * calls
    return [tool_outcome(ToolOutcome.from_json(r)) for r in results]


@dataclass
class Web:
    """The API as each user reaches it: a bearer token each, a conversation each for the chat."""

    client: TestClient
    tokens: dict[str, str]
    threads: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def get(self, username: str, path: str) -> str:
        return http_outcome(self.client.get(path, headers=self.headers(username)))

    def post(self, username: str, path: str, body: dict[str, Any]) -> str:
        return http_outcome(self.client.post(path, json=body, headers=self.headers(username)))

    def chat(self, username: str, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Ask for `calls` in one chat message (one turn, the tools called one after the other)."""
        if username not in self.threads:
            created = self.client.post("/api/conversations", json={}, headers=self.headers(username))
            self.threads[username] = str(created.json()["id"])
        path = f"/api/conversations/{self.threads[username]}/messages"
        text = "\n".join(chat_text(tool, arguments) for tool, arguments in calls)
        return chat_outcomes(self.client.post(path, json={"text": text}, headers=self.headers(username)), len(calls))

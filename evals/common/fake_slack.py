"""A stand-in for Slack's Web API on 127.0.0.1 that records every call the bot makes, and the signed
requests Slack itself would send the bot (events, with the headers of the app's signing secret).

The tests of the Slack bot and the hardening runs both drive the bot this way.
"""

import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

Call = tuple[str, dict[str, Any]]
TEAM = "T1"  # the workspace the fake answers for (`auth.test`)
BOT_USER = "UBOT"


def signed_headers(body: str, content_type: str, secret: str, *, age_s: int = 0) -> dict[str, str]:
    """The headers Slack sends with `body`: a timestamp `age_s` old and its signature with `secret`."""
    timestamp = str(int(time.time()) - age_s)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": content_type}


def event_callback(event: dict[str, Any], event_id: str) -> str:
    """The JSON body Slack posts to the Events API for one event of the workspace."""
    return json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": event_id, "event": event})


def mention(user: str, text: str, channel: str, ts: str, thread_ts: str | None = None) -> dict[str, Any]:
    """An `app_mention` event: `user` writes "@erp `text`" in `channel` (in a thread when `thread_ts`)."""
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "channel": channel, "ts": ts}
    return {**event, **({"thread_ts": thread_ts} if thread_ts else {})}


class FakeSlack:
    """Answers like Slack for the methods the bot uses; `calls` holds (method, arguments) in order."""

    def __init__(self, emails: dict[str, str] | None = None) -> None:
        self.calls: list[Call] = []
        self.posted: list[str] = []  # the ts of each chat.postMessage, in order
        self.emails = emails or {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                self._answer(path.rsplit("/", 1)[-1], dict(parse_qsl(query)))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                is_json = "json" in self.headers.get("Content-Type", "")
                path, _, query = self.path.partition("?")
                arguments = {**dict(parse_qsl(query)), **(json.loads(raw or "{}") if is_json else dict(parse_qsl(raw)))}
                self._answer(path.rsplit("/", 1)[-1], arguments)

            def _answer(self, method: str, arguments: dict[str, Any]) -> None:
                body = json.dumps(fake.reply(method, arguments)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((method, arguments))
            ts = f"1700000000.{next(self._ts):06d}"
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": TEAM, "user": "erp"}
        if method == "users.info":
            user = arguments.get("user", "")
            return {"ok": True, "user": {"id": user, "profile": {"email": self.emails.get(user, "")}}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "chat.postMessage":
            with self._lock:
                self.posted.append(ts)
        return {"ok": True, "channel": arguments.get("channel"), "ts": arguments.get("ts", ts)}

    def of(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call of `method`, in order."""
        with self._lock:
            return [arguments for name, arguments in self.calls if name == method]

    def wait_for(self, check: Callable[[], Any], timeout: float = 20) -> Any:
        """Wait until `check()` is truthy (the bot answers in the background) and return it."""
        deadline = time.monotonic() + timeout
        while not (found := check()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s; Slack saw {self.calls}")
            time.sleep(0.05)
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

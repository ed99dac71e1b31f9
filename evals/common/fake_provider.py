"""A fake OpenAI-compatible model server on loopback, to fail the way a hosted provider fails.

The assistant reaches a hosted model through litellm and the OpenAI SDK over HTTP, where the
configured timeout is enforced by the HTTP client. To test that path, this server plays a list
of steps, one per request: stream a tool call, stream an answer, answer with an HTTP error, or
hang (accept the request and say nothing until the server stops); once they are played, every
request gets the step `then` (set it to let a failing provider recover). Point litellm at it with
`openai/<any name>` and `OPENAI_BASE_URL=<base_url>` (see `pointed_at`).
"""

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

StepKind = Literal["tool_call", "answer", "error", "hang"]


@dataclass(frozen=True)
class Step:
    """What the server does with one request."""

    kind: StepKind
    name: str = ""  # the tool, for a tool call
    arguments: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # the answer, or the error's message
    status: int = 500  # for an error


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def stream_of(step: Step) -> bytes:
    """The Server-Sent-Event body of a streamed tool call or answer, as OpenAI sends it."""
    if step.kind == "tool_call":
        call = {
            "index": 0,
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
        }
        frames = [_chunk({"role": "assistant", "content": None, "tool_calls": [call]}), _chunk({}, "tool_calls")]
    else:
        frames = [_chunk({"role": "assistant", "content": step.text}), _chunk({}, "stop")]
    return b"".join(frames) + b"data: [DONE]\n\n"


class FakeProvider:
    """The server: plays its steps in order, then `then`; counts requests; releases hangs on stop."""

    def __init__(self, steps: list[Step], then: Step) -> None:
        self.steps = list(steps)
        self.then = then
        self.requests = 0
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def next_step(self) -> Step:
        with self._lock:
            self.requests += 1
            index = self.requests - 1
        return self.steps[index] if index < len(self.steps) else self.then

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_for(provider: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the run reports what matters
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            step = provider.next_step()
            if step.kind == "hang":
                provider.released.wait()
                return
            if step.kind == "error":
                self._send(step.status, "application/json", json.dumps({"error": {"message": step.text}}).encode())
                return
            self._send(200, "text/event-stream", stream_of(step))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def fake_provider(steps: list[Step], then: Step) -> Iterator[FakeProvider]:
    """A started fake provider, stopped afterwards (hung requests are let go then)."""
    provider = FakeProvider(steps, then)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@contextmanager
def pointed_at(provider: FakeProvider) -> Iterator[str]:
    """Point litellm's `openai/` models at the fake provider for the block; the model string to use."""
    saved = {name: os.environ.get(name) for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY")}
    os.environ.update(OPENAI_BASE_URL=provider.base_url, OPENAI_API_BASE=provider.base_url, OPENAI_API_KEY="sk-fake")
    try:
        yield "openai/fake-provider"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

"""The web service as a real server on a loopback port, reached from this process: signed-in httpx clients."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

TURN_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread of this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Signed:
    """A signed-in client: its own cookie jar and connection, and the CSRF token its POSTs send."""

    client: httpx.AsyncClient
    headers: dict[str, str]


def _client(base_url: str, *, keep_alive: bool = True) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4 if keep_alive else 0)
    return httpx.AsyncClient(base_url=base_url, timeout=TURN_TIMEOUT_S, limits=limits)


def error_code(response: httpx.Response) -> str:
    """The `code` of an error body, or "" when there is none."""
    with suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return str(body.get("code", ""))
    return ""


async def sign_in(base_url: str, username: str, password: str, *, keep_alive: bool = True) -> tuple[Signed, float]:
    client = _client(base_url, keep_alive=keep_alive)
    started = time.perf_counter()
    response = await client.post("/api/session", json={"username": username, "password": password})
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        await client.aclose()
        raise RuntimeError(f"{username} could not sign in: HTTP {response.status_code} {response.text[:200]}")
    return Signed(client, {"X-CSRF-Token": response.json()["csrf_token"]}), seconds


async def new_conversation(signed: Signed) -> str:
    response = await signed.client.post("/api/conversations", json={}, headers=signed.headers)
    if response.status_code != 201:
        raise RuntimeError(f"could not start a conversation: HTTP {response.status_code} {response.text[:200]}")
    return str(response.json()["id"])

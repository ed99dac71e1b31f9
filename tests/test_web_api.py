"""The web API with FastAPI's test client: sign-in, tokens, CSRF, errors, conversations and SSE chat."""

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from assistant.llm.scripted import Script
from core.db import Database
from core.identity import WebSession
from tests import web

Messages = list[dict[str, Any]]


# --- sign-in, sessions, tokens ----------------------------------------------------------------


def test_signing_in_sets_an_httponly_samesite_cookie_and_me_names_the_user(client: TestClient) -> None:
    response = client.post("/api/session", json={"username": "sam", "password": web.password_for("sam")})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "erp_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    me = client.get("/api/me").json()
    assert (me["username"], me["entities"], me["roles"], me["can_approve"]) == ("sam", ["NA"], ["sales"], False)
    assert me["csrf_token"]
    client.cookies.clear()
    web.sign_in(client, "maria")
    assert client.get("/api/me").json()["can_approve"] is True


def test_the_cookie_is_secure_when_the_service_is_reached_over_https(demo: Database, tmp_path: Path) -> None:
    with web.client(web.services(demo, Script([]), tmp_path), base_url="https://erp.example") as c:
        response = c.post("/api/session", json={"username": "sam", "password": web.password_for("sam")})
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("username", "password"), [("sam", "wrong password"), ("nobody", "whatever it is"), ("wes", "no password set")]
)
def test_a_failed_sign_in_says_the_same_thing_whatever_was_wrong(
    client: TestClient, username: str, password: str
) -> None:
    response = client.post("/api/session", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json() == {"code": "sign_in_failed", "message": "wrong username or password"}
    assert "set-cookie" not in response.headers


def test_without_signing_in_every_api_route_answers_401(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/me"),
        ("GET", "/api/conversations"),
        ("GET", "/api/approvals"),
        ("GET", "/api/drafts/DR-1"),
        ("GET", "/api/exceptions"),
        ("GET", "/api/records/V-200"),
        ("POST", "/api/conversations"),
    ]:
        response = client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_signed_in"


def test_a_cookie_session_must_send_its_csrf_token_on_writes(client: TestClient) -> None:
    headers = web.sign_in(client, "sam")
    refused = client.post("/api/conversations", json={})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    forged = client.post("/api/conversations", json={}, headers={"X-CSRF-Token": "guessed"})
    assert forged.status_code == 403
    assert client.post("/api/conversations", json={}, headers=headers).status_code == 201


def test_signing_out_ends_the_session_on_the_server(client: TestClient, demo: Database) -> None:
    headers = web.sign_in(client, "sam")
    stolen = client.cookies.get("erp_session")
    forged = client.delete("/api/session")  # another site cannot sign sam out: it has no CSRF token
    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_failed")
    assert client.get("/api/me").status_code == 200
    assert client.delete("/api/session", headers=headers).status_code == 204
    client.cookies.set("erp_session", stolen or "")
    assert client.get("/api/me").status_code == 401
    assert demo.read(lambda s: s.scalar(select(func.count()).where(WebSession.revoked_at.is_(None)))) == 0
    assert client.delete("/api/session").status_code == 204  # a cookie whose session ended is just cleared


def test_an_api_token_works_as_a_bearer_until_it_is_revoked(client: TestClient) -> None:
    headers = web.sign_in(client, "sam")
    created = client.post("/api/tokens", json={"name": "reporting script", "days": 30}, headers=headers)
    assert created.status_code == 201
    token = created.json()["token"]
    program = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    assert client.get("/api/me", headers=program).json()["username"] == "sam"
    listed = client.get("/api/tokens", headers=program).json()["tokens"]
    assert [t["name"] for t in listed] == ["reporting script"] and "token" not in listed[0]
    # a bearer request needs no CSRF token: no browser sends it on its own
    assert client.post("/api/conversations", json={}, headers=program).status_code == 201
    assert client.delete(f"/api/tokens/{created.json()['id']}", headers=program).status_code == 200
    assert client.get("/api/me", headers=program).status_code == 401


def test_someone_elses_token_cannot_be_revoked(client: TestClient) -> None:
    sam = web.sign_in(client, "sam")
    token_id = client.post("/api/tokens", json={"name": "sam's"}, headers=sam).json()["id"]
    client.cookies.clear()
    uma = web.sign_in(client, "uma")
    response = client.delete(f"/api/tokens/{token_id}", headers=uma)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- errors ------------------------------------------------------------------------------------


def test_malformed_json_is_a_json_error_not_a_stack_trace(client: TestClient) -> None:
    response = client.post(
        "/api/session", content=b'{"username": "sam", "password":', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input" and "Traceback" not in response.text


def test_unknown_fields_and_routes_are_refused_clearly(client: TestClient) -> None:
    extra = client.post("/api/session", json={"username": "sam", "password": "x", "admin": True})
    assert extra.status_code == 422 and "admin" in extra.json()["message"]
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    response = client.post("/api/session", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_an_unexpected_failure_answers_500_with_a_reference_only(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    web.sign_in(client, "sam")

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr("assistant.channels.web.routes.chat.list_conversations", broken)
    response = client.get("/api/conversations")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error" and "secret" not in response.text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["conversations"] == "ok"


def test_readiness_fails_when_the_database_cannot_be_reached(demo: Database, tmp_path: Path) -> None:
    svc = web.services(demo, Script([]), tmp_path)
    svc.db = Database.from_url(f"sqlite:///{tmp_path}/no-such-folder/erp.db")
    with web.client(svc) as c:
        ready = c.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and ready.json()["checks"]["database"].startswith("failed")
    assert ready.json()["checks"]["conversations"] == "ok"


def test_the_openapi_schema_types_every_route_and_its_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in [
        "/api/session",
        "/api/me",
        "/api/tokens",
        "/api/conversations",
        "/api/conversations/{conversation_id}/messages",
        "/api/approvals",
        "/api/approvals/bulk",
        "/api/drafts/{number}/approve",
        "/api/exceptions/{number}/resolve",
        "/api/records/{ref}",
        "/readyz",
    ]:
        assert path in paths, path
    for path, operations in paths.items():
        for method, operation in operations.items():
            ok = (
                operation["responses"].get("200")
                or operation["responses"].get("201")
                or operation["responses"].get("204")
            )
            assert ok is not None, (method, path)
            if path.startswith("/api/") and path != "/api/session":
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (method, path)
    stream = paths["/api/conversations/{conversation_id}/messages"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream


def test_the_pages_and_the_widget_are_served_with_a_strict_content_policy(client: TestClient) -> None:
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/demo"
    for page in ("/demo", "/signin", "/inbox", "/exceptions"):
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), page
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
    demo = client.get("/demo").text
    assert demo.count("<script") == 1 and '<script src="/static/widget.js"' in demo
    widget = client.get("/static/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
    api = client.get("/api/me")
    assert api.headers["cache-control"] == "no-store" and "content-security-policy" not in api.headers

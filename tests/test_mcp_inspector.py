"""The ERP over MCP driven by a second, independent client: the MCP Inspector's command line (TypeScript SDK), against
the demo company, over streamable HTTP at /mcp (API tokens; the 2026-07-28 protocol) and over stdio
(`erp-assistant mcp`; the initialize handshake, 2025-11-25).

The Inspector answers no elicitation, so a draft comes back as a preview (`unconfirmed`) and is confirmed with the
`confirm_draft` tool. Each call is one `npx` run of the pinned release that scripts/ensure-inspector puts in npm's
cache; without `npx` these tests fail (CI has Node), they are not skipped.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.channels.mcp.catalog import CONFIRM_TOOL
from assistant.channels.web.app import create_app
from assistant.llm.scripted import Script
from core.db import Database
from core.drafts.models import DraftAction
from core.drafts.service import get_draft
from core.identity import issue_token
from core.masterdata.service import load_actor
from tests import web
from tests.databases import Templates
from tests.web import TRANSFER_OVER_LIMIT, served

ROOT = Path(__file__).resolve().parents[1]
ENSURE = ROOT / "scripts" / "ensure-inspector"
SMALL_TRANSFER = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 2}]}
READ_POLICY = ("--method", "resources/read", "--uri", "erp://policy")
TOOL_IS_ERROR = 5  # the Inspector's exit status when the tool answered with isError


def inspector_package() -> str:
    """The pinned release, from its one home in scripts/ensure-inspector."""
    found = re.search(r"^PACKAGE=(\S+)", ENSURE.read_text(), re.MULTILINE)
    assert found, f"no PACKAGE= line in {ENSURE}"
    return found.group(1)


@pytest.fixture(scope="module")
def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        pytest.fail("npx is missing: install Node.js (20 or later), then run scripts/ensure-inspector")
    return found


@pytest.fixture(scope="module")
def company(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One demo company for the module: every Inspector run is a process, so the tests share it and its server."""
    with templates.clone("sqlite", "demo", tmp_path_factory.mktemp("inspector")) as database:
        yield database


@pytest.fixture(scope="module")
def base_url(company: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(create_app(web.services(company, Script([]), tmp_path_factory.mktemp("inspector-web")))) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(company: Database) -> dict[str, str]:
    def issue(username: str) -> str:
        return company.run(lambda s: issue_token(s, load_actor(s, username=username), name="inspector").token)

    return {username: issue(username) for username in ("sam", "maria")}


def start(npx: str, target: list[str], *request: str) -> "subprocess.Popen[str]":
    """One Inspector run, started: `target` (a URL or a server command and its options), then the request."""
    command = [npx, "--yes", "--prefer-offline", inspector_package(), "--cli", *target, "--format", "json", "--quiet"]
    env = {**os.environ, "npm_config_loglevel": "error"}  # npm's engine warnings (Node 20) are not the result
    return subprocess.Popen([*command, *request], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def result(run: "subprocess.Popen[str]", expect: int = 0) -> dict[str, Any]:
    """The JSON result of a started run, which must exit with `expect`."""
    out, err = run.communicate(timeout=120)
    assert run.returncode == expect, f"exit {run.returncode}: {err or out}"
    return dict(json.loads(out)["result"])


def inspect(npx: str, target: list[str], *request: str, expect: int = 0) -> dict[str, Any]:
    return result(start(npx, target, *request), expect)


def over_http(base_url: str, token: str) -> list[str]:
    """The web service's /mcp with `token`, in the 2026-07-28 protocol (no initialize: server/discover, per-request
    metadata)."""
    auth = f"Authorization: Bearer {token}"
    return [f"{base_url}/mcp", "--transport", "http", "--header", auth, "--protocol-era", "modern"]


def call(tool: str, arguments: dict[str, Any]) -> list[str]:
    return ["--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]


def tool_names(listed: dict[str, Any]) -> set[str]:
    return {tool["name"] for tool in listed["tools"]}


# --- over streamable HTTP ------------------------------------------------------------------------------


def test_each_user_is_listed_their_own_tools(npx: str, base_url: str, tokens: dict[str, str]) -> None:
    runs = [start(npx, over_http(base_url, tokens[name]), "--method", "tools/list") for name in ("sam", "maria")]
    as_sam, as_maria = (result(run) for run in runs)
    assert tool_names(as_sam) != tool_names(as_maria)
    assert {"check_availability", "draft_transfer", CONFIRM_TOOL} <= tool_names(as_sam)
    assert all(tool["outputSchema"]["type"] == "object" for tool in as_sam["tools"])


def test_availability_and_the_policy_come_back_in_the_current_protocol(
    npx: str, base_url: str, tokens: dict[str, str]
) -> None:
    sam = over_http(base_url, tokens["sam"])
    runs = start(npx, sam, *call("check_availability", {"sku": "V-200"})), start(npx, sam, *READ_POLICY)
    available, policy = (result(run) for run in runs)
    assert available["isError"] is False and available["structuredContent"]["sku"] == "V-200"
    assert json.loads(available["content"][0]["text"]) == available["structuredContent"]
    assert available["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "erp-assistant"  # a 2026-07-28 result
    [contents] = policy["contents"]
    assert contents["uri"] == "erp://policy" and "transfer" in contents["text"]


def test_a_transfer_previewed_then_confirmed_executes(
    npx: str, company: Database, base_url: str, tokens: dict[str, str]
) -> None:
    sam = over_http(base_url, tokens["sam"])
    preview = inspect(npx, sam, *call("draft_transfer", SMALL_TRANSFER))["structuredContent"]
    assert preview["status"] == "unconfirmed"  # the Inspector answers no elicitation: nothing has changed yet
    confirmed = inspect(npx, sam, *call(CONFIRM_TOOL, {"draft_number": preview["draft"]}))["structuredContent"]
    assert confirmed["status"] == "executed" and confirmed["result"]
    draft = company.read(lambda s: get_draft(s, load_actor(s, username="sam"), draft_number=preview["draft"]))
    assert isinstance(draft, DraftAction) and draft.channel == "mcp"


def test_a_transfer_over_sams_limit_waits_for_a_manager(npx: str, base_url: str, tokens: dict[str, str]) -> None:
    sam = over_http(base_url, tokens["sam"])
    preview = inspect(npx, sam, *call("draft_transfer", TRANSFER_OVER_LIMIT))["structuredContent"]
    confirmed = inspect(npx, sam, *call(CONFIRM_TOOL, {"draft_number": preview["draft"]}))["structuredContent"]
    assert confirmed["status"] == "pending_approval"
    assert any("manager" in waiting for waiting in confirmed["waiting_for"])


def test_a_uk_warehouse_is_refused_for_sam_without_uk_data(npx: str, base_url: str, tokens: dict[str, str]) -> None:
    sam = over_http(base_url, tokens["sam"])
    refused = inspect(npx, sam, *call("check_availability", {"sku": "V-200", "warehouse": "MAN"}), expect=TOOL_IS_ERROR)
    assert refused["isError"] is True and "structuredContent" not in refused
    text = refused["content"][0]["text"]
    assert json.loads(text)["error"] == "out_of_scope"
    assert "Manchester" not in text and "GBP" not in text


# --- over stdio ------------------------------------------------------------------------------------------


def test_over_stdio_sam_lists_and_drafts_with_a_local_credential(
    npx: str, company: Database, tokens: dict[str, str]
) -> None:
    env = {
        "ERP_DATABASE_URL": str(company.engine.url),
        "ERP_MCP_TOKEN": tokens["sam"],
        "ERP_TODAY": os.environ["ERP_TODAY"],
        "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the environment's install points at
    }
    server = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    sam = [*server, str(Path(sys.executable).parent / "erp-assistant"), "mcp"]  # the initialize handshake (legacy)
    runs = start(npx, sam, "--method", "tools/list"), start(npx, sam, *call("draft_transfer", SMALL_TRANSFER))
    listed, drafted = (result(run) for run in runs)  # two servers at once: each starts in about 3 s
    assert {"draft_transfer", CONFIRM_TOOL} <= tool_names(listed)
    preview = drafted["structuredContent"]
    assert preview["status"] == "unconfirmed" and "V-200" in preview["summary"]

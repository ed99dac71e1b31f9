"""The MCP benchmark: how long a call takes over streamable HTTP at /mcp, as an MCP client sees it.

    nice -n 19 .venv/bin/python -m evals.bench.mcp_bench [--calls 200] [--clients 4] [--backend sqlite|postgresql]

Serves the web service over the demo company (500 items, 3 months of history) under uvicorn on a loopback port,
and drives it with the official SDK's client as sam, with an API token (the 2026-07-28 protocol: one stateless
request per call). It times, per call: `tools/list`; `check_availability` (a read, the rate count and the audit
event included); `draft_transfer` answered yes through elicitation (two requests: the preview, then the
confirmation that executes it); and `check_availability` from several clients at once (throughput). Prints the
figures and writes evals/results/mcp-bench-<backend>.md and .json. The assistant's model plays no part: the
client is the model here.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import mcp_types as mcp
from mcp import Client
from rich.console import Console

from assistant.channels.web.app import create_app
from assistant.conversations import open_checkpointer
from assistant.llm.scripted import Script, scripted_model
from assistant.llm.settings import ModelSettings
from core.identity import issue_token
from core.masterdata.service import load_actor
from evals.common.company import demo_company
from evals.common.results import RESULTS_DIR
from evals.common.served import serving
from evals.common.tables import Grid, machine_facts, to_markdown, to_rich
from evals.common.web import generous_rate_limit
from evals.hardening.access.mcp_channel import mcp_session
from evals.hardening.faults.serving import web_services

SMALL_TRANSFER = {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": [{"sku": "V-200", "quantity": 1}]}


async def _yes(context: Any, params: mcp.ElicitRequestParams) -> mcp.ElicitResult:
    return mcp.ElicitResult(action="accept", content={"confirm": True})


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "calls": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(1000 * ordered[-1], 1),
    }


async def _timed(call: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        began = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - began)
    return seconds


async def _measure(url: str, token: str, calls: int, clients: int) -> dict[str, Any]:
    async with mcp_session(url, token) as plain, _session_with_yes(url, token) as confirming:
        await plain.call_tool("check_availability", {"sku": "V-200"})  # warm: imports, pools, first token check
        listed = await _timed(plain.list_tools, calls)
        reads = await _timed(lambda: plain.call_tool("check_availability", {"sku": "V-200"}), calls)
        drafts = await _timed(lambda: _executed(confirming), max(1, calls // 4))
    began, per_client = time.perf_counter(), calls // clients
    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(_reads_in_own_session, url, token, per_client)
    wall = time.perf_counter() - began
    return {
        "tools/list": _percentiles(listed),
        "check_availability": _percentiles(reads),
        "draft_transfer confirmed (2 requests)": _percentiles(drafts),
        "concurrent": {
            "clients": clients,
            "calls": per_client * clients,
            "calls_per_s": round(per_client * clients / wall, 1),
        },
    }


async def _executed(client: Client) -> None:
    result = await client.call_tool("draft_transfer", SMALL_TRANSFER)
    if (result.structured_content or {}).get("status") != "executed":
        raise RuntimeError(f"the transfer did not execute: {result.content}")


async def _reads_in_own_session(url: str, token: str, calls: int) -> None:
    async with mcp_session(url, token) as client:
        await _timed(lambda: client.call_tool("check_availability", {"sku": "V-200"}), calls)


def _session_with_yes(url: str, token: str) -> Any:
    return mcp_session(url, token, elicitation_callback=_yes)


def run(backend: str, calls: int, clients: int) -> dict[str, Any]:
    with (
        demo_company(backend, items=500, months=3, seed=7, keep=False, pool_size=8) as db,
        tempfile.TemporaryDirectory() as folder,
        generous_rate_limit(),
    ):
        token = db.run(lambda s: issue_token(s, load_actor(s, username="sam"), name="mcp bench").token)
        checkpointer = open_checkpointer("sqlite://", sqlite_path=Path(folder) / "conversations.db")
        services = web_services(db, checkpointer, ModelSettings(model=scripted_model(Script([]))))
        with serving(create_app(services)) as url:
            figures = anyio.run(_measure, url, token, calls, clients)
    return {"backend": backend, "figures": figures, "machine": machine_facts()}


def grids(result: dict[str, Any]) -> list[Grid]:
    figures = result["figures"]
    rows = tuple(
        (str(name), str(f["calls"]), f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}", f"{f['max_ms']:.1f}")
        for name, f in figures.items()
        if "p50_ms" in f
    )
    together = figures["concurrent"]
    return [
        Grid(f"MCP over HTTP, one client, {result['backend']}", ("call", "calls", "p50 ms", "p95 ms", "max ms"), rows),
        Grid(
            "check_availability from several clients at once",
            ("clients", "calls", "calls per second"),
            ((str(together["clients"]), str(together["calls"]), f"{together['calls_per_s']:.1f}"),),
        ),
    ]


def page(result: dict[str, Any]) -> str:
    head = (
        "# MCP benchmark\n\nCommand: `python -m evals.bench.mcp_bench`. Streamable HTTP at /mcp of the web service"
        " (one uvicorn worker) over the demo company, the official SDK's client as sam with an API token, protocol"
        " 2026-07-28 (one stateless request per call). Every call includes the token check, the rate count and"
        f" the audit event.\n\nMachine: {result['machine']}\n"
    )
    return "\n\n".join([head, *(to_markdown(g) for g in grids(result))]) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="calls per measure (drafts: a quarter of them)")
    parser.add_argument("--clients", type=int, default=4, help="clients calling at once in the throughput measure")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args.backend, args.calls, args.clients)
    console = Console()
    for grid in grids(result):
        console.print(to_rich(grid))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"mcp-bench-{args.backend}.md").write_text(page(result), encoding="utf-8")
    (args.results_dir / f"mcp-bench-{args.backend}.json").write_text(
        json.dumps(result, indent=2) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()

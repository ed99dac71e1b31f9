"""The run as tables, a markdown page and files."""

import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from evals.bench.web_load.figures import ANSWER_P95_TARGET_MS, POLL_SECONDS, ConfigResult, Resources, Target, WebLoadRun
from evals.common.company import BUSINESS_DATE
from evals.common.measures import Latency
from evals.common.results import results_page, write_results
from evals.common.scripted_load import SCRIPTED_MODEL
from evals.common.tables import Grid

# --- Report ---------------------------------------------------------------------------------------


def targets_of(configs: Sequence[ConfigResult]) -> list[Target]:
    made = []
    for c in configs:
        p95 = c.answer.p95_ms if c.answer else float("inf")
        made.append(
            Target(
                f"p95 time to final answer, {c.users} users x {c.turns_per_user} turns, {c.label}",
                f"{p95:.0f} ms",
                f"<= {ANSWER_P95_TARGET_MS:.0f} ms",
                p95 <= ANSWER_P95_TARGET_MS,
            )
        )
        made.append(Target(f"errors, {c.label}", str(c.errors), "0", c.errors == 0))
    return made


def ms_cells(s: Latency | None, *parts: str) -> tuple[str, ...]:
    """The named percentiles of `s` in whole milliseconds (a dash each when nothing was timed)."""
    if s is None:
        return tuple("-" for _ in parts)
    return tuple(f"{getattr(s, p + '_ms'):.0f}" for p in parts)


def grids(result: WebLoadRun) -> list[Grid]:
    made = []
    if result.targets:
        made.append(
            Grid(
                "Targets",
                ("target", "measured", "limit", "result"),
                tuple((t.target, t.measured, t.limit, "PASS" if t.passed else "FAIL") for t in result.targets),
            )
        )
    if result.configs:
        made.append(
            Grid(
                "Chat turns, scripted model (ms from sending the message)",
                (
                    "config",
                    "users",
                    "turns",
                    "wall s",
                    "turns/s",
                    "first event p50",
                    "p95",
                    "max",
                    "answer p50",
                    "p95",
                    "max",
                    "queued turns",
                    "errors",
                ),
                tuple(
                    (
                        c.label,
                        str(c.users),
                        f"{c.turns_answered}/{c.turns_sent}",
                        f"{c.seconds:.1f}",
                        f"{c.turns_per_second:.1f}",
                        *ms_cells(c.first_event, "p50", "p95", "max"),
                        *ms_cells(c.answer, "p50", "p95", "max"),
                        f"{c.turns_queued} (max position {c.max_queue_position})",
                        str(c.errors),
                    )
                    for c in result.configs
                ),
            )
        )
        made.append(
            Grid(
                "Confirmations, approvals, sign-in, CPU (% of one core over the load; server: total (per worker);"
                " machine: all cores)",
                (
                    "config",
                    "transfers drafted",
                    "confirmed",
                    "confirm p50",
                    "p95",
                    "approvals",
                    "approvals/s",
                    "approve p50",
                    "p95",
                    "inbox poll p50",
                    "p95",
                    "sign-in p50",
                    "p95",
                    "server CPU",
                    "server CPU ms per turn",
                    "postgres CPU",
                    "bench CPU",
                    "other processes",
                    "machine busy",
                ),
                tuple(
                    (
                        c.label,
                        str(c.transfers_drafted),
                        str(c.confirmations),
                        *ms_cells(c.confirm, "p50", "p95"),
                        ", ".join(f"{n} {k}" for k, n in c.draft_outcomes.items()) or "0",
                        f"{c.approvals_per_second:.2f}",
                        *ms_cells(c.approval, "p50", "p95"),
                        *ms_cells(c.inbox_poll, "p50", "p95"),
                        *ms_cells(c.sign_in, "p50", "p95"),
                        _server_cpu(c.resources),
                        f"{1000 * c.resources.server_cpu_s / max(c.turns_answered, 1):.0f}",
                        f"{c.resources.postgres_percent:.0f}%",
                        f"{c.resources.bench_percent:.0f}%",
                        f"{c.resources.others_percent:.0f}%",
                        f"{c.resources.machine_busy_percent:.0f}%",
                    )
                    for c in result.configs
                ),
            )
        )
        problems = [(c.label, kind, str(n)) for c in result.configs for kind, n in c.error_kinds.items()]
        if problems:
            made.append(Grid("Errors by kind", ("config", "error", "count"), tuple(problems)))
        crashes = [
            (c.label, str(c.worker_restarts), "; ".join(exceptions(c.server_log_problems)) or "-")
            for c in result.configs
            if c.worker_restarts or c.server_log_problems
        ]
        if crashes:
            made.append(
                Grid(
                    "Server log (not counted as errors: no request failed)",
                    ("config", "worker restarts", "exceptions logged"),
                    tuple(crashes),
                )
            )
    if result.local is not None:
        lo = result.local
        made.append(
            Grid(
                f"Local model, {len(lo.users)} users at once, 1 worker, {lo.backend} (s from sending the message)",
                ("user", "question", "queued positions shown", "started", "first token", "answer", "tools", "answer"),
                tuple(
                    (
                        u.account,
                        u.question,
                        ", ".join(map(str, u.queued)) or "none",
                        _s(u.started_s),
                        _s(u.first_token_s),
                        _s(u.answer_s),
                        ", ".join(u.tools),
                        (u.error or u.answer)[:120],
                    )
                    for u in lo.users
                ),
            )
        )
        made.append(
            Grid(
                "Local model summary",
                ("figure", "value"),
                (
                    ("model", lo.model),
                    ("warm-up before the users (model, prompt prefix, one turn)", f"{lo.warm_up_s:.1f} s"),
                    ("time to first token p50 / max", _pair(lo.first_token)),
                    ("time to answer p50 / max", _pair(lo.answer)),
                    ("time queued (to `started`) p50 / max", _pair(lo.queue_wait)),
                    ("the turn itself (`started` to `answer`) p50 / max", _pair(lo.own_turn)),
                    ("server CPU / other processes (% of one core)", _cpu_pair(lo.resources)),
                    ("errors", str(lo.errors)),
                ),
            )
        )
    elif result.local_skipped:
        made.append(Grid("Local model", ("", "value"), (("skipped", result.local_skipped),)))
    m = result.machine
    made.append(
        Grid(
            "Machine",
            ("", "value"),
            (
                *((k, str(m[k])) for k in MACHINE_FACTS if k in m),
                ("run took", f"{result.wall_seconds:.0f} s"),
            ),
        )
    )
    return made


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Violation|Timeout)\b.*")


def exceptions(log: Sequence[str]) -> list[str]:
    """The distinct exception lines ("psycopg.errors.UniqueViolation: ...") of a log excerpt."""
    return list(dict.fromkeys(m.group(0)[:200] for line in log if (m := EXCEPTION_LINE.match(line))))


def _server_cpu(r: Resources) -> str:
    split = " (" + " + ".join(f"{w:.0f}%" for w in r.worker_percent) + ")" if len(r.worker_percent) > 1 else ""
    return f"{r.server_percent:.0f}%{split}"


MACHINE_FACTS = ("date", "cores", "ram_gb", "cpu", "os", "python", "postgresql", "load_average")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cpu_pair(r: Resources) -> str:
    return f"{r.server_percent:.0f}% / {r.others_percent:.0f}%"


def _pair(s: Latency | None) -> str:
    return "-" if s is None else f"{s.p50_ms / 1000:.2f} s / {s.max_ms / 1000:.2f} s"


def method(result: WebLoadRun) -> str:
    s = result.settings
    pacing = (
        "no pause between a user's messages, all users starting together"
        if s.think_ms == (0,)
        else "in sequence with the think time of the configuration between a user's messages (a configuration"
        " with a think time also spreads the users' first messages evenly over one think time; without one"
        " all start together)"
    )
    which = "their only message" if s.turns == 1 else "their second message"
    return "\n".join(
        [
            f"Command: `{s.command}`",
            "",
            "How these figures were taken (every figure is also in web_load-latest.json):",
            "",
            "- Server: `python -m uvicorn assistant.channels.web.app:app_from_env --factory --workers N"
            " --log-level warning` on a free loopback port, in its own process; the demo company (seed 7, 500 items)"
            f" loaded fresh for each configuration into {s.backend}; ERP_TODAY={BUSINESS_DATE}; rate limit raised;"
            " no search index.",
            f"- Model: `{SCRIPTED_MODEL}`: a tool call decided from the user's message, then a fixed"
            " short answer from the tool's result; its replies cost nothing, so the times are the service's own.",
            f"- Load: this process, httpx over loopback. {s.users} users round-robin over the demo's sales and"
            f" warehouse accounts (each with its own session and conversation) send {s.turns} messages each,"
            f" {pacing}; NA users draft a USD ~15k transfer (needs a manager) in"
            f" {which} and confirm its preview (POST /api/drafts/{{number}}/confirm, the draft card's Confirm),"
            " the rest ask for V-200 in their entity's warehouse. Managers maria and grace poll"
            f" /api/approvals (every {POLL_SECONDS} s when idle) and approve every other draft each. Stock for"
            " those transfers is added at DAL first, so every approval can execute.",
            "- Times: from sending the POST to the first complete SSE frame (`first event`: `queued` or"
            " `started`) and to the `answer` frame; confirmations and approvals: the POST /confirm and /approve"
            " round trips. Turns/s counts answered turns over the time to the last user's last answer. Before"
            " timing, untimed warm-up rounds run until every worker answers fast (litellm and the script are"
            " imported on the first turn).",
            "- CPU: from /proc over the load phase, in % of one core; 'server CPU ms per turn' is the server's CPU"
            " time divided by the answered turns (its approvals, inbox polls and stream handling included);"
            " 'other processes' is the rest of the machine's busy time (kernel time for loopback traffic included).",
            "- Local model (`--local-model`): the same server with ERP_ASSISTANT_MODEL unset (the default local"
            " model, one turn at a time), one worker; one untimed turn first waits for the model and its prompt"
            " prefix, then users ask one stock question each, all at once. First token: the first `token` event;"
            " queue positions: every `queued` event a user saw.",
            "- Errors: non-2xx, `error` events, streams without `answer`, a transfer turn without a preview, a"
            " confirmed transfer not pending approval,"
            " an approved draft that did not execute, a draft left unapproved.",
        ]
    )


def markdown_page(result: WebLoadRun) -> str:
    heading = f"# Web service under load, {result.machine.get('date', '')}"
    return results_page(heading, method(result), grids(result))


def save(result: WebLoadRun, out: Path) -> tuple[Path, Path]:
    """Write the run's results under `out`."""
    return write_results(out, "web_load", asdict(result), markdown_page(result))

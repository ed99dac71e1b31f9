"""The runs as tables, a markdown page and files."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.common.results import results_page, write_results
from evals.common.scripted_load import STOCK_SKU
from evals.common.tables import Grid
from evals.hardening.faults.model import DEFAULTS, HANG, ModelFaultResult, attempts
from evals.hardening.faults.restart import RestartResult
from evals.hardening.faults.serving import CHATTERS, PAUSE_S, READERS, REQUEST_LIMIT_S

# --- Report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultsRun:
    machine: dict[str, Any]
    restarts: list[RestartResult]  # one per stop mode
    model_faults: list[ModelFaultResult]
    wall_seconds: float
    command: str


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _kinds(count: int, kinds: dict[str, int]) -> str:
    return f"{count} ({', '.join(f'{n} x {k}' for k, n in kinds.items())})" if count else "0"


def restart_grids(r: RestartResult) -> list[Grid]:
    o = r.outage
    summary = (
        ("cluster stopped with", f"pg_ctl stop -m {r.settings.stop_mode}"),
        ("outage (cluster stopped -> accepting again)", f"{o.up_s - o.down_s:.1f} s"),
        ("pg_ctl stop took / start took (after the pause)", f"{o.stop_took_s:.1f} s / {o.start_took_s:.1f} s"),
        ("requests in the run (all kinds)", str(r.requests)),
        ("requests in flight while the cluster was down", str(r.during_outage)),
        ("... of them failed", str(r.failed_during_outage)),
        ("slowest failed request", f"{r.slowest_failure_s:.2f} s (limit {REQUEST_LIMIT_S:g} s)"),
        ("requests with no answer within the limit (hung)", str(r.hung)),
        ("answers with a stack trace or driver name", str(r.leaked)),
        ("failed requests sent after the cluster was back", _kinds(r.failed_after_restart, r.errors_after_restart)),
        ("last of those ended (s after back up)", _s(r.last_failure_after_up_s)),
        ("every kind succeeded again within (s after back up)", _s(r.recovered_after_s)),
        ("service restarted", "yes" if r.service_restarted else "no (same process, same app and pools)"),
        ("one more message in each chat thread afterwards", f"{r.probes_ok}/{r.probes} answered"),
        ("conversations left claimed", str(r.conversations_left_claimed)),
        ("drafts made / executed in the run", f"{r.drafts_made} / {r.drafts_executed}"),
        ("audit check (stock = ledger, drafts once, chain)", "ok" if r.audit_ok else "; ".join(r.audit_problems)),
    )
    kinds = tuple(
        (
            k.kind,
            str(k.sent),
            str(k.ok),
            str(k.failed_during),
            str(k.failed_after),
            _s(k.first_ok_after_s),
        )
        for k in r.kinds
    )
    errors = tuple((kind, str(n)) for kind, n in r.error_kinds.items()) or (("none", "0"),)
    slowest = tuple((str(n), text) for n, text in enumerate(r.slowest_failures, start=1))
    mode = f"(stop -m {r.settings.stop_mode})"
    return [
        Grid(f"PostgreSQL restarted under load {mode}", ("", "value"), summary),
        Grid(
            f"By request kind {mode}",
            ("kind", "sent", "ok", "failed during outage", "failed after back up", "first ok after back up (s)"),
            kinds,
        ),
        Grid(f"Error answers seen {mode}", ("what the client got", "count"), errors),
        Grid(f"Slowest failed requests {mode}", ("#", "what, how long, when sent"), slowest),
    ]


def model_grid(results: Sequence[ModelFaultResult]) -> Grid:
    rows = tuple(
        (
            r.name,
            " ".join(r.events),
            f"{r.error_code}: {r.error_message}",
            f"{r.seconds_to_error:.2f} (limit {r.limit_s:g})",
            str(r.model_requests),
            f"HTTP {r.next_status}, {'answered' if r.next_ok else 'FAILED'}",
            ", ".join(r.drafts_made) or "none",
            "PASS" if r.passed else "FAIL: " + "; ".join(r.problems),
        )
        for r in results
    )
    headers = ("fault", "events", "error event", "s to error", "model requests", "next message", "drafts", "result")
    return Grid("The model failing after a tool call, before the answer (HTTP chat)", headers, rows)


def grids(run: FaultsRun) -> list[Grid]:
    made = [grid for restart in run.restarts for grid in restart_grids(restart)]
    if run.model_faults:
        made.append(model_grid(run.model_faults))
    facts = tuple((k, str(v)) for k, v in run.machine.items() if k in ("date", "cores", "cpu", "load_average"))
    made.append(Grid("Machine", ("", "value"), (*facts, ("run took", f"{run.wall_seconds:.0f} s"))))
    return made


def method(run: FaultsRun) -> str:
    return "\n".join(
        [
            f"Command: `{run.command}`",
            "",
            "- Restart: `create_app` under uvicorn in this process, on a private PostgreSQL cluster (initdb in a"
            " temporary folder, its own port) holding the demo company (seed 7, 500 items) and the conversations."
            f" {len(READERS)} readers GET /api/records/{STOCK_SKU}, {len(CHATTERS)} users chat (ATP questions; NA"
            " users draft an over-limit transfer every third message) and maria polls the inbox and approves,"
            f" each with {PAUSE_S:g} s between requests and a {REQUEST_LIMIT_S:g} s limit per request. The cluster"
            " is stopped with `pg_ctl stop -m <mode>` (fast, or immediate: a crash), kept down, and started again;"
            " the service is not touched.",
            "- A request counts as during the outage when it was in flight at any moment the cluster was down;"
            " 'after' means sent once it accepted connections again.",
            "- Model faults: the same HTTP chat on a SQLite demo company; the model calls a tool, then fails;"
            " then the same thread gets one more message. A hang is played by a fake OpenAI-compatible server"
            " reached through litellm's `openai/` route, so the timeout is the HTTP client's, as with a hosted model.",
            f"- A model call has `ERP_ASSISTANT_TIMEOUT` in all, retries included: a hanging provider is asked"
            f" {attempts(HANG)} time even with {HANG.retries} retry allowed (the assistant retries, not litellm or"
            " the OpenAI SDK, which asked 2 x retries + 1 times before), and an error answered at once is asked"
            f" again while time is left. With the defaults ({DEFAULTS.timeout_s:g} s, {DEFAULTS.retries} retries) a"
            f" user waits at most {DEFAULTS.timeout_s:g} s for the error.",
        ]
    )


def markdown_page(run: FaultsRun) -> str:
    heading = f"# Hardening: faults, {run.machine.get('date', '')}"
    return results_page(heading, method(run), grids(run))


def save(run: FaultsRun, out: Path) -> tuple[Path, Path]:
    """Write the run's results under `out`."""
    return write_results(out, "hardening-faults", asdict(run), markdown_page(run))

"""Crash hardening: a process killed with SIGKILL while it approves a draft leaves no half-done work.

    python -m evals.hardening.crash [--attempts K] [--backend postgresql|sqlite|both] [--keep]

For each attempt the parent drafts a change that needs a manager (a sales order or a transfer of
the demo company's dearest scarce item) and starts a child process that approves it, so that the
approval executes the draft. The parent kills the child with SIGKILL at a chosen moment:

- `before-commit`: the child announces its commit (a session `before_commit` hook) and waits;
  the parent kills it there, so the draft must still be pending;
- `after-commit`: killed right after the child saw its commit succeed: the draft must be executed;
- `timed`: killed a set delay after the child began approving, the delays spread over the time an
  approval takes, so kills land in every phase (reads, locks, writes, the commit in flight).

After each kill (and, on PostgreSQL, once the server has ended the dead client's session) the
parent checks the draft is executed with its document, stock and audit events, or still pending
with none of them, and that `audit_check.audit_after_run` finds nothing wrong. It then approves a
pending draft itself (nothing left behind may block it) or approves an executed one again (it must
be refused). Writes `evals/results/hardening-crash-latest.md` and `.json`.
"""

import argparse
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from core.actor import Actor, Person
from core.db import Database
from core.drafts import service as drafts
from core.drafts.models import DraftAction, DraftApproval, DraftStatus
from core.errors import ErpError, InvalidState
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import load_actor
from core.settings import database_url
from core.stock.models import StockBalance
from core.stock.service import adjust_stock
from evals.common.audit_check import AuditReport, Watermark, audit_after_run, watermark
from evals.common.company import add_company_options, company_label, demo_company
from evals.common.results import Check, checks_grid, results_page, write_results
from evals.common.scene import ScarceItem, Scene, find_scene
from evals.common.tables import Grid, Machine, machine, to_rich

STEM = "hardening-crash"
# after-commit first: each one times a whole approval in a child, which the timed kills then spread over.
MODES = ("after-commit", "timed", "before-commit", "timed")
KINDS = ("sales_order", "transfer")
BEFORE_COMMIT, COMMITTED, APPROVING = "BEFORE_COMMIT", "COMMITTED", "APPROVING"
HOLD_SECONDS = 30.0  # how long a child waits at its commit to be killed there (it never waits that long)
TIMED_SPAN = 1.1  # timed kills spread over this many times an approval's duration
CHILD_TIMEOUT = 60.0
SESSION_GONE_TIMEOUT = 15.0
ORDER_VALUE = Decimal(6000)  # above a salesperson's USD 5,000, so a manager approves
TRANSFER_VALUE = Decimal(11000)  # above the USD 10,000 a transfer may move without a manager


# --- The child: approve one draft, saying where it is --------------------------------------------


def _say(line: str) -> None:
    print(line, flush=True)


TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", re.IGNORECASE)


def statement_label(statement: str) -> str:
    """Name a statement by its verb and table ("UPDATE stock_balances"): enough to tell where a kill landed."""
    words = statement.split(None, 2)
    table = TABLE.search(statement)
    return f"{words[0].upper()} {table.group(1) if table else (words[1] if len(words) > 1 else '')}".strip()


def child_main(draft: int, approver: str, application: str, hold: float) -> int:
    """Approve `draft` as `approver` in the database of ERP_DATABASE_URL, announcing each stage on stdout."""
    url = database_url()
    options: dict[str, Any] = {"connect_args": {"application_name": application}} if url.startswith("postgres") else {}
    db = Database.from_url(url, **options)
    person = Person(db.read(lambda s: load_actor(s, username=approver)), channel="web")

    def at_commit(session: Session) -> None:
        if not session.in_nested_transaction():  # a savepoint's release is no commit
            _say(BEFORE_COMMIT)
            time.sleep(hold)

    def committed(session: Session) -> None:
        if not session.in_nested_transaction():
            _say(COMMITTED)

    statements = iter(range(1, 1_000_000))

    def step(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        _say(f"SQL {next(statements)} {statement_label(statement)}")

    event.listen(Session, "before_commit", at_commit)
    event.listen(Session, "after_commit", committed)
    event.listen(db.engine, "before_cursor_execute", step)
    _say(APPROVING)
    done = db.run(lambda s: drafts.approve(s, person, draft_number=draft, comment="crash run"))
    _say(f"RESULT {done.status}")
    return 0


# --- The parent: one attempt ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One attempt: how the child was killed, what the draft was afterwards, and what the checks found."""

    attempt: int
    backend: str
    mode: str
    kind: str
    draft: str
    delay_ms: float | None  # timed kills: after the child began approving
    last_stage: str  # the last line the child printed
    approval_ms: float | None  # the child's approval, start to commit, when it committed before the kill
    killed: bool  # False when the child had already exited (it may have printed its result and still be alive)
    state: str  # the draft's status after the kill
    result_ref: str | None
    recovery: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Child:
    """A running child process and the lines it has printed so far."""

    process: subprocess.Popen[str]
    lines: "queue.Queue[tuple[float, str]]"  # (when it was read, the line); "" once the child's output ends
    errors: Any  # the child's stderr, a temporary file
    last: str = "started"
    seen: dict[str, float] = field(default_factory=dict)  # stage -> when its line was read

    def approval_seconds(self) -> float | None:
        """How long the child took from starting its approval to its commit, when it got that far."""
        if APPROVING in self.seen and COMMITTED in self.seen:
            return self.seen[COMMITTED] - self.seen[APPROVING]
        return None

    def _note(self, when: float, line: str) -> str:
        self.last = line
        self.seen.setdefault(line.split(" ")[0], when)
        return line.split(" ")[0]

    def failure(self) -> str | None:
        """Once the child has ended: the last line of its stderr if it failed by itself, else None."""
        with self.errors:
            if self.process.returncode in (0, -signal.SIGKILL):
                return None
            self.errors.seek(0)
            tail = self.errors.read().decode(errors="replace").strip().splitlines()
            return f"the child failed ({self.process.returncode}): {tail[-1] if tail else 'no output'}"

    def wait_for(self, stage: str, timeout: float) -> bool:
        """Read lines until `stage` (True) or the child's end or the timeout (False)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                when, line = self.lines.get(timeout=left)
            except queue.Empty:
                return False
            if line == "":
                return False
            if self._note(when, line) == stage:
                return True
        return False

    def kill(self) -> bool:
        """SIGKILL the child; False when it had already ended."""
        alive = self.process.poll() is None
        if alive:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=CHILD_TIMEOUT)
        self._drain()
        return alive

    def _drain(self) -> None:
        """Lines printed before the kill still count for `last`."""
        while True:
            try:
                when, line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line:
                self._note(when, line)


def start_child(db: Database, draft: int, approver: str, application: str, hold: float) -> Child:
    """Start `python -m evals.hardening.crash --child ...` against the same database."""
    env = {**os.environ, "ERP_DATABASE_URL": db.engine.url.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "evals.hardening.crash", "--child", str(draft), approver, application, str(hold)]
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - it lives as long as the child, closed with it
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put((time.monotonic(), line.strip()))
        lines.put((time.monotonic(), ""))

    threading.Thread(target=read, daemon=True).start()
    return Child(process, lines, errors)


def session_gone(db: Database, application: str) -> bool:
    """Wait until the server has ended the dead child's session (its commit or rollback is then final)."""
    if db.dialect != "postgresql":
        return True
    deadline = time.monotonic() + SESSION_GONE_TIMEOUT
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
    while time.monotonic() < deadline:
        if not db.read(lambda s: s.scalar(query, {"name": application})):
            return True
        time.sleep(0.02)
    return False


@dataclass(frozen=True)
class Cast:
    """Who drafts and who approves in the crash run, and the item every draft is about."""

    scene: Scene
    item: ScarceItem
    actors: dict[str, Actor]


def cast_of(db: Database) -> Cast:
    scene = db.read(find_scene)
    item = scene.items[-1]  # the dearest: a few units need a manager
    names = {scene.seller, scene.clerk, *scene.approvers}
    return Cast(scene, item, db.read(lambda s: {u: load_actor(s, username=u) for u in names}))


def _units(value: Decimal, unit: Decimal) -> int:
    return int(value / max(unit, Decimal("0.01"))) + 1


def draft_payload(cast: Cast, kind: str) -> tuple[str, dict[str, Any], str, int]:
    """(requester, payload, warehouse the stock leaves, units) of a draft that needs a manager's approval."""
    source, target = cast.scene.warehouses
    if kind == "sales_order":
        units = _units(ORDER_VALUE, cast.item.list_price)
        line = {"sku": cast.item.sku, "quantity": units, "warehouse": source}
        return cast.scene.seller, {"customer": cast.scene.customers[0], "lines": [line]}, source, units
    units = _units(TRANSFER_VALUE, cast.item.standard_cost)
    payload = {"from_warehouse": source, "to_warehouse": target, "lines": [{"sku": cast.item.sku, "quantity": units}]}
    return cast.scene.clerk, payload, source, units


def top_up(session: Session, clerk: Actor, sku: str, warehouse: str, units: int) -> None:
    """Make sure `units` are free at the warehouse, so the approval executes rather than fails for stock."""
    key = (
        session.scalars(select(Item.id).where(Item.sku == sku)).one(),
        session.scalars(select(Warehouse.id).where(Warehouse.code == warehouse)).one(),
    )
    balance = session.get(StockBalance, key)
    free = balance.on_hand - balance.reserved - balance.backordered if balance else 0
    if free < units:
        adjust_stock(session, clerk, sku=sku, warehouse=warehouse, quantity=units - free, reason="crash run: stock")


def pending_draft(db: Database, cast: Cast, kind: str, attempt: int) -> tuple[DraftAction, str]:
    """A draft waiting for exactly one more approval, and the approver who can give it (the child's role)."""
    requester, payload, source, units = draft_payload(cast, kind)
    db.run(lambda s: top_up(s, cast.actors[cast.scene.clerk], cast.item.sku, source, units))
    ctx = drafts.RequestContext(
        cast.actors[requester], channel="assistant", conversation_id=f"crash-{os.getpid()}", tool_call_id=str(attempt)
    )
    draft = db.run(lambda s: drafts.draft_action(s, ctx, confirmed=True, kind=kind, payload=payload))
    if draft.status != DraftStatus.PENDING_APPROVAL:
        raise RuntimeError(f"{draft.number} is {draft.status}, not waiting for approval: {draft.explanation}")
    while True:
        able = db.read(lambda s: _able_approvers(s, cast, draft.id))
        if not able:
            raise RuntimeError(f"nobody in {cast.scene.approvers} can approve {draft.number}")
        left = db.read(lambda s: len(drafts.open_requirements(s, s.get_one(DraftAction, draft.id))))
        if left <= 1:
            return draft, able[0]
        first_approval(db, Person(cast.actors[able[-1]], channel="web"), draft.id)


def first_approval(db: Database, person: Person, draft_id: int) -> None:
    """Someone other than the child gives an approval that does not yet complete the draft."""
    db.run(lambda s: drafts.approve(s, person, draft_number=draft_id, comment="crash run: an earlier approval"))


def _able_approvers(session: Session, cast: Cast, draft_id: int) -> list[str]:
    draft = session.get_one(DraftAction, draft_id)
    return [u for u in cast.scene.approvers if drafts.decision_blocker(session, cast.actors[u], draft) is None]


def kill_child(child: Child, mode: str, delay: float) -> tuple[bool, float | None]:
    """Kill the child at the moment `mode` names; (whether it was still alive, the delay used for a timed kill)."""
    if mode == "before-commit":
        child.wait_for(BEFORE_COMMIT, CHILD_TIMEOUT)
        return child.kill(), None
    if mode == "after-commit":
        child.wait_for(COMMITTED, CHILD_TIMEOUT)
        return child.kill(), None
    child.wait_for(APPROVING, CHILD_TIMEOUT)
    time.sleep(delay)
    return child.kill(), delay * 1000


EXPECTED = {
    "before-commit": {DraftStatus.PENDING_APPROVAL.value},
    "after-commit": {DraftStatus.EXECUTED.value},
    "timed": {DraftStatus.PENDING_APPROVAL.value, DraftStatus.EXECUTED.value},
}


def state_problems(session: Session, draft_id: int, mode: str, killed: bool) -> list[str]:
    """The draft's state against what the kill's moment allows; a pending draft must hold no approval."""
    draft = session.get_one(DraftAction, draft_id)
    allowed = EXPECTED[mode] if killed else {DraftStatus.EXECUTED.value}
    problems = (
        [] if draft.status in allowed else [f"{draft.number} is {draft.status}; the kill allows {sorted(allowed)}"]
    )
    if draft.status == DraftStatus.PENDING_APPROVAL:
        held = session.scalar(select(func.count()).select_from(DraftApproval).where(DraftApproval.draft_id == draft_id))
        given = len(draft.requirements) - 1  # the approvals the parent gave before the child's
        if held != given:
            problems.append(f"{draft.number} is pending with {held} approvals stored; {given} were given before")
    return problems


def recover(db: Database, draft_id: int, approver: Actor) -> tuple[str, list[str]]:
    """Act on the draft after the kill: a pending one must still be approvable, an executed one not again."""
    state = db.read(lambda s: s.get_one(DraftAction, draft_id).status)
    person = Person(approver, channel="web")
    try:
        after = db.run(lambda s: drafts.approve(s, person, draft_number=draft_id, comment="after the crash"))
    except InvalidState as error:
        if state == DraftStatus.EXECUTED:
            return "approving again refused", []
        return f"refused: {error.message}", [f"DR-{draft_id} could not be approved after the kill: {error.message}"]
    except ErpError as error:
        return f"refused: {error.message}", [f"DR-{draft_id}: {error.code} after the kill: {error.message}"]
    if state == DraftStatus.EXECUTED:
        return "approved twice", [f"DR-{draft_id} was approved again after it executed"]
    if after.status != DraftStatus.EXECUTED:
        return f"approved afterwards: {after.status}", [f"{after.number} is {after.status} when approved afterwards"]
    return "approved afterwards: executed", []


def one_attempt(db: Database, cast: Cast, attempt: int, mode: str, delay: float) -> Kill:
    """Draft, start the approving child, kill it, wait for the server, check, recover, check again."""
    index = attempt - 1
    kind = KINDS[(index + index // len(MODES)) % len(KINDS)]  # over two rounds of modes, each meets each kind
    draft, approver = pending_draft(db, cast, kind, attempt)
    since = db.read(watermark)
    application = f"erp-crash-{os.getpid()}-{attempt}"
    child = start_child(db, draft.id, approver, application, HOLD_SECONDS if mode == "before-commit" else 0.0)
    killed, delay_ms = kill_child(child, mode, delay)
    problems = [failure] if (failure := child.failure()) else []
    problems += [] if session_gone(db, application) else [f"the server kept {application}'s session"]
    problems += db.read(lambda s: state_problems(s, draft.id, mode, killed))
    problems += _run_problems(db.read(lambda s: audit_after_run(s, _before(since, draft.id))))
    after = db.read(lambda s: s.get_one(DraftAction, draft.id))
    recovery, trouble = recover(db, draft.id, cast.actors[approver])
    problems += trouble + _run_problems(db.read(lambda s: audit_after_run(s, _before(since, draft.id))))
    return Kill(
        attempt=attempt,
        backend=db.dialect,
        mode=mode,
        kind=kind,
        draft=draft.number,
        delay_ms=delay_ms,
        last_stage=child.last,
        approval_ms=None if (took := child.approval_seconds()) is None else took * 1000,
        killed=killed,
        state=after.status,
        result_ref=after.result_ref,
        recovery=recovery,
        problems=tuple(problems),
    )


def _before(since: Watermark, draft_id: int) -> Watermark:
    """The attempt's watermark, moved back so its own draft (created just before) is among those checked."""
    return replace(since, draft_id=min(since.draft_id, draft_id - 1))


def _run_problems(report: AuditReport) -> list[str]:
    return [*report.problems, *([] if report.chain.ok else [f"audit chain broken: {report.chain.reason}"])]


def calibrate(db: Database, cast: Cast) -> float:
    """Seconds one approval that executes takes here, timed in this process, to spread the timed kills over."""
    draft, approver = pending_draft(db, cast, KINDS[0], 0)
    person = Person(cast.actors[approver], channel="web")
    started = time.monotonic()
    done = db.run(lambda s: drafts.approve(s, person, draft_number=draft.id, comment="crash run: calibration"))
    if done.status != DraftStatus.EXECUTED:
        raise RuntimeError(f"the calibration approval left {done.number} {done.status}")
    return time.monotonic() - started


def timed_fraction(attempt: int, attempts: int) -> float:
    """Where in an approval the timed kill of attempt `attempt` (0-based) lands: spread evenly over the run."""
    timed = [k for k in range(attempts) if MODES[k % len(MODES)] == "timed"]
    return TIMED_SPAN * (timed.index(attempt) + 0.5) / len(timed) if attempt in timed else 0.0


# --- A whole run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendRun:
    backend: str
    approval_ms: float
    kills: tuple[Kill, ...]
    audit: AuditReport


@dataclass(frozen=True)
class CrashRun:
    attempts: int
    company: str
    backends: tuple[BackendRun, ...]
    checks: tuple[Check, ...]
    machine: Machine

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def crash_on(db: Database, attempts: int) -> BackendRun:
    """K killed approvals on one prepared company, then the whole-run audit.

    A timed kill's delay is a fraction of an approval's duration as the children show it (their
    imports are done by then, but they are cold and print every statement), measured by the
    after-commit attempts; before the first of those, an approval timed in this process stands in.
    """
    cast = cast_of(db)
    since = db.read(watermark)
    durations = [calibrate(db, cast)]
    kills = []
    for k in range(attempts):
        delay = timed_fraction(k, attempts) * statistics.median(durations[1:] or durations)
        kill = one_attempt(db, cast, k + 1, MODES[k % len(MODES)], delay)
        durations += [kill.approval_ms / 1000] if kill.approval_ms is not None else []
        kills.append(kill)
    approval = statistics.median(durations[1:] or durations)
    return BackendRun(db.dialect, approval * 1000, tuple(kills), db.read(lambda s: audit_after_run(s, since)))


def checks_of(backends: Sequence[BackendRun]) -> tuple[Check, ...]:
    """Every kill left a whole state, and each backend's final audit is clean."""
    checks = []
    for run in backends:
        bad = [k for k in run.kills if not k.ok]
        states = {s: sum(k.state == s for k in run.kills) for s in ("executed", "pending_approval")}
        checks += [
            Check(
                f"{run.backend}: every kill left the draft executed or pending, never half",
                f"{len(run.kills) - len(bad)} of {len(run.kills)} whole"
                + (f"; first: {bad[0].draft}: {bad[0].problems[0]}" if bad else ""),
                not bad,
            ),
            Check(
                f"{run.backend}: kills landed on both sides of the commit",
                f"{states['executed']} executed, {states['pending_approval']} pending after the kill",
                all(states.values()),
            ),
            Check(
                f"{run.backend}: audit after the run (chain, trails, stock, documents)",
                f"{run.audit.chain.events:,} events, {len(run.audit.problems)} problems",
                run.audit.ok,
            ),
        ]
    return tuple(checks)


def kills_grid(run: BackendRun) -> Grid:
    rows = tuple(
        (
            str(k.attempt),
            k.mode,
            k.kind,
            k.draft,
            "" if k.delay_ms is None else f"{k.delay_ms:.0f}",
            k.last_stage,
            "killed" if k.killed else "had finished",
            k.state,
            k.result_ref or "",
            k.recovery,
            "; ".join(k.problems) or "none",
        )
        for k in run.kills
    )
    headers = (
        "#",
        "kill",
        "draft kind",
        "draft",
        "delay ms",
        "last stage",
        "child",
        "after",
        "result",
        "then",
        "problems",
    )
    return Grid(
        f"{run.backend}: kills (a child's approval takes about {run.approval_ms:.0f} ms, start to commit)",
        headers,
        rows,
    )


def grids(run: CrashRun) -> list[Grid]:
    return [checks_grid(run.checks), *(kills_grid(b) for b in run.backends)]


def markdown_page(run: CrashRun) -> str:
    heading = f"# Hardening: crash safety of approvals, {run.machine.date}"
    how = (
        f"`python -m evals.hardening.crash --attempts {run.attempts}` on the {run.company}: a child process"
        " approves a draft that needs a manager and is killed with SIGKILL before its commit, after it, or after"
        " a delay spread over an approval's duration. 'after' is the draft's state once the server has ended the"
        " dead session; 'then' is what approving it afterwards did."
        f" Machine: {run.machine.cores} cores, {run.machine.cpu}, PostgreSQL {run.machine.postgresql},"
        f" SQLite {run.machine.sqlite}."
    )
    return results_page(heading, how, grids(run))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=20, help="killed approvals per backend (default 20)")
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    add_company_options(parser)
    parser.add_argument(
        "--child", nargs=4, metavar=("DRAFT", "APPROVER", "APPLICATION", "HOLD"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        draft, approver, application, hold = args.child
        return child_main(int(draft), approver, application, float(hold))
    console = Console()
    started, backends = datetime.now(), []
    company = {"items": args.demo_items, "months": args.demo_months, "seed": args.seed, "keep": args.keep}
    for backend in ("postgresql", "sqlite") if args.backend == "both" else (args.backend,):
        console.log(f"{backend}: loading the demo company, then {args.attempts} killed approvals")
        with demo_company(backend, **company, pool_size=4) as db:
            backends.append(crash_on(db, args.attempts))
    run = CrashRun(args.attempts, company_label(args), tuple(backends), checks_of(backends), machine())
    for grid in grids(run):
        console.print(to_rich(grid))
    paths = write_results(args.results_dir, STEM, {**asdict(run), "passed": run.passed}, markdown_page(run))
    console.log(f"took {(datetime.now() - started).total_seconds():.0f} s; wrote {', '.join(str(p) for p in paths)}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())

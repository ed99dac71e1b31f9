"""Concurrency hardening: many people selling, moving and approving the same few scarce items at once.

    python -m evals.hardening.concurrency [--seconds S] [--workers N] [--items N] [--keep]

On PostgreSQL, N worker threads (each command in its own unit of work, so its own session and
pooled connection, as API workers would) act as the company's real users for a bounded time: the
salesperson drafts sales orders, the warehouse clerk drafts transfers and ships and receives them,
the buyer drafts purchase orders that the clerk receives, and managers and finance approve what the
policy holds. Every write goes through the drafts service, so the policy gate is in the path.
Afterwards `audit_check.audit_after_run` checks that nothing was oversold, that every draft was
executed at most once with one result document, and that the audit chain verifies; the run also
checks that no deadlock or serialization failure reached a caller and that no worker hung.

Writes `evals/results/hardening-concurrency-latest.md` and `.json`.
"""

import argparse
import functools
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actor import Actor, Person
from core.db import Database, is_retryable
from core.drafts import service as drafts
from core.drafts.models import DraftAction, DraftStatus
from core.errors import ErpError, InsufficientStock
from core.masterdata.models import Item, Warehouse
from core.masterdata.service import load_actor
from core.purchasing.service import receive_purchase_order
from core.stock.models import StockBalance
from core.stock.service import adjust_stock
from core.transfers.models import Transfer, TransferStatus
from core.transfers.service import receive_transfer, ship_transfer
from evals.common.audit_check import AuditReport, Watermark, audit_after_run, watermark
from evals.common.company import add_company_options, company_label, demo_company
from evals.common.measures import Latency, summarize
from evals.common.results import Check, checks_grid, results_page, write_results
from evals.common.scene import ScarceItem, Scene, find_scene
from evals.common.tables import Grid, Machine, latency_cells, machine, to_rich

T = TypeVar("T")

KEPT_DIR = Path("data") / "bench"  # where `--keep` keeps the demo company (shared with the core benchmark)
STEM = "hardening-concurrency"
# How often each worker picks each action; approvals are frequent so that drafts race for approvers.
WEIGHTS = {"sell": 33, "double": 4, "transfer": 20, "approve": 30, "restock": 6, "move": 7}
REPLAY_CHANCE = 0.1  # a request sent again with the same tool call id, as a retrying client would
LARGE_CHANCE = 0.15  # an order or transfer of the whole scarce position: often held for approval
PURCHASE_VALUE = Decimal(8000)  # below the buyer's own limit, so restocking executes at once
HANG_GRACE_SECONDS = 120  # a worker still running this long after the deadline is stuck


# --- The cast and the scarce stock --------------------------------------------------------------


def make_scarce(db: Database, scene: Scene) -> None:
    """Count each scarce position down (or up) to its few free units, through the clerk's stock adjustments."""
    clerk = db.read(lambda s: load_actor(s, username=scene.clerk))
    for item in scene.items:
        for warehouse in scene.warehouses:
            db.run(lambda s, i=item, w=warehouse: _adjust_free_stock(s, clerk, i, w))  # type: ignore[misc]


def _adjust_free_stock(session: Session, clerk: Actor, item: ScarceItem, warehouse: str) -> None:
    key = (
        session.scalars(select(Item.id).where(Item.sku == item.sku)).one(),
        session.scalars(select(Warehouse.id).where(Warehouse.code == warehouse)).one(),
    )
    balance = session.get(StockBalance, key)
    free = balance.on_hand - balance.reserved - balance.backordered if balance else 0
    change = item.units - free
    if change:
        adjust_stock(
            session, clerk, sku=item.sku, warehouse=warehouse, quantity=change, reason="hardening run: scarce stock"
        )


# --- What each attempt came to ------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    action: str
    result: str  # executed | pending | done | replayed | refused | error
    reason: str
    seconds: float
    draft_id: int | None = None
    result_ref: str | None = None
    surfaced_retryable: bool = False


IDS = re.compile(r"\b(DR|SO|TR|PO)-\d+")
NUMBERS = re.compile(r"(?<![\w-])\d[\d,.]*")


def shape(text: str) -> str:
    """A message with its ids and figures blanked, so refusals of one kind count as one reason."""
    if text.startswith("not enough stock"):
        return "not enough stock"
    return NUMBERS.sub("n", IDS.sub(r"\1-n", text))[:110]


def error_text(error: Exception) -> str:
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {shape(lines[0] if lines else '')}"


def draft_outcome(draft: DraftAction) -> tuple[str, str]:
    """(result, reason) of a draft as a caller got it back."""
    if draft.status == DraftStatus.EXECUTED:
        return "executed", ""
    if draft.status == DraftStatus.PENDING_APPROVAL:
        return "pending", ""
    if draft.status == DraftStatus.BLOCKED:
        return "refused", "draft blocked by " + ", ".join(sorted({r["rule_id"] for r in draft.reasons}))
    return "refused", f"draft {draft.status}: {shape(draft.failure_reason or draft.explanation)}"


def second_copy(first: Outcome, second: Outcome) -> Outcome:
    """The later copy of a double submit counts as a replay when it brought back the same draft."""
    if "error" in (first.result, second.result) or first.draft_id is None:
        return second
    if second.draft_id != first.draft_id:
        return replace(second, result="error", reason=f"a double submit made two drafts (DR-{second.draft_id})")
    return replace(second, result="replayed", reason="")


def _done(_result: object) -> tuple[str, str]:
    return "done", ""


class Tally:
    """Every attempt's outcome, gathered from all workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.idle = 0  # an approver with nothing to approve, a clerk with nothing to ship

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def add_idle(self) -> None:
        with self.lock:
            self.idle += 1


@dataclass(frozen=True)
class Request:
    """A draft request as sent, so it can be sent again with the same tool call id."""

    ctx: drafts.RequestContext
    kind: str
    payload: dict[str, Any]
    draft_id: int


# --- One worker -----------------------------------------------------------------------------------


@dataclass
class Worker:
    """One thread's loop: pick an action, run it as the right person in one unit of work, note the outcome."""

    index: int
    db: Database
    scene: Scene
    actors: dict[str, Actor]
    since: Watermark
    tally: Tally
    deadline: float
    rng: random.Random
    calls: int = 0
    sent: list[Request] = field(default_factory=list)

    def run(self) -> None:
        actions, weights = list(WEIGHTS), list(WEIGHTS.values())
        while time.monotonic() < self.deadline:
            action = self.rng.choices(actions, weights)[0]
            try:
                getattr(self, action)()
            except Exception as error:  # a look outside `attempt` (an inbox, the open transfers) failed
                self.tally.add(Outcome(action, "error", error_text(error), 0.0, surfaced_retryable=is_retryable(error)))

    def attempt(self, action: str, command: Callable[[Session], T], judge: Callable[[T], tuple[str, str]]) -> Outcome:
        """Run one command and count its outcome."""
        outcome = self.run_one(action, command, judge)
        self.tally.add(outcome)
        return outcome

    def run_one(self, action: str, command: Callable[[Session], T], judge: Callable[[T], tuple[str, str]]) -> Outcome:
        """Run one command with the core's retry; a refusal is an outcome, anything else an error."""
        started = time.perf_counter()
        draft_id, ref, surfaced = None, None, False
        try:
            value = self.db.run(command)
            result, reason = judge(value)
            if isinstance(value, DraftAction):
                draft_id, ref = value.id, value.result_ref
        except ErpError as error:
            result, reason = "refused", f"{error.code}: {shape(error.message)}"
            if isinstance(error, InsufficientStock):
                reason = f"{error.code}: not enough stock"
        except Exception as error:  # anything but a refusal is a failure of the core under load
            surfaced = is_retryable(error)
            result, reason = "error", error_text(error)
        return Outcome(action, result, reason, time.perf_counter() - started, draft_id, ref, surfaced)

    def context(self, username: str) -> drafts.RequestContext:
        """A new tool call of this worker's conversation, as the person's assistant would make it."""
        self.calls += 1
        return drafts.RequestContext(
            self.actors[username],
            channel="assistant",
            conversation_id=f"hardening-{self.index}",
            tool_call_id=str(self.calls),
        )

    def draft(self, action: str, username: str, kind: str, payload: dict[str, Any]) -> Outcome:
        """Send a draft request as a person's assistant would, with a new tool call id."""
        ctx = self.context(username)
        outcome = self.attempt(
            action, lambda s: drafts.draft_action(s, ctx, confirmed=True, kind=kind, payload=payload), draft_outcome
        )
        if outcome.draft_id is not None:
            self.sent.append(Request(ctx, kind, payload, outcome.draft_id))
        return outcome

    def replay(self) -> None:
        """Send an earlier request again: it must come back as the same draft, never a second execution."""
        request = self.rng.choice(self.sent)

        def judge(draft: DraftAction) -> tuple[str, str]:
            if draft.id != request.draft_id:
                return "error", f"a replayed request made a new draft ({draft.number})"
            return "replayed", ""

        self.attempt(
            "replay",
            lambda s: drafts.draft_action(s, request.ctx, confirmed=True, kind=request.kind, payload=request.payload),
            judge,
        )

    def _item_and_quantity(self, divisor: int) -> tuple[ScarceItem, int]:
        item = self.rng.choice(self.scene.items)
        if self.rng.random() < LARGE_CHANCE:
            return item, item.units
        return item, self.rng.randint(1, max(1, item.units // divisor))

    def sale(self) -> dict[str, Any]:
        item, quantity = self._item_and_quantity(6)
        line = {"sku": item.sku, "quantity": quantity, "warehouse": self.rng.choice(self.scene.warehouses)}
        return {"customer": self.rng.choice(self.scene.customers), "lines": [line]}

    def sell(self) -> None:
        if self.sent and self.rng.random() < REPLAY_CHANCE:
            self.replay()
            return
        self.draft("sell", self.scene.seller, "sales_order", self.sale())

    def double(self) -> None:
        """One sale sent twice at the same instant (a double click, a retry while the first is running): one draft."""
        ctx, payload = self.context(self.scene.seller), self.sale()
        start, copies = threading.Barrier(2), list[Outcome]()

        def send() -> None:
            start.wait()
            command = functools.partial(
                drafts.draft_action, ctx=ctx, confirmed=True, kind="sales_order", payload=payload
            )
            copies.append(self.run_one("double", command, draft_outcome))

        helper = threading.Thread(target=send, name=f"hardening-{self.index}-double")
        helper.start()
        send()
        helper.join()
        self.tally.add(copies[0])
        self.tally.add(second_copy(copies[0], copies[1]))

    def transfer(self) -> None:
        item, quantity = self._item_and_quantity(4)
        source, target = self.rng.sample(self.scene.warehouses, 2)
        payload = {"from_warehouse": source, "to_warehouse": target, "lines": [{"sku": item.sku, "quantity": quantity}]}
        self.draft("transfer", self.scene.clerk, "transfer", payload)

    def approve(self) -> None:
        """An approver opens their inbox and approves one of the oldest drafts (where the others are looking too)."""
        approver = self.actors[self.rng.choice(self.scene.approvers)]
        waiting = self.db.read(lambda s: [d.id for d in drafts.pending_for(s, approver) if d.id > self.since.draft_id])
        if not waiting:
            self.tally.add_idle()
            time.sleep(0.01)
            return
        number = self.rng.choice(waiting[:3])
        person = Person(approver, channel="web")
        self.attempt(
            "approve", lambda s: drafts.approve(s, person, draft_number=number, comment="hardening run"), draft_outcome
        )

    def restock(self) -> None:
        """The buyer orders a scarce item; when the order goes through, the clerk receives it at once."""
        item = self.rng.choice(self.scene.items)
        quantity = max(1, min(item.units, int(PURCHASE_VALUE / max(item.standard_cost, Decimal(1)))))
        payload = {
            "supplier": self.scene.supplier,
            "warehouse": self.rng.choice(self.scene.warehouses),
            "lines": [{"sku": item.sku, "quantity": quantity}],
        }
        ordered = self.draft("restock", self.scene.buyer, "purchase_order", payload)
        if ordered.result == "executed" and ordered.result_ref:
            clerk, number = self.actors[self.scene.clerk], ordered.result_ref
            self.attempt("receive", lambda s: receive_purchase_order(s, clerk, po_number=number), _done)

    def move(self) -> None:
        """The clerk ships one of the run's open transfers and receives it at the other end."""
        open_ids = self.db.read(
            lambda s: list(
                s.scalars(
                    select(Transfer.id).where(
                        Transfer.id > self.since.transfer_id, Transfer.status == TransferStatus.OPEN
                    )
                )
            )
        )
        if not open_ids:
            self.tally.add_idle()
            return
        clerk, number = self.actors[self.scene.clerk], self.rng.choice(open_ids)
        if self.attempt("ship", lambda s: ship_transfer(s, clerk, transfer_number=number), _done).result == "done":
            self.attempt("receive", lambda s: receive_transfer(s, clerk, transfer_number=number), _done)


def hammer(
    db: Database, scene: Scene, *, workers: int, seconds: float, seed: int, since: Watermark
) -> tuple[Tally, float, int, int]:
    """Run the workers until the deadline; returns the tally, the wall time, the core's retries and hung workers."""
    actors = db.read(
        lambda s: {u: load_actor(s, username=u) for u in {scene.seller, scene.clerk, scene.buyer, *scene.approvers}}
    )
    tally, retries_before = Tally(), db.retries
    started = time.monotonic()
    team = [
        Worker(n, db, scene, actors, since, tally, started + seconds, random.Random(f"{seed}:{n}"))
        for n in range(workers)
    ]
    threads = [threading.Thread(target=w.run, name=f"hardening-{w.index}", daemon=True) for w in team]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, started + seconds + HANG_GRACE_SECONDS - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    return tally, time.monotonic() - started, db.retries - retries_before, hung


# --- Figures and checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    seconds: float
    workers: int
    items: int  # scarce items
    seed: int
    company: str  # which company the run acted in, for the report


@dataclass(frozen=True)
class ActionFigures:
    action: str
    attempts: int
    executed: int
    pending: int
    done: int
    refused: int
    errors: int
    latency: Latency | None


@dataclass(frozen=True)
class ConcurrencyRun:
    settings: Settings
    scene: Scene
    wall_seconds: float
    attempts: int
    executed: int
    pending: int
    done: int
    replayed: int
    refused: int
    errors: int
    retried: int
    surfaced_retryable: int
    idle: int
    hung: int
    actions: tuple[ActionFigures, ...]
    refusals: tuple[tuple[str, int], ...]
    error_texts: tuple[tuple[str, int], ...]
    checks: tuple[Check, ...]
    audit: AuditReport
    machine: Machine

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def action_figures(outcomes: Sequence[Outcome]) -> tuple[ActionFigures, ...]:
    """Per action: how the attempts came out and how long they took (retries included)."""
    figures = []
    for action in dict.fromkeys(o.action for o in outcomes):
        mine = [o for o in outcomes if o.action == action]
        count = Counter(o.result for o in mine)
        figures.append(
            ActionFigures(
                action=action,
                attempts=len(mine),
                executed=count["executed"],
                pending=count["pending"],
                done=count["done"] + count["replayed"],
                refused=count["refused"],
                errors=count["error"],
                latency=summarize([o.seconds for o in mine]),
            )
        )
    return tuple(figures)


def callers_view_problems(session: Session, outcomes: Sequence[Outcome]) -> list[str]:
    """Drafts a caller was told were executed must be executed in the database, with the same document."""
    told = {o.draft_id: o.result_ref for o in outcomes if o.result == "executed" and o.draft_id is not None}
    stored = {
        d.id: (d.status, d.result_ref)
        for d in session.scalars(select(DraftAction).where(DraftAction.id.in_(list(told))))
    }
    return [
        f"DR-{i} was reported executed as {ref}, the database has {stored.get(i)}"
        for i, ref in told.items()
        if stored.get(i) != (DraftStatus.EXECUTED.value, ref)
    ]


def checks_of(tally: Tally, hung: int, audit: AuditReport, told: list[str]) -> tuple[Check, ...]:
    """The run's verdicts; every one must pass."""
    outcomes = tally.outcomes
    errors = [o for o in outcomes if o.result == "error"]
    results = Counter(o.result for o in outcomes)
    stock, records = list(audit.stock_problems), list(audit.record_problems)
    return (
        Check("no error reached a caller", f"{len(errors)} errors", not errors),
        Check(
            "no deadlock or serialization failure reached a caller",
            f"{sum(o.surfaced_retryable for o in outcomes)} surfaced",
            not any(o.surfaced_retryable for o in outcomes),
        ),
        Check("no worker hung", f"{hung} hung", hung == 0),
        Check("no oversell: balances equal the ledger and claims", _first(stock, audit.stock_positions), not stock),
        Check(
            "every draft executed at most once, one document each, full audit trail",
            _first(records, audit.drafts),
            not records,
        ),
        Check("what callers were told matches the database", _first(told, len(outcomes)), not told),
        Check(
            "audit hash chain verifies",
            f"{audit.chain.events:,} events" + (f"; {audit.chain.reason}" if audit.chain.reason else ""),
            audit.chain.ok,
        ),
        Check(
            "the run raced: drafts executed and refused",
            f"{results['executed']} executed, {results['refused']} refused",
            results["executed"] > 0 and results["refused"] > 0,
        ),
    )


def _first(problems: list[str], looked_at: int) -> str:
    if not problems:
        return f"0 problems in {looked_at:,} checked"
    return f"{len(problems)} problems, first: {problems[0]}"


def _grouped(texts: list[str]) -> tuple[tuple[str, int], ...]:
    return tuple(Counter(texts).most_common())


def summarize_run(
    settings: Settings,
    scene: Scene,
    tally: Tally,
    wall: float,
    retried: int,
    hung: int,
    audit: AuditReport,
    told: list[str],
) -> ConcurrencyRun:
    """The run's figures and verdicts as one record."""
    outcomes = tally.outcomes
    count = Counter(o.result for o in outcomes)
    return ConcurrencyRun(
        settings=settings,
        scene=scene,
        wall_seconds=wall,
        attempts=len(outcomes),
        executed=count["executed"],
        pending=count["pending"],
        done=count["done"],
        replayed=count["replayed"],
        refused=count["refused"],
        errors=count["error"],
        retried=retried,
        surfaced_retryable=sum(o.surfaced_retryable for o in outcomes),
        idle=tally.idle,
        hung=hung,
        actions=action_figures(outcomes),
        refusals=_grouped([f"{o.action}: {o.reason}" for o in outcomes if o.result == "refused"]),
        error_texts=_grouped([f"{o.action}: {o.reason}" for o in outcomes if o.result == "error"]),
        checks=checks_of(tally, hung, audit, told),
        audit=audit,
        machine=machine(),
    )


def run_on(db: Database, settings: Settings) -> ConcurrencyRun:
    """The whole run on a prepared company: choose the cast, make stock scarce, hammer, then check."""
    scene = db.read(lambda s: find_scene(s, items=settings.items))
    make_scarce(db, scene)
    since = db.read(watermark)
    tally, wall, retried, hung = hammer(
        db, scene, workers=settings.workers, seconds=settings.seconds, seed=settings.seed, since=since
    )
    audit = db.read(lambda s: audit_after_run(s, since))
    told = db.read(lambda s: callers_view_problems(s, tally.outcomes))
    return summarize_run(settings, scene, tally, wall, retried, hung, audit, told)


# --- Tables, files and the command line ------------------------------------------------------------


def grids(run: ConcurrencyRun) -> list[Grid]:
    """The run as tables, for the terminal and the markdown page alike."""
    totals = (
        ("attempts", f"{run.attempts:,}"),
        ("executed", f"{run.executed:,}"),
        ("held for approval", f"{run.pending:,}"),
        ("done (ship / receive)", f"{run.done:,}"),
        ("replayed, same draft back", f"{run.replayed:,}"),
        ("refused", f"{run.refused:,}"),
        ("retried by the core", f"{run.retried:,}"),
        ("errors", f"{run.errors:,}"),
        ("idle looks (nothing to approve or ship)", f"{run.idle:,}"),
        ("wall time", f"{run.wall_seconds:.1f} s"),
    )
    actions = tuple(
        (a.action, *(str(n) for n in (a.attempts, a.executed, a.pending, a.done, a.refused, a.errors)), *latency[:2])
        for a in run.actions
        for latency in [latency_cells(a.latency)]
    )
    s, m = run.scene, run.machine
    scene = (
        (
            "workers / seconds / seed",
            f"{run.settings.workers} threads / {run.settings.seconds:g} s / {run.settings.seed}",
        ),
        ("company", run.settings.company),
        ("scarce items (free units per warehouse)", ", ".join(f"{i.sku} ({i.units})" for i in s.items)),
        ("warehouses", " and ".join(s.warehouses)),
        ("people", f"sells {s.seller}; moves {s.clerk}; buys {s.buyer}; approve {', '.join(s.approvers)}"),
        ("customers", ", ".join(s.customers)),
        ("machine", f"{m.cores} cores, {m.cpu}; PostgreSQL {m.postgresql}; load {m.load_average}"),
    )
    return [
        checks_grid(run.checks),
        Grid("Totals", ("", "count"), totals),
        Grid(
            "By action",
            ("action", "attempts", "executed", "held", "done / same draft", "refused", "errors", "p50 ms", "p95 ms"),
            actions,
        ),
        Grid("Refusals, grouped by reason", ("reason", "count"), tuple((r, str(n)) for r, n in run.refusals)),
        Grid("Errors", ("error", "count"), tuple((r, str(n)) for r, n in run.error_texts) or (("none", "0"),)),
        Grid("Run", ("", "value"), scene),
    ]


def markdown_page(run: ConcurrencyRun) -> str:
    heading = f"# Hardening: concurrency on PostgreSQL, {run.machine.date}"
    how = (
        "`python -m evals.hardening.concurrency`: worker threads, each command in its own unit of work, act as the"
        " demo company's people on a few scarce items through the drafts service (the policy gate), then the"
        " database is checked (`evals/common/audit_check.py`). Every figure is in the JSON file next to this one."
    )
    return results_page(heading, how, grids(run))


def save(run: ConcurrencyRun, folder: Path) -> tuple[Path, Path]:
    """Write the run's results under `folder`."""
    return write_results(folder, STEM, {**asdict(run), "passed": run.passed}, markdown_page(run))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.hardening.concurrency", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the workers hammer (default 60)")
    parser.add_argument("--workers", type=int, default=16, help="worker threads (default 16)")
    parser.add_argument("--items", type=int, default=3, help="scarce items (default 3)")
    add_company_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(args.seconds, args.workers, args.items, args.seed, company_label(args))
    console = Console()
    console.log(f"loading the demo company on PostgreSQL; then {settings.workers} workers for {settings.seconds:g} s")
    started = datetime.now()
    company = {"items": args.demo_items, "months": args.demo_months, "seed": args.seed, "keep": args.keep}
    # Two connections a worker: a double submit sends its second copy from a helper thread.
    with demo_company("postgresql", **company, pool_size=2 * settings.workers) as db:
        run = run_on(db, settings)
    for grid in grids(run):
        console.print(to_rich(grid))
    paths = save(run, args.results_dir)
    console.log(f"took {(datetime.now() - started).total_seconds():.0f} s; wrote {', '.join(str(p) for p in paths)}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())
